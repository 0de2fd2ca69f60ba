"""Convolution, one output cell at a time: the window, the products, the sum + bias, the output filling in."""

from __future__ import annotations

from functools import partial
from itertools import pairwise

import numpy as np
import pandas as pd
import streamlit as st
import torch
import torch.nn.functional as F

from ui.frame import ensure_app_frame
from vision_core.data import images
from vision_core.figures import convolution as figs
from vision_core.lessons import convolution, kernels

ensure_app_frame()  # a cold server's first request goes through app.py

st.title("🔲 Convolution, step by step")
st.caption("Every output cell is one dot product: lay the kernel over a window of the (zero-padded) input, multiply "
           "cell by cell, add everything up over all input channels, add the bias. Step through it, change the "
           "settings, and compare cross-correlation (what PyTorch's `conv2d` computes) with true convolution "
           "(the textbook's, kernel flipped).")

CROSS, TRUE = "Cross-correlation (PyTorch's conv2d)", "True convolution (kernel flipped)"
TEXTBOOK, NUMBERS, PHOTO, DATASET = "Textbook example", "Your numbers", "Sample photo", "Dataset image"
PRESET, RUN = "Preset(s)", "From a trained run"
fmt = figs.format_number


def use_textbook_settings() -> None:
    """The textbook's worked examples: true convolution, zero padding 2 (1-D) or 1 (2-D), stride 1."""
    example = kernels.WORKED_EXAMPLES["1-D" if st.session_state.get("conv_dims") == "1-D signal" else "2-D"]
    st.session_state.update(conv_source=TEXTBOOK, conv_kernel_source=TEXTBOOK, conv_padding_mode="number",
                            conv_padding=example.padding, conv_stride=example.stride, conv_dilation=1,
                            conv_type=TRUE, conv_step=0)


def on_source_change() -> None:
    if st.session_state.get("conv_source") == TEXTBOOK:
        use_textbook_settings()


for key, value in {"conv_dims": "2-D image", "conv_source": TEXTBOOK, "conv_kernel_source": TEXTBOOK,
                   "conv_padding_mode": "number", "conv_padding": 1, "conv_stride": 1, "conv_dilation": 1,
                   "conv_type": TRUE, "conv_playing": False, "conv_pick": None}.items():
    st.session_state.setdefault(key, value)


@st.cache_resource(max_entries=2, show_spinner="Loading the dataset…")
def load_dataset(name: str):
    from vision_core.data import datasets

    return datasets.load(name)


