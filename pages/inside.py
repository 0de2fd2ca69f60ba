"""Inside the network: a trained (or still training) CNN's filters, feature maps, favourite images, time-lapse,
weights and gradients over training (with the vanishing-gradients lesson) and the embedding projector."""

import json
import random

import streamlit as st

from ui import inside_figures as shown
from ui.frame import ensure_app_frame
from ui.inside_weights import weights_section
from ui.kept import kept
from ui.projector import projector_section
from ui.run_picker import pick_run
from ui.text import plain
from vision_core.analysis import inspection
from vision_core.figures import inspection as inspect_figures
from vision_core.figures import training as figures
from vision_core.runs import store as runs
from vision_core.training import snapshots

ensure_app_frame()  # a cold server's first request goes through app.py

st.title("🔬 Inside the network")


@st.cache_data(max_entries=32, show_spinner=False)
def checkpoint_epoch(path: str, mtime: float) -> int | None:
    return runs.checkpoint_epoch(path)


@st.cache_resource(max_entries=4, show_spinner="Reading the time-lapse…")
def load_time_lapse(run_path: str, mtime: float):
    """Read once per version of snapshots.pt (it is rewritten at every epoch end of a running job)."""
    return snapshots.load_snapshots(run_path)


def random_image(count: int) -> None:
    st.session_state["inside_image"] = random.randrange(count)


# --------------------------------------------------------------------------- which run, which weights

run = pick_run("inside_run")  # stops the page with a hint when there are no runs
running = run.state in ("running", "paused")
if running:
    path = run.checkpoint("last")
else:
    which = st.radio("Checkpoint", ["best", "last"], horizontal=True, key="inside_checkpoint",
                     help="best = lowest validation loss; last = the end of the latest epoch")
    path = run.checkpoint(which)
if path is None:
    st.info("This run has no checkpoint yet: it saves one at the end of each epoch. Come back in a moment.")
    st.stop()
mtime = path.stat().st_mtime
epoch = checkpoint_epoch(str(path), mtime)
epoch_text = f"epoch {epoch + 1}" if isinstance(epoch, int) else "an unknown epoch"
if running:
    st.caption(f"⏳ Still {run.state}: showing its latest checkpoint, saved in {epoch_text}. "
               "Reload the page for a newer one; the time-lapse below follows on its own.")
else:
    st.caption(f"Showing the **{path.stem}** checkpoint ({epoch_text}) of {run.config.model} "
               f"trained on {run.config.dataset}.")

dataset_key = (run.config.dataset, json.dumps(run.config.dataset_options, sort_keys=True))
try:
    model = shown.load_model(str(run.path), path.stem, mtime)
    dataset = shown.load_dataset(*dataset_key)
except (ValueError, OSError, RuntimeError) as exc:  # RunError, DatasetNotFoundError, shape problems
    st.error(f"Cannot open {run.run_id}: {plain(exc)}")
    st.stop()

classes = list(dataset.classes)
layers = inspection.layer_names(model)
checkpoint = (str(run.path), path.stem, mtime)  # what the figures of ui/inside_figures.py are cached by

filters_tab, maps_tab, top_tab, lapse_tab, weights_tab, projector_tab = st.tabs(
    ["First-layer filters", "Feature maps", "Top activating images", "Training time-lapse", "Weights & gradients",
     "Embedding projector"])

# --------------------------------------------------------------------------- filters

with filters_tab:
    try:
        (o, c, kh, kw), filters = shown.filters_figure(*checkpoint)
    except ValueError as exc:
        st.info(str(exc))
    else:
        colour = {1: "as grey pictures", 3: "in colour (one RGB picture per filter)"}.get(
            c, "one grey tile per input channel")
        st.caption(f"The {o} filters of the first convolution, {c}×{kh}×{kw} weights each, drawn {colour}. "
                   "Each filter is scaled on its own: its most negative weight black, its most positive white. "
                   "A filter answers strongest where the image looks like its bright parts and unlike its dark ones.")
        st.plotly_chart(filters, key="inside_filters_chart")

# --------------------------------------------------------------------------- feature maps

with maps_tab:
    if not layers:
        st.info(f"{run.config.model} has no convolution or pooling layers: it flattens the image straight away, "
                "so there are no feature maps to see.")
    else:
        count = len(dataset.test)
        left, right = st.columns([4, 1])
        right.button("🎲 Random image", key="inside_random", on_click=random_image, args=(count,))
        index = left.slider("Test image", 0, count - 1, kept("inside_image", 0), key="inside_image")
        image, label = dataset.test[index]
        picture, explain = st.columns([1, 3])
        explain.markdown(
            "Every layer turns its input into a stack of **feature maps**, one per channel. "
            "Red = positive, blue = negative, white = zero; all channels of a layer share one colour scale, "
            "so a pale channel barely responds to this image. Pooling halves the maps, ReLU wipes out the blue.")
        every = explain.toggle("Also show the ReLU and BatchNorm outputs", value=False, key="inside_maps_all")
        said, panels = shown.feature_maps_view(*checkpoint, dataset_key, index, every)
        picture.image(figures.to_display(image.unsqueeze(0), 168)[0],
                      caption=f"#{index}: {plain(classes[label])} · the network says {plain(said)}")
        for (line, figure), name in zip(panels, layers if every else inspection.conv_and_pool_names(model)):
            st.markdown(line)
            st.plotly_chart(figure, key=f"inside_maps_{name}")

