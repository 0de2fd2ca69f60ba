"""Convolution, one output cell at a time: the window, the products, the sum + bias, the output filling in.

The controls live in ui/conv_controls.py; the step-through is one animated figure the browser steps and plays
(ui/step_through.py), so Next, Previous, Play and the slider cost the server nothing.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui import conv_controls as controls
from ui import step_through, transposed_view
from ui.frame import ensure_app_frame
from vision_core.figures import convolution as figs
from vision_core.figures import step_through as step_figs
from vision_core.lessons import convolution

ensure_app_frame()  # a cold server's first request goes through app.py

st.title("🔲 Convolution, step by step")
st.caption("Every output cell is one dot product: lay the kernel over a window of the (zero-padded) input, multiply "
           "cell by cell, add everything up over all input channels, add the bias. Step through it, change the "
           "settings, and compare cross-correlation (what PyTorch's `conv2d` computes) with true convolution "
           "(the textbook's, kernel flipped).")
fmt = figs.format_number
controls.set_defaults()

mode = st.radio("Show", ["Convolution", "Transposed convolution"], key="conv_mode", horizontal=True)
if mode == "Transposed convolution":
    transposed_view.show()
    st.stop()

given = controls.inputs()
settings, side_by_side = controls.settings(given)
try:
    steps = step_through.convolution_steps(**settings)
except ValueError as exc:
    st.error(f"These settings are impossible: {exc}")
    st.stop()

axes = ["length"] if given.one_d else ["height", "width"]
formulas = [f"{axis}: {convolution.output_size_formula(n, k, s, p, d)}" for axis, n, k, s, p, d in
            zip(axes, steps.input_shape, steps.kernel.shape[2:], steps.stride, steps.padding, steps.dilation)]
st.markdown("**Output size** ⌊(n + 2p − d·(k−1) − 1)/s⌋ + 1 — " + " · ".join(f"`{f}`" for f in formulas))

# ---- step through --------------------------------------------------------------------------------

out_channel = 0
if steps.out_channels > 1:
    out_channel = st.selectbox("Output map", range(steps.out_channels), key="conv_out_channel",
                               format_func=lambda o: f"map {o}" + (f" ({given.map_names[o]})" if given.map_names
                                                                   else ""))


def on_click(trace: str, cell: tuple[int, int]) -> None:
    """An output cell: the step-through jumps there. An input cell: it is picked (every output it feeds)."""
    if trace == "output cells":
        position = cell if len(steps.map_shape) == 2 else (cell[1],)
        if all(0 <= p < n for p, n in zip(position, steps.map_shape)):
            st.session_state.conv_step = int(np.ravel_multi_index(position, steps.map_shape))
    elif trace.startswith("input cells"):
        st.session_state.conv_pick = cell if len(steps.input_shape) == 2 else (cell[1],)


def clear_pick() -> None:
    st.session_state.conv_pick = None


@st.fragment
def step_view(out_channel: int) -> None:
    """The figure and what a click changes; a click reruns only this (from cached steps and frames)."""
    n_cells = steps.cells_per_map
    cell = min(max(int(st.session_state.get("conv_step", 0)), 0), n_cells - 1)
    row_length = steps.map_shape[-1]
    block = step_figs.frame_block(n_cells, cell, step_figs.MAX_FRAMES, row_length)
    title = f"Output map {out_channel}" if steps.out_channels > 1 else "Output"
    figure = step_through.convolution_figure(step_through.settings_key(**settings), steps, out_channel,
                                             block.start, block.stop, title)
    pick = st.session_state.get("conv_pick")
    try:  # a picked input cell that these settings no longer have is forgotten
        picked = step_figs.convolution_pick(steps, pick)
        fed = steps.outputs_using(*pick) if pick is not None else []
    except ValueError:
        pick, fed, picked = None, [], step_figs.convolution_pick(steps, None)
        st.session_state.conv_pick = None
    step_through.show(figure.opened_at(str(cell + 1), picked), "conv_anim", on_click)
    if len(block) < n_cells:
        st.caption(f"The figure holds cells {block.start + 1} … {block.stop} of {n_cells}: click an output cell "
                   "to step from there.")
    st.caption("▶ Play, or step with Previous / Next and the slider (in your browser: instant). Click an output "
               "cell to jump to it, or an input cell to see every output it feeds.")
    if pick is not None:
        listed = ", ".join(f"output[{', '.join(map(str, p))}]" for p in fed[:12]) + (" …" if len(fed) > 12 else "")
        name = (f"position {pick[0]}" if len(pick) == 1 else f"row {pick[0]}, column {pick[1]}").replace("-", "−")
        c1, c2 = st.columns([4, 1])
        c1.markdown(f"Input cell ({name}) feeds **{len(fed)}** output cell(s), outlined in purple"
                    + (f": {listed}." if fed else ": none — the stride steps over it."))
        c2.button("Clear", on_click=clear_pick, key="conv_clear_pick")


step_view(out_channel)

# ---- the whole result ----------------------------------------------------------------------------

if side_by_side:
    st.subheader("Cross-correlation vs true convolution")
    both = {name: convolution.convolve(**{**settings, "flip": f}) for name, f in ((controls.CROSS, False),
                                                                                  (controls.TRUE, True))}
    maps = {name: out.reshape(steps.out_channels, *steps.map_shape)[out_channel] for name, out in both.items()}
    cols = st.columns(2)
    for col, (name, values) in zip(cols, maps.items()):
        col.plotly_chart(controls.shared_grid(values, name, signed=True), key=f"conv_side_{name[:4]}")
    map_bias = float(np.asarray(given.bias, dtype=np.float64).reshape(-1)[out_channel if np.size(given.bias) > 1 else 0])
    a, b = (m - map_bias for m in maps.values())
    st.caption("Same result: this kernel looks the same when flipped." if np.allclose(a, b) else
               "Opposite signs: flipping this kernel negates it (like Sobel)." if np.allclose(a, -b)
               else "Different results: flipping the kernel changes what it computes.")

if given.full_photo is not None:
    st.subheader("The whole photo")
    flip, full = settings["flip"], given.full_photo
    try:
        kernel_o = np.asarray(given.kernel)[out_channel] if np.asarray(given.kernel).ndim == 4 else given.kernel
        bias_o = float(np.asarray(given.bias).reshape(-1)[out_channel] if np.size(given.bias) > 1 else given.bias)
        chosen = controls.TRUE if flip else controls.CROSS
        variants = [(chosen, flip)] + ([(controls.CROSS if flip else controls.TRUE, not flip)] if side_by_side else [])
        cols = st.columns(len(variants) + 1)
        cols[0].image(controls.photo_picture(full), caption="Input")
        for col, (name, f) in zip(cols[1:], variants):
            picture, (width, height) = controls.whole_photo(full, np.asarray(kernel_o), settings["stride"],
                                                            settings["padding"], settings["dilation"], f, bias_o)
            col.image(picture, caption=f"{name}: {width}×{height} (mid-grey = 0 when the result has negative values)")
    except ValueError as exc:
        st.error(f"The whole photo cannot be convolved with these settings: {exc}")

with st.expander("Show the PyTorch code"):
    st.code(convolution.pytorch_code(settings), language="python")
