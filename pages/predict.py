"""Predict: show a trained network your own picture, see what it sees, what it answers, and where it looked."""

import copy

import numpy as np
import pandas as pd
import streamlit as st
import torch
from PIL import Image

from ui.frame import ensure_app_frame
from ui.run_picker import pick_run
from ui.text import plain
from vision_core.analysis import evaluation, export, saliency
from vision_core.data import images, own_datasets
from vision_core.figures import evaluation as eval_figures
from vision_core.runs import store as runs

ensure_app_frame()  # a cold server's first request goes through app.py

st.title("🔮 Predict")


@st.cache_data(max_entries=32, show_spinner=False)
def checkpoint_epoch(path: str, mtime: float) -> int | None:
    return runs.checkpoint_epoch(path)


@st.cache_resource(max_entries=8, show_spinner="Loading the network…")
def load_model(run_path: str, which: str, checkpoint_mtime: float):
    """Shared by every session; never modified (explanations work on a copy)."""
    return runs.load_model(runs.reload(run_path), which)


@st.cache_data(max_entries=8, show_spinner=False)
def weights_file(run_path: str, which: str, checkpoint_mtime: float) -> bytes:
    return export.state_dict_bytes(load_model(run_path, which, checkpoint_mtime))


@st.cache_data(max_entries=4, show_spinner="Exporting to ONNX…")
def onnx_file(run_path: str, which: str, checkpoint_mtime: float, input_shape: tuple) -> bytes:
    return export.onnx_bytes(load_model(run_path, which, checkpoint_mtime), input_shape)


def canvas_digit() -> Image.Image | None:
    """Free-hand drawing (streamlit-drawable-canvas): white strokes on black, like the training digits."""
    from streamlit_drawable_canvas import st_canvas

    st.caption("Draw one digit, big, in the middle of the black square. The bin above it starts again.")
    st.space(24)  # the canvas's toolbar floats above it: room for it, so it covers nothing
    result = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000", height=224, width=224,
                       drawing_mode="freedraw", return_image_data=True, key="pred_canvas")
    drawing = result.image_data  # (H, W, 4) RGBA, or None before the first stroke
    if drawing is None or not drawing[..., :3].any():
        return None
    return Image.fromarray(np.ascontiguousarray(drawing[..., :3]).astype(np.uint8), "RGB").convert("L")


def grid_digit(info: dict) -> Image.Image | None:
    """The fallback when the canvas package is missing: a grid of cells to tick."""
    size = 8 if max(info["image_size"]) <= 8 else 16
    st.info("Free-hand drawing needs the `streamlit-drawable-canvas` package, which is not installed. "
            f"Meanwhile tick cells of this {size}×{size} grid to paint a digit (bright strokes on black, "
            "like the training images).")
    blank = pd.DataFrame(False, index=range(size), columns=[str(c) for c in range(size)])
    row_height = 28
    grid = st.data_editor(blank, key="pred_grid", hide_index=True, width="content", row_height=row_height,
                          height=row_height * (size + 1) + 4,  # every row visible: no scrolling while painting
                          column_config={c: st.column_config.CheckboxColumn(c, width=32) for c in blank.columns})
    cells = grid.to_numpy(dtype=bool)
    if not cells.any():
        return None
    return Image.fromarray((cells * 255).astype(np.uint8), "L")


def drawn_digit(info: dict) -> Image.Image | None:
    """A free-hand canvas when streamlit-drawable-canvas is installed, else the grid."""
    try:
        import streamlit_drawable_canvas  # noqa: F401 - a dependency; the grid stays for installs without it
    except ImportError:
        return grid_digit(info)
    return canvas_digit()


def describe_file(name: str, kind: str, size: int) -> str:
    """``notes.png (image/png, 21 bytes)``: what a student uploaded, in their words, for an error message."""
    amount = f"{size:,} bytes" if size < 1024 else f"{size / 1024:,.0f} KB" if size < 2**20 else \
        f"{size / 2**20:,.1f} MB"
    return f"**{plain(name)}** ({plain(kind) if kind else 'unknown type'}, {amount})"


def made_with_the_camera(config) -> bool:
    """A run on a dataset made on the Make-a-dataset page: its photos came from the camera, so Predict starts there."""
    folder = config.dataset_options.get("folder")
    return config.dataset == "imagefolder" and isinstance(folder, str) and own_datasets.is_made(folder)


def picture_input(info: dict, camera_first: bool = False) -> tuple[bytes | Image.Image | None, bool | None, str]:
    """(bytes of an upload or photo, or a drawn PIL image; the invert choice; what the file is, for errors)."""
    sources = ["Upload a picture", "Take a photo"] + (["Draw a digit"] if info["channels"] == 1 else [])
    source = st.radio("Input", sources, horizontal=True, key="pred_source", index=1 if camera_first else 0,
                      help="Each new photo is a new prediction: take one, see what it answers and where it looked, "
                           "clear it and take the next.")
    if source == "Draw a digit":
        return drawn_digit(info), False, ""  # painted bright-on-black already: never invert
    if source == "Take a photo":
        upload = st.camera_input("Take a photo", key="pred_camera")
    else:
        upload = st.file_uploader("A PNG or JPEG picture", type=["png", "jpg", "jpeg"], key="pred_upload")
    data = upload.getvalue() if upload else None
    what = describe_file(upload.name, upload.type, upload.size) if upload else ""
    invert = None
    if info["channels"] == 1:
        choice = st.radio("Invert colours", ["auto", "yes", "no"], horizontal=True, key="pred_invert",
                          help="The digit datasets are bright strokes on a black background. A dark digit on "
                               "white paper must be inverted; 'auto' does it when the picture is mostly light "
                               "(mean brightness above 0.5).")
        invert = {"auto": None, "yes": True, "no": False}[choice]
    return data, invert, what