# --------------------------------------------------------------------------- top activating images

with top_tab:
    if not layers:
        st.info("No convolution channels to rank images by.")
    else:
        default = inspection.conv_and_pool_names(model) or layers
        a, b, d = st.columns(3)
        layer = a.selectbox("Layer", layers, index=layers.index(default[0]), key="inside_top_layer")
        channels = shown.channel_count(*checkpoint, dataset_key, layer)
        if st.session_state.get("inside_top_channel", 0) >= channels:
            st.session_state["inside_top_channel"] = 0  # the previous layer had more channels
        channel = b.number_input("Channel", 0, channels - 1, kept("inside_top_channel", 0), key="inside_top_channel")
        reduce = d.radio("Score", ["mean", "max"], horizontal=True, key="inside_top_reduce",
                         format_func={"mean": "average over the map", "max": "strongest spot"}.get)
        scanned = min(shown.TOP_LIMIT, len(dataset.test))
        st.caption(f"The 9 of the first {scanned} test images for which channel {channel} of {layer} "
                   f"has the highest {'average' if reduce == 'mean' else 'peak'} activation: "
                   "what this channel has learned to look for.")
        try:
            top = shown.top_figure(*checkpoint, dataset_key, layer, int(channel), reduce)
        except (ValueError, RuntimeError) as exc:
            st.error(f"Cannot rank the images: {plain(exc)}")
        else:
            st.plotly_chart(top, key="inside_top_chart")

# --------------------------------------------------------------------------- time-lapse
# One animated figure per version of snapshots.pt and layer: the browser plays and scrubs it (no request per
# frame). While the run trains, a small timed fragment only checks the file and redraws the page when it changed.


@st.cache_resource(max_entries=8, show_spinner="Preparing the time-lapse…")
def time_lapse_figure(run_path: str, mtime: float, layer: str):
    snaps, _ = load_time_lapse(run_path, mtime)
    return inspect_figures.time_lapse_animation(snaps, layer)


def snapshots_mtime(run_path: str) -> float | None:
    file = runs.reload(run_path).path / "snapshots.pt"
    return file.stat().st_mtime if file.is_file() else None


@st.fragment(run_every=2 if running else None)
def watch_time_lapse(run_path: str, state: str, shown_mtime: float | None) -> None:
    """While the run trains: redraw the page once when it finishes or saves new snapshots (each epoch end)."""
    if runs.reload(run_path).state != state or snapshots_mtime(run_path) != shown_mtime:
        st.rerun(scope="app")


@st.fragment
def time_lapse(run_path: str, mtime: float | None) -> None:
    """The layer picker reruns only this part."""
    current = runs.reload(run_path)
    snaps, _ = load_time_lapse(run_path, mtime) if mtime is not None else ([], None)
    if not snaps:
        if not current.config.snapshot_every:
            st.info("This run was trained without snapshots (snapshot every 0 steps), so it has no time-lapse.")
        elif current.state in ("running", "paused"):
            st.info("No time-lapse yet: snapshots are saved at the end of each epoch.")
        else:
            st.info("This run saved no time-lapse (there is no readable snapshots.pt in its folder).")
        return
    names = list(snaps[-1].feature_maps)
    if st.session_state.get("inside_lapse_layer") not in names:
        st.session_state.pop("inside_lapse_layer", None)  # another run, other layers
    probe, probe_label = dataset.test[0]
    picture, text, choice = st.columns([1, 3, 1], vertical_alignment="bottom")
    layer = choice.selectbox("Probe maps of", names, key="inside_lapse_layer")
    picture.image(figures.to_display(probe.unsqueeze(0), 120)[0],
                  caption=f"probe: test image #0 ({plain(classes[probe_label])})")
    text.caption(f"{len(snaps)} snapshots, one every {current.config.snapshot_every} steps (thinned to at most "
                 f"{snapshots.MAX_SNAPSHOTS}). Press ▶ Play, or slide back to step 0, to watch random filters turn "
                 "into edge and blob detectors and the probe's maps sharpen (in your browser: no wait). One colour "
                 "scale for all steps." + (" Updated at each epoch end." if running else ""))
    st.plotly_chart(time_lapse_figure(run_path, mtime, layer), key="inside_lapse_chart",
                    config={"displaylogo": False})


with lapse_tab:
    lapse_mtime = snapshots_mtime(str(run.path))
    time_lapse(str(run.path), lapse_mtime)
    if running:
        watch_time_lapse(str(run.path), run.state, lapse_mtime)

# --------------------------------------------------------------------------- weights and gradients, projector

with weights_tab:
    weight_snaps, _ = load_time_lapse(str(run.path), lapse_mtime) if lapse_mtime is not None else ([], None)
    weights_section(str(run.path), lapse_mtime, weight_snaps, run.config.snapshot_every)

with projector_tab:
    projector_section(run, path.stem, mtime, dataset_key, dataset)
