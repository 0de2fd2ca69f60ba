"""The Convolution page's control panel: what to convolve (input and kernel) and how (stride, padding, ...).

Widgets only, keys prefixed ``conv_``; the page calls ``inputs()`` then ``settings()`` and hands the result to the
core. A trained run's first layer is loaded once per checkpoint version (``st.cache_resource``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st
import torch

from ui.kept import kept, kept_index
from ui.shared_figures import shared_figures
from vision_core.data import images
from vision_core.figures import convolution as figs
from vision_core.lessons import kernels

CROSS, TRUE = "Cross-correlation (PyTorch's conv2d)", "True convolution (kernel flipped)"
TEXTBOOK, NUMBERS, PHOTO, DATASET = "Textbook example", "Your numbers", "Sample photo", "Dataset image"
PRESET, RUN = "Preset(s)", "From a trained run"


@dataclass
class Inputs:
    """What the student chose to convolve: x (C, H, W) or (C, L), the kernel, its bias, the names of its maps."""

    x: np.ndarray
    kernel: np.ndarray
    bias: float | np.ndarray
    one_d: bool
    kernel_source: str
    map_names: list[str]  # one per output map when presets give several, else empty
    full_photo: np.ndarray | None  # the photo at full size (C, H, W), convolved whole below the step-through


def use_textbook_settings() -> None:
    """The textbook's worked examples: true convolution, zero padding 2 (1-D) or 1 (2-D), stride 1."""
    example = kernels.WORKED_EXAMPLES["1-D" if st.session_state.get("conv_dims") == "1-D signal" else "2-D"]
    st.session_state.update(conv_source=TEXTBOOK, conv_kernel_source=TEXTBOOK, conv_padding_mode="number",
                            conv_padding=example.padding, conv_stride=example.stride, conv_dilation=1,
                            conv_type=TRUE, conv_step=0)


def on_source_change() -> None:
    if st.session_state.get("conv_source") == TEXTBOOK:
        use_textbook_settings()




# The page's figures and pictures, built once per input for every student (hashed by value: arrays included). A
# rerun built them again: validating Plotly figures was a quarter of the server's CPU for a Convolution switch.
shared_grid = shared_figures(max_entries=64)(figs.grid_figure)
shared_kernel = shared_figures(max_entries=64)(figs.kernel_figure)


@st.cache_data(max_entries=32, show_spinner="Convolving the whole photo…")
def whole_photo(full: np.ndarray, kernel: np.ndarray, stride, padding, dilation, flip: bool,
                bias: float) -> tuple[str, tuple[int, int]]:
    """(the result over the whole photo as a PNG data URI, its width × height), once per input."""
    from vision_core.figures.png import png_source
    from vision_core.lessons import convolution

    result = convolution.convolve(full, kernel, stride, padding, dilation, flip, bias)
    return png_source(images.to_display(result)), (result.shape[1], result.shape[0])


@st.cache_data(max_entries=32, show_spinner=False)
def photo_views(name: str, rgb: bool, side: int) -> tuple[np.ndarray, np.ndarray, str]:
    """A sample photo (C, H, W) at ``side`` px for stepping, at 320 px whole, and that as a PNG data URI."""
    from vision_core.figures.png import png_source

    picture = images.sample_photos()[name]
    picture = picture if rgb else images.to_grayscale(picture)
    large = images.resize_for_display(picture, 320)
    return images.to_channels_first(images.resize_for_display(picture, side)), images.to_channels_first(large), \
        png_source(large)


@st.cache_data(max_entries=32, show_spinner=False)
def photo_picture(full: np.ndarray) -> str:
    """The (C, H, W) photo as a PNG data URI, once per photo."""
    from vision_core.figures.png import png_source

    return png_source(images.to_display(np.moveaxis(full, 0, -1) if len(full) == 3 else full[0], signed=False))


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


def set_defaults() -> None:
    for key, value in {"conv_dims": "2-D image", "conv_source": TEXTBOOK, "conv_kernel_source": TEXTBOOK,
                       "conv_padding_mode": "number", "conv_padding": 1, "conv_stride": 1, "conv_dilation": 1,
                       "conv_type": TRUE, "conv_pick": None}.items():
        st.session_state.setdefault(key, value)


def inputs() -> Inputs:
    """The input and kernel panels (two columns); stops the page with a hint when a choice is incomplete."""
    dims_label = st.radio("What to convolve", ["2-D image", "1-D signal"], kept_index(["2-D image", "1-D signal"], "conv_dims"), key="conv_dims", horizontal=True,
                          on_change=use_textbook_settings)
    one_d = dims_label == "1-D signal"
    full_photo = None  # a full-resolution photo (C, H, W) when the input is a downscaled photo

    left, right = st.columns(2)
    with left:
        st.subheader("Input")
        sources = [TEXTBOOK, NUMBERS] if one_d else [TEXTBOOK, NUMBERS, PHOTO, DATASET]
        if st.session_state.conv_source not in sources:
            st.session_state.conv_source = TEXTBOOK
        source = st.radio("Input", sources, kept_index(sources, "conv_source"), key="conv_source", horizontal=True, on_change=on_source_change,
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
            x, full_photo, shown = photo_views(name, colour == "RGB (3)", side)
            st.image(shown, caption=f"{name} ({x.shape[2]}×{x.shape[1]} for stepping)")
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
        kernel_source = st.radio("Kernel", kernel_sources, kept_index(kernel_sources, "conv_kernel_source"), key="conv_kernel_source", horizontal=True,
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
            st.plotly_chart(shared_kernel(np.asarray(kernel).reshape(-1, *np.asarray(kernel).shape[-2:])[0]
                                               if not one_d else np.atleast_2d(kernel[0]), "Kernel (as given)"),
                            key="conv_kernel_given")
    return Inputs(x, kernel, bias, one_d, kernel_source, list(chosen) if kernel_source == PRESET else [], full_photo)


def settings(given: Inputs) -> tuple[dict, bool]:
    """Stride, padding, dilation and the kind of convolution: ``convolve``'s arguments, and whether to show
    cross-correlation and true convolution side by side."""
    st.subheader("Settings")
    c1, c2, c3, c4, c5 = st.columns([1, 1, 1, 1, 2])
    stride = int(c1.number_input("Stride", 1, 8, kept("conv_stride", 1), key="conv_stride"))
    modes = ["number", "valid", "same", "full"]
    padding_mode = c2.selectbox("Padding", modes, kept_index(modes, "conv_padding_mode"), key="conv_padding_mode",
                                help="valid = none; same = keep the size (stride 1); full = d·(k−1) on each side.")
    padding = int(c3.number_input("Zero padding", 0, 16, kept("conv_padding", 0), key="conv_padding")) if padding_mode == "number" \
        else padding_mode
    dilation = int(c4.number_input("Dilation", 1, 6, kept("conv_dilation", 1), key="conv_dilation",
                                   help="Spread the kernel's cells apart: dilation 2 skips every other input cell."))
    flip = c5.radio("Type", [CROSS, TRUE], kept_index([CROSS, TRUE], "conv_type"), key="conv_type") == TRUE
    side_by_side = st.toggle("Show cross-correlation and true convolution side by side", key="conv_side_by_side")
    return {"x": given.x, "kernel": given.kernel, "stride": stride, "padding": padding, "dilation": dilation,
            "flip": flip, "bias": given.bias, "dims": 1 if given.one_d else 2}, side_by_side