@st.cache_resource(max_entries=4, show_spinner="Loading the network…")
def first_conv_layer(run_path: str, checkpoint_mtime: float):
    """(weight (O, C, kh, kw), bias (O,), layer stride, padding, dilation) of the run's first Conv2d, or None."""
    from vision_core.runs import store as runs

    model = runs.load_model(runs.reload(run_path), which="last")
    conv = next((m for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    if conv is None:
        return None
    weight = conv.weight.detach().double().cpu().numpy().copy()
    bias = conv.bias.detach().double().cpu().numpy().copy() if conv.bias is not None else np.zeros(len(weight))
    return weight, bias, conv.stride, conv.padding, conv.dilation


def number_grid(values: np.ndarray, key: str, label: str) -> np.ndarray:
    """An editable grid of numbers (blank cells count as 0). The key carries the shape: resizing starts fresh."""
    st.caption(label)
    frame = pd.DataFrame(values, columns=[str(c) for c in range(values.shape[1])])
    edited = st.data_editor(frame, key=f"{key}_{values.shape[0]}x{values.shape[1]}", hide_index=True)
    return np.nan_to_num(edited.to_numpy(dtype=np.float64))


def fit_channels(values: np.ndarray, channels: int) -> np.ndarray:
    """(C, H, W) → (channels, H, W): RGB to gray with the luma weights, gray repeated to RGB."""
    gray = np.tensordot([0.299, 0.587, 0.114], values, 1)[None] if len(values) == 3 else values.mean(0, keepdims=True)
    return np.repeat(gray, channels, axis=0)


def starting_numbers(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 10, shape).astype(np.float64)


# ---- clicks and coordinates --------------------------------------------------------------------


def clicked_cell(key: str) -> tuple[int, int] | None:
    """The (row, column) of the cell clicked on the Plotly grid ``key``: its invisible cell markers carry the
    grid's own axis coordinates (conv_figures.grid_figure(clickable=True))."""
    state = st.session_state.get(key)
    points = [p for p in (state.selection.points if state else []) if "x" in p and "y" in p]
    if not points:
        return None
    return round(points[0]["y"]), round(points[0]["x"])


def on_output_click(key: str, map_shape: tuple[int, ...]) -> None:
    """Clicking an output cell moves the step there: the input figure outlines the cells it depends on."""
    cell = clicked_cell(key)
    if cell is None:
        return
    position = cell if len(map_shape) == 2 else (cell[1],)
    if all(0 <= p < n for p, n in zip(position, map_shape)):
        st.session_state.conv_step = int(np.ravel_multi_index(position, map_shape))
        st.session_state.conv_playing = False
        st.session_state.conv_pick = None


def on_input_click(key: str, ndim: int) -> None:
    """Clicking an input cell picks it: the output figure outlines every output cell that uses it."""
    cell = clicked_cell(key)
    if cell is not None:
        st.session_state.conv_pick = cell if ndim == 2 else (cell[1],)
        st.session_state.conv_playing = False


def clear_pick() -> None:
    st.session_state.conv_pick = None


def span_text(coords: np.ndarray) -> str:
    """Coordinates as the axes show them: "−1 … 1" for a run of neighbours, "0, 2, 4" with dilation."""
    values = [int(v) for v in coords]
    if len(values) > 1 and all(b - a == 1 for a, b in pairwise(values)):
        return f"{values[0]} … {values[-1]}".replace("-", "−")
    return ", ".join(map(str, values)).replace("-", "−")


def as_grid_cells(positions: list[tuple[int, ...]]) -> list[tuple[int, int]]:
    """(i,) positions of a 1-D signal drawn as row 0 of a grid; (row, col) positions unchanged."""
    return [(0, p[0]) if len(p) == 1 else (int(p[0]), int(p[1])) for p in positions]


def cell_name(position: tuple[int, ...]) -> str:
    return (f"position {position[0]}" if len(position) == 1 else
            f"row {position[0]}, column {position[1]}").replace("-", "−")


# ---- transposed convolution ----------------------------------------------------------------------


def transposed_view() -> None:
    """F.conv_transpose2d one input cell at a time: each cell stamps value × kernel onto a canvas."""
    st.markdown("A **transposed convolution** goes the other way: every *input* cell stamps a copy of the kernel, "
                "scaled by its value, onto the output, **stride** cells apart; where stamps overlap they add up. "
                "Then **padding** cells are cut off every side (here padding removes), **output padding** keeps "
                "extra rows and columns at the bottom and right, and the bias is added. Decoders and GANs use it "
                "to make maps larger.")
    c = st.columns(4)
    rows = int(c[0].number_input("Input rows", 1, 6, 3, key="conv_t_rows"))
    cols = int(c[1].number_input("Input columns", 1, 6, 3, key="conv_t_cols"))
    k_rows = int(c[2].number_input("Kernel rows", 1, 4, 3, key="conv_t_k_rows"))
    k_cols = int(c[3].number_input("Kernel columns", 1, 4, 3, key="conv_t_k_cols"))
    left, right = st.columns(2)
    with left:
        x = number_grid(starting_numbers((rows, cols), 11) % 4, "conv_t_x", "Input (edit the numbers)")
    with right:
        w = number_grid(starting_numbers((k_rows, k_cols), 12) % 3 + 1, "conv_t_w", "Kernel (edit the numbers)")
    c = st.columns(5)
    stride = int(c[0].number_input("Stride", 1, 4, 2, key="conv_t_stride"))
    padding = int(c[1].number_input("Padding", 0, 4, 0, key="conv_t_padding",
                                    help="Cut this many cells off every side of the result."))
    output_padding = int(c[2].number_input("Output padding", 0, 3, 0, key="conv_t_output_padding",
                                           help="Keep this many extra rows/columns at the bottom and right: "
                                                "smaller than the stride or the dilation."))
    dilation = int(c[3].number_input("Dilation", 1, 3, 1, key="conv_t_dilation"))
    bias = float(c[4].number_input("Bias", value=0.0, step=0.5, key="conv_t_bias"))
    try:
        steps = convolution.TransposedSteps(x, w, stride, padding, output_padding, dilation, bias)
    except ValueError as exc:
        st.error(f"These settings are impossible: {exc}")
        return
    formulas = [f"{axis}: {convolution.transposed_output_size_formula(n, k, stride, padding, output_padding, dilation)}"
                for axis, n, k in zip(("rows", "columns"), steps.input_shape, w.shape)]
    st.markdown("**Output size** (n − 1)·s − 2p + d·(k − 1) + output padding + 1 — "
                + " · ".join(f"`{f}`" for f in formulas))
    reference = F.conv_transpose2d(torch.tensor(x)[None, None], torch.tensor(w)[None, None],
                                   torch.tensor([bias], dtype=torch.float64), stride=stride, padding=padding,
                                   output_padding=output_padding, dilation=dilation)[0, 0].numpy()
    same = reference.shape == steps.output[0].shape and np.allclose(reference, steps.output[0])
    st.caption("✅ `F.conv_transpose2d` gives exactly this output." if same else
               "⚠️ `F.conv_transpose2d` disagrees with this output: please report it.")

    n = len(steps)
    if st.session_state.get("conv_t_step", 0) >= n:
        st.session_state.conv_t_step = n - 1

    def move(delta: int) -> None:
        st.session_state.conv_t_step = min(max(st.session_state.get("conv_t_step", 0) + delta, 0), n - 1)

    def on_click() -> None:
        cell = clicked_cell("conv_t_fig_in")
        if cell is not None and 0 <= cell[0] < rows and 0 <= cell[1] < cols:
            st.session_state.conv_t_step = cell[0] * cols + cell[1]

    b1, b2, b3 = st.columns([1, 1, 4])
    b1.button("◀ Previous", on_click=move, args=(-1,), key="conv_t_prev", width="stretch")
    b2.button("Next ▶", on_click=move, args=(1,), key="conv_t_next", width="stretch")
    index = int(b3.slider("Input cell (row by row)", 0, n - 1, key="conv_t_step")) if n > 1 else 0
    step = steps[index]
    pad_top, pad_left = steps.padding
    out_rows, out_cols = step.canvas_rows - pad_top, step.canvas_cols - pad_left  # output coordinates
    st.markdown(f"**Input cell {index + 1} of {n}** — row {step.position[0]}, column {step.position[1]}, value "
                f"**{fmt(step.values[0])}**: adds {fmt(step.values[0])} × kernel to output rows "
                f"{span_text(out_rows)}, columns {span_text(out_cols)} (negative or past the end: cut off by the "
                "padding). Click an input cell to jump to it.")
    c = st.columns([2, 2, 2])
    c[0].plotly_chart(figs.grid_figure(x, "Input", outline=[step.position], hover_name="input",
                                       axis_titles=("row", "column"), clickable=True),
                      key="conv_t_fig_in", selection_mode="points", on_select=on_click)
    c[1].plotly_chart(figs.kernel_figure(w), key="conv_t_fig_k")
    c[2].plotly_chart(figs.products_figure(step.block[0], f"{fmt(step.values[0])} × kernel"), key="conv_t_fig_block")
    canvas = steps.canvas_after(index)  # (1, Hc, Wc)
    so_far = steps.crop(canvas)[0]
    block_cells = [(int(r), int(cc)) for r in out_rows for cc in out_cols]
    out_h, out_w = steps.map_shape
    c = st.columns(2)
    c[0].plotly_chart(figs.grid_figure(canvas[0], f"Stamps so far ({index + 1} of {n}), before cutting",
                                       signed=True, origin=(-pad_top, -pad_left), outline=block_cells,
                                       frame=(0, out_h - 1, 0, out_w - 1), hover_name="sum",
                                       axis_titles=("row", "column"),
                                       show_text=max(canvas.shape[1:]) <= figs.STYLE["max_text_side"]),
                      key="conv_t_fig_canvas")
    kept = [(r, cc) for r, cc in block_cells if 0 <= r < out_h and 0 <= cc < out_w]
    c[1].plotly_chart(figs.grid_figure(so_far, "Output so far (dashed frame cut out, + bias)", signed=True,
                                       outline=kept, hover_name="output", axis_titles=("row", "column"),
                                       show_text=max(so_far.shape) <= figs.STYLE["max_text_side"]),
                      key="conv_t_fig_out")
    st.caption("The dashed frame on the left is what is kept: rows and columns outside it are the padding, cut "
               "off. A transposed convolution is the gradient of a convolution with respect to its input, which "
               "is why it takes the same kernel, stride, padding and dilation.")
    with st.expander("Show the PyTorch code"):
        st.code(convolution.transposed_pytorch_code(x, w, stride, padding, output_padding, dilation, bias),
                language="python")


mode = st.radio("Show", ["Convolution", "Transposed convolution"], key="conv_mode", horizontal=True)
if mode == "Transposed convolution":
    transposed_view()
    st.stop()

# ---- input ---------------------------------------------------------------------------------------

dims_label = st.radio("What to convolve", ["2-D image", "1-D signal"], key="conv_dims", horizontal=True,
                      on_change=use_textbook_settings)
one_d = dims_label == "1-D signal"
full_photo = None  # a full-resolution photo (C, H, W) when the input is a downscaled photo

left, right = st.columns(2)
with left:
    st.subheader("Input")
    sources = [TEXTBOOK, NUMBERS] if one_d else [TEXTBOOK, NUMBERS, PHOTO, DATASET]
    if st.session_state.conv_source not in sources:
        st.session_state.conv_source = TEXTBOOK
    source = st.radio("Input", sources, key="conv_source", horizontal=True, on_change=on_source_change,
                      label_visibility="collapsed")
    if source == TEXTBOOK:
        example = kernels.WORKED_EXAMPLES["1-D" if one_d else "2-D"]
        x = np.array(example.x, dtype=np.float64)[None]  # (1, L) or (1, H, W)
        st.caption(f"The textbook's {'1-D' if one_d else '2-D'} worked example: true convolution, padding "
                   f"{example.padding}, stride {example.stride}; it expects `{example.expected}`.")
        st.button("Reset to the textbook's settings", on_click=use_textbook_settings, key="conv_reset")
    elif source == NUMBERS:
        c1, c2, c3 = st.columns(3)
        channels = c1.number_input("Channels", 1, 3, 1, key="conv_channels")
        if one_d:
            length = c2.number_input("Length", 3, 24, 8, key="conv_length")
            x = number_grid(starting_numbers((channels, length), 1), "conv_x1d", "One row per channel")
        else:
            rows = c2.number_input("Rows", 2, 12, 5, key="conv_rows")
            cols = c3.number_input("Columns", 2, 12, 5, key="conv_cols")
            x = np.stack([number_grid(starting_numbers((rows, cols), c), f"conv_x{c}", f"Channel {c}")
                          for c in range(channels)])
    elif source == PHOTO:
        photos = images.sample_photos()
        c1, c2, c3 = st.columns(3)
        name = c1.selectbox("Photo", sorted(photos), key="conv_photo")
        colour = c2.radio("Channels", ["Grayscale (1)", "RGB (3)"], key="conv_colour")
        side = c3.slider("Step on (px, longest side)", 8, 64, 24, 4, key="conv_photo_side",
                         help="Stepping needs a small picture; the whole photo is convolved below as well.")
        picture = photos[name] if colour == "RGB (3)" else images.to_grayscale(photos[name])
        x = images.to_channels_first(images.resize_for_display(picture, side))
        full_photo = images.to_channels_first(images.resize_for_display(picture, 320))
        st.image(images.resize_for_display(picture, 320), caption=f"{name} ({x.shape[2]}×{x.shape[1]} for stepping)")
    else:
        c1, c2 = st.columns(2)
        dataset_name = c1.selectbox("Dataset", ["digits", "shapes"], key="conv_dataset")
        data = load_dataset(dataset_name)
        index = c2.number_input("Test image", 0, len(data.test) - 1, 0, key="conv_image_index")
        image, label = data.test[int(index)]
        x = image.double().numpy()  # (C, H, W) in [0, 1]
        st.caption(f"{dataset_name} test image {index}: a **{data.classes[label]}**, {x.shape[0]} channel(s), "
                   f"{x.shape[1]}×{x.shape[2]}.")

# ---- kernel --------------------------------------------------------------------------------------

channels = x.shape[0]
bias = 0.0
with right:
    st.subheader("Kernel")
    kernel_sources = [TEXTBOOK, NUMBERS] if one_d else [TEXTBOOK, PRESET, NUMBERS, RUN]
    if st.session_state.conv_kernel_source not in kernel_sources:
        st.session_state.conv_kernel_source = TEXTBOOK
    kernel_source = st.radio("Kernel", kernel_sources, key="conv_kernel_source", horizontal=True,
                             label_visibility="collapsed")
    if kernel_source == TEXTBOOK:
        w = np.array(kernels.WORKED_EXAMPLES["1-D" if one_d else "2-D"].kernel, dtype=np.float64)
        kernel = np.stack([w] * channels)  # (C, *k): the same slice for every input channel
        if channels > 1:
            st.caption("The same slice is used for every input channel.")
    elif kernel_source == PRESET:
        chosen = st.multiselect("Presets (one output map each)", list(kernels.PRESETS), default=["sobel x"],
                                key="conv_presets")
        if not chosen:
            st.info("Pick at least one preset.")
            st.stop()
        sizes = sorted(set.intersection(*(set(kernels.PRESETS[n].sizes) for n in chosen)))
        size = st.selectbox("Kernel size", sizes, index=sizes.index(3) if 3 in sizes else 0, key="conv_kernel_size",
                            disabled=len(sizes) == 1, help="Only identity, box blur and gaussian come in other sizes.")
        for n in chosen:
            st.caption(f"**{n}**: {kernels.PRESETS[n].explanation}")
        kernel = np.stack([np.stack([kernels.kernel_preset(n, size)] * channels) for n in chosen])  # (O, C, k, k)
        if channels > 1:
            st.caption("The same slice is used for every input channel, so each map is the kernel applied to the "
                       "sum of the channels.")
    elif kernel_source == NUMBERS:
        c1, c2, c3 = st.columns(3)
        k_rows = 1 if one_d else c1.number_input("Kernel rows", 1, 7, 3, key="conv_k_rows")
        k_cols = c2.number_input("Kernel columns" if not one_d else "Kernel length", 1, 7, 3, key="conv_k_cols")
        bias = c3.number_input("Bias", value=0.0, step=0.5, key="conv_bias")
        if one_d:
            kernel = number_grid(starting_numbers((channels, k_cols), 7) - 4, "conv_w1d", "One row per channel")
        else:
            kernel = np.stack([number_grid(starting_numbers((k_rows, k_cols), 7 + c) - 4, f"conv_w{c}",
                                           f"Kernel slice for channel {c}") for c in range(channels)])
    else:
        try:
            from vision_core.runs import store as runs

            records = [r for r in runs.list_runs() if r.checkpoint("last") is not None]
        except (ImportError, AttributeError):
            records = []
        if not records:
            st.info("No runs yet — train one on the Train page, then take its first layer's kernels here.")
            st.stop()
        from ui.run_picker import default_index  # this person's best finished run first (issue 13.4)

        ids = [r.run_id for r in records]
        wanted = st.query_params.get("run")  # a link to this page may name the run (as on Inside/Evaluate)
        start = ids.index(wanted) if wanted in ids else default_index(records)
        run = st.selectbox("Run", records, key="conv_run", index=start,
                           format_func=lambda r: f"{r.run_id} — {r.config.model} on {r.config.dataset} ({r.state})")
        checkpoint = run.checkpoint("last")
        try:
            layer = first_conv_layer(str(run.path), checkpoint.stat().st_mtime)
        except (ValueError, OSError) as exc:
            st.error(f"Could not load this run's network: {exc}")
            st.stop()
        if layer is None:
            st.info("This network has no Conv2d layer.")
            st.stop()
        weight, layer_bias, layer_stride, layer_padding, layer_dilation = layer
        kernel, bias = weight, layer_bias  # (O, C, kh, kw), (O,)
        st.caption(f"First Conv2d of {run.config.model} (checkpoint '{checkpoint.stem}'): {len(weight)} kernels of "
                   f"{weight.shape[1]}×{weight.shape[2]}×{weight.shape[3]}; in the network it uses stride "
                   f"{layer_stride}, padding {layer_padding}, dilation {layer_dilation}. A running run refreshes "
                   "here after each epoch.")
        if weight.shape[1] != channels:  # adapt the picture to the layer rather than refuse
            x = fit_channels(x, weight.shape[1])
            full_photo = None if full_photo is None else fit_channels(full_photo, weight.shape[1])
            st.caption(f"The input was converted to {weight.shape[1]} channel(s) to fit this layer.")
            channels = x.shape[0]
        info = run.data_info or {}
        if info.get("mean") and info.get("std") and st.checkbox("Normalise the input as in training",
                                                                 value=True, key="conv_normalise"):
            mean = np.asarray(info["mean"], dtype=np.float64).reshape(-1, 1, 1)
            std = np.asarray(info["std"], dtype=np.float64).reshape(-1, 1, 1)
            if len(mean) in (1, channels):
                x = (x - mean) / std
                full_photo = None if full_photo is None else (full_photo - mean) / std
    if kernel_source != NUMBERS:
        st.plotly_chart(figs.kernel_figure(np.asarray(kernel).reshape(-1, *np.asarray(kernel).shape[-2:])[0]
                                           if not one_d else np.atleast_2d(kernel[0]), "Kernel (as given)"),
                        key="conv_kernel_given")

# ---- settings ------------------------------------------------------------------------------------

st.subheader("Settings")
c1, c2, c3, c4, c5 = st.columns([1, 1, 1, 1, 2])
stride = int(c1.number_input("Stride", 1, 8, key="conv_stride"))
padding_mode = c2.selectbox("Padding", ["number", "valid", "same", "full"], key="conv_padding_mode",
                            help="valid = none; same = keep the size (stride 1); full = d·(k−1) on each side.")
padding = int(c3.number_input("Zero padding", 0, 16, key="conv_padding")) if padding_mode == "number" else padding_mode
dilation = int(c4.number_input("Dilation", 1, 6, key="conv_dilation",
                               help="Spread the kernel's cells apart: dilation 2 skips every other input cell."))
conv_type = c5.radio("Type", [CROSS, TRUE], key="conv_type")
flip = conv_type == TRUE
side_by_side = st.toggle("Show cross-correlation and true convolution side by side", key="conv_side_by_side")

settings = {"x": x, "kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation, "flip": flip, "bias": bias,
                "dims": 1 if one_d else 2}
try:
    steps = convolution.convolution_steps(**settings)
except ValueError as exc:
    st.error(f"These settings are impossible: {exc}")
    st.stop()

axes = ["length"] if one_d else ["height", "width"]
formulas = [f"{axis}: {convolution.output_size_formula(n, k, s, p, d)}" for axis, n, k, s, p, d in
            zip(axes, steps.input_shape, steps.kernel.shape[2:], steps.stride, steps.padding, steps.dilation)]
st.markdown("**Output size** ⌊(n + 2p − d·(k−1) − 1)/s⌋ + 1 — " + " · ".join(f"`{f}`" for f in formulas))

# ---- step through --------------------------------------------------------------------------------

out_channel = 0
if steps.out_channels > 1:
    out_channel = st.selectbox("Output map", range(steps.out_channels), key="conv_out_channel",
                               format_func=lambda o: f"map {o}" + (f" ({chosen[o]})" if kernel_source == PRESET else ""))
n_cells = steps.cells_per_map
if st.session_state.get("conv_step", 0) >= n_cells:
    st.session_state.conv_step = n_cells - 1


def move(to: int | str) -> None:
    current = st.session_state.get("conv_step", 0)
    target = {"first": 0, "last": n_cells - 1, "prev": current - 1, "next": current + 1}[to]
    st.session_state.conv_step = min(max(target, 0), n_cells - 1)


def toggle_play() -> None:
    st.session_state.conv_playing = not st.session_state.conv_playing
    if st.session_state.conv_playing and st.session_state.get("conv_step", 0) >= n_cells - 1:
        st.session_state.conv_step = 0  # play again from the start


c1, c2 = st.columns([1, 3])
c1.button("⏸ Pause" if st.session_state.conv_playing else "▶ Play", on_click=toggle_play, key="conv_play")
speed = c2.select_slider("Speed (cells per second)", [0.5, 1, 2, 4, 8], value=2, key="conv_speed")


@st.fragment(run_every=1 / speed if st.session_state.conv_playing else None)
def step_view(steps: convolution.ConvolutionSteps, out_channel: int) -> None:
    if st.session_state.conv_playing:
        if st.session_state.get("conv_step", 0) >= n_cells - 1:
            st.session_state.conv_playing = False
            st.rerun()  # the whole page, so the timer stops
        st.session_state.conv_step = st.session_state.get("conv_step", 0) + 1
    b1, b2, b3, b4 = st.columns(4)
    b1.button("⏮ First", on_click=move, args=("first",), key="conv_first", width="stretch")
    b2.button("◀ Previous", on_click=move, args=("prev",), key="conv_prev", width="stretch")
    b3.button("Next ▶", on_click=move, args=("next",), key="conv_next", width="stretch")
    b4.button("Last ⏭", on_click=move, args=("last",), key="conv_last", width="stretch")
    if n_cells > 1:
        st.slider("Output cell (row by row)", 0, n_cells - 1, key="conv_step")
    cell = min(st.session_state.get("conv_step", 0), n_cells - 1)
    position = tuple(int(p) for p in np.unravel_index(cell, steps.map_shape))
    step = steps[steps.index(out_channel, *position)]

    # A picked input cell (clicked) that these settings no longer have is forgotten.
    pick = st.session_state.get("conv_pick")
    try:
        fed = steps.outputs_using(*pick) if pick is not None else []
    except ValueError:
        pick, fed = None, []
        st.session_state.conv_pick = None

    where = ", ".join(map(str, position))
    names = ["positions"] if one_d else ["rows", "columns"]
    st.markdown(f"**Cell {cell + 1} of {n_cells}** — output[{where}]: the window covers input "
                + ", ".join(f"{name} {span_text(c)}" for name, c in zip(names, step.input_coords))
                + (" (outlined cells outside the dashed frame are zero padding)" if step.is_padding.any() else "")
                + ". Click an output cell to jump to it, or an input cell to see every output it feeds.")
    picked_input = as_grid_cells([pick]) if pick is not None else []
    zoom_view = None
    for c in range(steps.channels):
        cols = st.columns([4, 2, 2])
        title = f"Input channel {c}" if steps.channels > 1 else "Input (padded)"
        figure, zoom_view = figs.convolution_input_figure(steps.padded[c], steps.padding, steps.input_shape,
                                                          step.padded_coords, title, picked=picked_input)
        if zoom_view is not None:
            r0, r1, c0, c1 = zoom_view
            figure.update_layout(title_text=f"{title}: zoom on rows {r0} … {r1}, columns {c0} … {c1}"
                                 .replace("-", "−"))
        cols[0].plotly_chart(figure, key=f"conv_fig_in{c}", selection_mode="points",
                             on_select=partial(on_input_click, f"conv_fig_in{c}", len(steps.input_shape)))
        cols[1].plotly_chart(figs.kernel_figure(step.kernel[c], "Kernel" + (" (flipped)" if steps.flip else "")
                                                + (f" slice {c}" if steps.channels > 1 else "")),
                             key=f"conv_fig_k{c}")
        cols[2].plotly_chart(figs.products_figure(step.products[c]), key=f"conv_fig_p{c}")
        if steps.channels > 1:
            st.caption(f"Channel {c}: partial sum = **{fmt(step.channel_sums[c])}**")
    sums = " + ".join(fmt(s) for s in step.channel_sums)
    total = f"{sums} = {fmt(step.total)}" if steps.channels > 1 else fmt(step.total)
    st.markdown(f"Σ products = {total}; + bias {fmt(step.bias)} = **{fmt(step.result)}**")
    if pick is not None:
        listed = ", ".join(f"output[{', '.join(map(str, p))}]" for p in fed[:12]) + (" …" if len(fed) > 12 else "")
        c1, c2 = st.columns([4, 1])
        c1.markdown(f"Input cell ({cell_name(pick)}) feeds **{len(fed)}** output cell(s), outlined in purple"
                    + (f": {listed}." if fed else ": none — the stride steps over it."))
        c2.button("Clear", on_click=clear_pick, key="conv_clear_pick")
    m1, m2 = st.columns([1, 3])
    m1.metric(f"output[{where}]", fmt(step.result))
    if zoom_view is not None:  # the whole input, to see where the zoom is (click it too)
        m1.plotly_chart(figs.input_overview_figure(steps.padded[0], steps.padding, steps.input_shape,
                                                   step.padded_coords, zoom_view, picked=picked_input),
                        key="conv_fig_overview", selection_mode="points",
                        on_select=partial(on_input_click, "conv_fig_overview", 2))
    out_map = steps.maps[out_channel]
    m2.plotly_chart(figs.output_progress_figure(out_map, cell + 1, position,
                                                f"Output map {out_channel}" if steps.out_channels > 1 else "Output",
                                                picked=as_grid_cells(fed),
                                                show_text=np.atleast_2d(out_map).shape[1] <= 24,
                                                axis_titles=None if one_d else ("row", "column"), clickable=True),
                    key="conv_fig_out", selection_mode="points",
                    on_select=partial(on_output_click, "conv_fig_out", steps.map_shape))


step_view(steps, out_channel)

# ---- the whole result ----------------------------------------------------------------------------

if side_by_side:
    st.subheader("Cross-correlation vs true convolution")
    both = {name: convolution.convolve(**{**settings, "flip": f}) for name, f in ((CROSS, False), (TRUE, True))}
    maps = {name: out.reshape(steps.out_channels, *steps.map_shape)[out_channel] for name, out in both.items()}
    cols = st.columns(2)
    for col, (name, values) in zip(cols, maps.items()):
        col.plotly_chart(figs.grid_figure(values, name, signed=True), key=f"conv_side_{name[:4]}")
    map_bias = float(np.asarray(bias, dtype=np.float64).reshape(-1)[out_channel if np.size(bias) > 1 else 0])
    a, b = (m - map_bias for m in maps.values())
    st.caption("Same result: this kernel looks the same when flipped." if np.allclose(a, b) else
               "Opposite signs: flipping this kernel negates it (like Sobel)." if np.allclose(a, -b)
               else "Different results: flipping the kernel changes what it computes.")

if full_photo is not None:
    st.subheader("The whole photo")
    try:
        kernel_o = np.asarray(kernel)[out_channel] if np.asarray(kernel).ndim == 4 else kernel
        bias_o = float(np.asarray(bias).reshape(-1)[out_channel] if np.size(bias) > 1 else bias)
        variants = [(conv_type, flip)] + ([(CROSS if flip else TRUE, not flip)] if side_by_side else [])
        cols = st.columns(len(variants) + 1)
        cols[0].image(images.to_display(np.moveaxis(full_photo, 0, -1) if channels == 3 else full_photo[0],
                                        signed=False), caption="Input")
        for col, (name, f) in zip(cols[1:], variants):
            result = convolution.convolve(full_photo, kernel_o, stride, padding, dilation, f, bias_o)
            col.image(images.to_display(result), caption=f"{name}: {result.shape[1]}×{result.shape[0]} "
                      "(mid-grey = 0 when the result has negative values)")
    except ValueError as exc:
        st.error(f"The whole photo cannot be convolved with these settings: {exc}")

with st.expander("Show the PyTorch code"):
    st.code(convolution.pytorch_code(settings), language="python")