run = pick_run("pred_run")  # stops the page with a hint when there are no runs
info = run.data_info
training = run.state in ("running", "paused")
path = run.checkpoint("last" if training else "best")
if path is None or info is None:
    st.info("This run has no checkpoint yet: it saves one at the end of each epoch. Come back in a moment.")
    st.stop()
mtime = path.stat().st_mtime
epoch = checkpoint_epoch(str(path), path.stat().st_mtime)
epoch_text = f"epoch {epoch + 1}" if isinstance(epoch, int) else "an unknown epoch"
st.caption(f"Using the **{path.stem}** checkpoint of {run.config.model} on {run.config.dataset} ({epoch_text}"
           + (", still training" if training else "") + f"). Classes: {plain(', '.join(map(str, info['classes'])))}.")
try:
    model = load_model(str(run.path), path.stem, mtime)
except (ValueError, OSError, RuntimeError) as exc:  # RunError and friends: one sentence, no traceback
    st.error(f"Cannot load this run's network: {plain(exc)}")
    st.stop()

picture, invert, what = picture_input(info, camera_first=made_with_the_camera(run.config))
image = None
if isinstance(picture, bytes):
    try:
        image = images.decode_upload(picture)
    except ValueError as exc:
        st.error(f"Cannot use {what}: {plain(exc)}")
elif isinstance(picture, Image.Image):
    image = picture

if image is not None:
    prepared = evaluation.preprocess_image(image, info, invert=invert)
    probabilities = evaluation.predict(model, prepared.model_input)[0]
    best = int(probabilities.argmax())
    classes = [str(c) for c in info["classes"]]

    left, right = st.columns([1, 2])
    with left:
        channels, height, width = prepared.display.shape
        st.image(evaluation.to_display_array(prepared.display, min_size=196),
                 caption=f"What the model sees: {channels}×{height}×{width}")
        st.markdown("**What was done to your picture**\n" + "\n".join(f"- {n}" for n in prepared.notes))
    with right:
        st.metric("Prediction", plain(classes[best]), f"{float(probabilities[best]):.1%} sure", delta_color="off",
                  delta_arrow="off")
        st.plotly_chart(eval_figures.probability_bars(probabilities, classes, top=10), key="pred_probabilities")

    st.subheader("Where did it look?")
    has_conv = any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    methods = (["Grad-CAM"] if has_conv else []) + ["Saliency (input gradient)"]
    a, b = st.columns(2)
    method = a.radio("Method", methods, horizontal=True, key="pred_explain",
                     help="Grad-CAM: which regions of the last convolution's maps raise the class score. "
                          "Saliency: which pixels would change the score most if nudged.")
    # "the prediction" follows each new picture; a fixed class stays until the user changes it. The options'
    # text never changes (the browser keeps the text it showed: "the prediction (7)" would outlive a new
    # prediction of 8), so the current prediction is in the label, which is redrawn on every run.
    choice = b.selectbox(f"Explain the class (the prediction is {plain(classes[best])})", ["the prediction", *classes],
                         key="pred_target")
    target = classes[best] if choice == "the prediction" else choice
    # A private copy: hooks on the shared cached model could catch another user's forward pass.
    explain_model = copy.deepcopy(model)
    target_index = classes.index(target)
    if method == "Grad-CAM":
        heat = saliency.grad_cam(explain_model, prepared.model_input, target=target_index)
    else:
        heat = saliency.saliency_map(explain_model, prepared.model_input, target=target_index)
    which = " (the prediction)" if target == classes[best] else f" (the prediction is {classes[best]})"
    st.plotly_chart(eval_figures.saliency_overlay(prepared.display, heat, title=f"{method}: {target}{which}"),
                    key="pred_saliency")
    if float(heat.max()) == 0:
        st.caption(f"The map is empty: no region pushes the score of **{plain(target)}** up (Grad-CAM keeps only "
                   "positive evidence). Try another class, or the saliency method.")

st.subheader("Take the network with you")
input_shape = (int(info["channels"]), *(int(s) for s in info["image_size"]))
c = st.columns(2)
c[0].download_button("Download the weights (.pt state_dict)", weights_file(str(run.path), path.stem, mtime),
                     file_name=f"{run.run_id}.pt", mime="application/octet-stream", key="pred_download_pt",
                     help="model.load_state_dict(torch.load(path, weights_only=True)) on the same architecture")
# A callback, not the button's return value: the request survives a rerun of the script (Streamlit drops a
# button's True when the run it was meant for restarts), and stays for this run's checkpoint only.
c[1].button("Prepare an ONNX export", key="pred_onnx_prepare",
            on_click=st.session_state.update, kwargs={"pred_onnx_for": (run.run_id, mtime)})
if st.session_state.get("pred_onnx_for") == (run.run_id, mtime):
    try:
        onnx = onnx_file(str(run.path), path.stem, mtime, input_shape)
    except ValueError as exc:
        st.error(str(exc))
    else:
        c[1].download_button("Download the ONNX model", onnx, file_name=f"{run.run_id}.onnx",
                             mime="application/octet-stream", key="pred_download_onnx",
                             help=f"Input 'image' (batch×{'×'.join(map(str, input_shape))}, normalised); "
                                  "output logits.")
