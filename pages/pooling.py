"""Pooling, one output cell at a time: max or average over each window, and why it shrugs off small changes.

The step-through is one animated figure the browser steps and plays (ui/step_through.py): no server request.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ui import step_through
from ui.frame import ensure_app_frame
from ui.kept import kept, kept_index
from ui.shared_figures import shared_figures
from vision_core.data import images
from vision_core.figures import convolution as figs
from vision_core.figures import step_through as step_figs
from vision_core.lessons import pooling

ensure_app_frame()  # a cold server's first request goes through app.py

st.title("🔳 Pooling, step by step")
st.caption("Pooling slides a window over each channel on its own and keeps one number per window: the largest "
           "(max pooling) or the mean (average pooling). No weights are learned. It shrinks the map and makes it "
           "less sensitive to small shifts and noise.")

EXAMPLE, NUMBERS, PHOTO, DATASET = "Small example", "Your numbers", "Sample photo", "Dataset image"
MAX, AVG = "Max", "Average"


for key, value in {"pool_source": EXAMPLE, "pool_kind": MAX, "pool_kernel": 2, "pool_stride_same": True,
                   "pool_stride": 2, "pool_padding": 0}.items():
    st.session_state.setdefault(key, value)


@st.cache_resource(max_entries=2, show_spinner="Loading the dataset…")
def load_dataset(name: str):
    from vision_core.data import datasets

    return datasets.load(name)


# ---- input and settings --------------------------------------------------------------------------

left, right = st.columns(2)
with left:
    st.subheader("Input")
    sources = [EXAMPLE, NUMBERS, PHOTO, DATASET]
    source = st.radio("Input", sources, kept_index(sources, "pool_source"), key="pool_source", horizontal=True,
                      label_visibility="collapsed")
    if source == EXAMPLE:
        x = pooling.EXAMPLE_INPUT[None]
    elif source == NUMBERS:
        c1, c2 = st.columns(2)
        rows = c1.number_input("Rows", 2, 12, 6, key="pool_rows")
        cols = c2.number_input("Columns", 2, 12, 6, key="pool_cols")
        start = np.random.default_rng(3).integers(0, 10, (rows, cols)).astype(np.float64)
        frame = st.data_editor(pd.DataFrame(start, columns=[str(c) for c in range(cols)]), hide_index=True,
                               key=f"pool_matrix_{rows}x{cols}")
        x = np.nan_to_num(frame.to_numpy(dtype=np.float64))[None]
    elif source == PHOTO:
        photos = images.sample_photos()
        c1, c2 = st.columns(2)
        name = c1.selectbox("Photo", sorted(photos), key="pool_photo")
        side = c2.slider("Size (px, longest side)", 8, 64, 16, 4, key="pool_photo_side")
        x = images.to_channels_first(images.resize_for_display(images.to_grayscale(photos[name]), side))
    else:
        c1, c2 = st.columns(2)
        dataset_name = c1.selectbox("Dataset", ["digits", "shapes"], key="pool_dataset")
        data = load_dataset(dataset_name)
        index = c2.number_input("Test image", 0, len(data.test) - 1, 0, key="pool_image_index")
        image, label = data.test[int(index)]
        x = image.double().numpy()
        st.caption(f"{dataset_name} test image {index}: a **{data.classes[label]}**, {x.shape[0]} channel(s).")

with right:
    st.subheader("Settings")
    kind_label = st.radio("Pooling", [MAX, AVG], kept_index([MAX, AVG], "pool_kind"), key="pool_kind", horizontal=True)
    kind = "max" if kind_label == MAX else "avg"
    c1, c2, c3 = st.columns(3)
    kernel = int(c1.number_input("Kernel size", 1, 8, kept("pool_kernel"), key="pool_kernel"))
    # The checkbox gets the settings column's whole width (in a third of it its label was cut to "Stride = kerne…");
    # drawn below the row, read before the stride box so that box can show the kernel size, greyed out.
    same = st.checkbox("Stride = kernel size (windows side by side)", kept("pool_stride_same"), key="pool_stride_same",
                       help="The usual choice: windows side by side, never overlapping. Untick to choose the stride.")
    if same:
        st.session_state.pool_stride = kernel
    stride = int(c2.number_input("Stride", 1, 8, kept("pool_stride"), key="pool_stride", disabled=same))
    padding = int(c3.number_input("Padding", 0, 4, kept("pool_padding"), key="pool_padding",
                                  help="Max pooling pads with −∞ (never wins); average pooling pads with zeros "
                                       "and still divides by the whole window, as PyTorch does by default."))

try:
    steps = step_through.pooling_steps(x, kind, kernel, stride, padding)
except ValueError as exc:
    st.error(f"These settings are impossible: {exc}")
    st.stop()

overlap = "overlapping windows (stride < kernel: cells are shared)" if steps.overlapping else \
    "non-overlapping windows" if stride == kernel else "windows with gaps (stride > kernel: some cells are skipped)"
st.markdown(f"**{kind_label} pooling**, {kernel}×{kernel} window, stride {stride}, padding {padding}: {overlap}. "
            f"Output {steps.map_shape[0]}×{steps.map_shape[1]} per channel, from "
            f"{steps.input_shape[0]}×{steps.input_shape[1]}.")

# ---- step through: one figure the browser steps and plays (ui/step_through.py) ------------------------

channel = 0
if steps.channels > 1:
    channel = st.selectbox("Channel", range(steps.channels), key="pool_channel")
block = step_figs.frame_block(steps.cells_per_map, 0, step_figs.MAX_FRAMES, steps.map_shape[1])
figure = step_through.pooling_figure(step_through.settings_key(x=x, kind=kind, kernel=kernel, stride=stride,
                                                               padding=padding), steps, channel, block.start,
                                     block.stop)
step_through.show(figure, "pool_anim")
st.caption("▶ Play, or step with Previous / Next and the slider (in your browser: instant)."
           + (f" The figure holds the first {len(block)} of {steps.cells_per_map} cells." if len(block) <
              steps.cells_per_map else ""))

# ---- the figures below, built once per numbers for every student (Plotly validates each property: ~50 ms a page
# view for these four small grids, on every rerun); ``key`` names the unhashed arguments ----------------------


@shared_figures(max_entries=32)
def bar_figure(key: str, _means):
    return figs.bar_figure(_means, [f"channel {c}" for c in range(len(_means))], "Mean of each channel")


@shared_figures(max_entries=64)
def invariance_figures(key: str, _shown):
    return (figs.changed_figure(_shown["changed_input"], _shown["input_changed"], "Changed input (red: changed pixels)"),
            figs.grid_figure(_shown["before"], "Pooled before"),
            figs.changed_figure(_shown["after"], _shown["changed"], "Pooled after (red: changed)"))


# ---- global average pooling ----------------------------------------------------------------------

st.subheader("Global average pooling")
means = pooling.global_average_pool(x)
st.caption("The whole map in one window: one number per channel. CNNs use it before the classifier so that the "
           "number of weights after it no longer depends on the input size — but only pooling that always covers the "
           "whole map does that: `nn.AdaptiveAvgPool2d(1)` on a map of any size. A fixed `AvgPool2d(8)` is global "
           "only on an 8×8 map; on a larger one it leaves several numbers per channel.")
st.plotly_chart(bar_figure(step_through.settings_key(means=means), means), key="pool_fig_gap")

# ---- invariance ----------------------------------------------------------------------------------

st.subheader("Small changes, same pooled output?")
DOTS, ABOVE = "Bright dots, one per window", "The input above"
c1, c2 = st.columns(2)
demo = c1.radio("Picture", [DOTS, ABOVE], key="pool_inv_source", horizontal=True,
                help="Bright dots: a dim picture with one bright dot at the corner of every window, so a one-pixel "
                     "shift keeps each dot inside its window. The input above: whatever you chose at the top.")
change = c2.radio("Change it", ["Shift right by 1 pixel", "Shift down by 1 pixel", "Nudge a few pixels"],
                  key="pool_change", horizontal=True)
try:
    demo_x = pooling.dots_example(x.shape[-2:], kernel, stride, padding)[None] if demo == DOTS else x
except ValueError as exc:  # the settings above were checked on this same size: kept for safety
    st.error(f"These settings are impossible: {exc}")
    st.stop()
demo_channel = channel if demo == ABOVE else 0
if change.startswith("Nudge"):
    c1, c2 = st.columns(2)
    amount = c1.slider("By up to ± (share of the value range)", 0.0, 0.5, 0.1, 0.05, key="pool_noise_amount")
    fraction = c2.slider("Share of pixels", 0.0, 1.0, 0.2, 0.05, key="pool_noise_fraction")
    changed_x = pooling.add_noise(demo_x, amount * (float(demo_x.max() - demo_x.min()) or 1.0), fraction, seed=0)
else:
    changed_x = pooling.shift(demo_x, *((0, 1) if "right" in change else (1, 0)))
result = pooling.invariance(demo_x, changed_x, kind, kernel, stride, padding)
before, after = (v[demo_channel] for v in (result.before, result.after))
m1, m2 = st.columns(2)
m1.metric("Input pixels changed", f"{result.input_changed.sum()} of {result.input_changed.size}",
          f"{result.input_fraction_changed:.0%}", delta_color="off")
m2.metric("Pooled cells changed", f"{result.changed.sum()} of {result.changed.size}",
          f"{result.fraction_changed:.0%}", delta_color="off")
shown = {"changed_input": result.after_input[demo_channel], "input_changed": result.input_changed[demo_channel],
         "before": before, "after": after, "changed": result.changed[demo_channel]}
for col, figure, key in zip(st.columns(3), invariance_figures(step_through.settings_key(**shown), shown),
                            ("pool_fig_inv_in", "pool_fig_inv_before", "pool_fig_inv_after")):
    col.plotly_chart(figure, key=key)
if not result.changed.any():
    st.success(f"**Same pooled output**, although {result.input_changed.sum()} input pixels changed: every window "
               "kept its " + ("maximum." if kind == "max" else "values, only moved around inside it."))
if kind == "max":
    st.caption("Max pooling only changes where the winner of a window changed: a change that does not touch a "
               "window's maximum, or a shift that keeps the maximum inside the same window, leaves it as it was. "
               "A maximum that slides into the next window (try the input above) changes only the cells of the windows it "
               "left or entered: at most two when the windows do not overlap (stride = kernel size).")
else:
    st.caption("Average pooling spreads a change over the window: the output moves, but by less than the input.")
