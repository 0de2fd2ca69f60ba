"""Inside page: its network, data and figures, each made once per (checkpoint, what it shows) for every student.

Every page view, and every click anywhere on the page, reruns the whole page, all six tabs included. Building the
figures again each time (Plotly validates every property; the feature maps also run the network) cost ~0.4 s of
server CPU per page switch (py-spy of a served page, benchmarks/page_cost.py). A figure is a pure function of the
checkpoint (run folder, which, its mtime) and of the choices on the page, so it is cached by exactly those, in the
process: st.plotly_chart copies a figure and never changes it, so one object serves every session. Callers must not
change a figure they get from here either.
"""

from __future__ import annotations

import json

import streamlit as st
import torch

from ui.shared_figures import shared_figures
from vision_core.analysis import inspection
from vision_core.data import datasets
from vision_core.figures import inspection as inspect_figures
from vision_core.models import zoo as models
from vision_core.runs import store as runs

TOP_LIMIT = 2000  # test images scanned for "top activating" (enough to find good examples, fast on a CPU)


@st.cache_resource(max_entries=4, show_spinner="Loading the test data…")
def load_dataset(name: str, options_json: str):
    return datasets.load(name, **json.loads(options_json))


@st.cache_resource(max_entries=8, show_spinner="Loading the network…")
def load_model(run_path: str, which: str, checkpoint_mtime: float):
    """Shared by every session and never modified: inspection walks it layer by layer in eval mode."""
    return runs.load_model(runs.reload(run_path), which)


@shared_figures(max_entries=16)
def filters_figure(run_path: str, which: str, checkpoint_mtime: float):
    """(the first convolution's weights' shape, its filter grid); ValueError when the network has none."""
    weights = inspection.first_layer_filters(load_model(run_path, which, checkpoint_mtime))
    return tuple(weights.shape), inspect_figures.filter_grid(inspection.filters_as_images(weights))


def predicted_class(model, x: torch.Tensor, classes: list[str]) -> str:
    with torch.no_grad():
        logits = model(x)
    index = int(logits[0, 0] > 0) if logits.shape[1] == 1 else int(logits.argmax(1))  # one logit = BCE
    return classes[index]


@shared_figures(max_entries=64)
def feature_maps_view(run_path: str, which: str, checkpoint_mtime: float, dataset_key: tuple, index: int,
                      every: bool) -> tuple[str, list[tuple[str, object]]]:
    """(what the network says test image ``index`` is, [(a line about a layer, its maps' figure)]): the conv and
    pooling layers, or ``every`` layer with the ReLU and BatchNorm outputs."""
    model = load_model(run_path, which, checkpoint_mtime)
    dataset = load_dataset(*dataset_key)
    image, _ = dataset.test[index]
    x = dataset.normalize(image.unsqueeze(0))
    maps = inspection.feature_maps(model, x)
    children = dict(model.named_children())
    shown = inspection.layer_names(model) if every else inspection.conv_and_pool_names(model)
    panels = []
    for name in shown:
        out = maps[name]
        more = f" (first 16 of {out.shape[0]} channels)" if out.shape[0] > 16 else ""
        line = f"**{name}** · {models.describe(children[name])} → {out.shape[0]}×{out.shape[1]}×{out.shape[2]}{more}"
        panels.append((line, inspect_figures.feature_map_grid(out)))
    return predicted_class(model, x, list(dataset.classes)), panels


@st.cache_resource(max_entries=32, show_spinner=False)
def channel_count(run_path: str, which: str, checkpoint_mtime: float, dataset_key: tuple, layer: str) -> int:
    dataset = load_dataset(*dataset_key)
    model = load_model(run_path, which, checkpoint_mtime)
    return int(inspection.feature_maps(model, dataset.normalize(dataset.test[0][0]), [layer])[layer].shape[0])


@shared_figures(max_entries=64, show_spinner="Scoring the test images…")
def top_figure(run_path: str, which: str, checkpoint_mtime: float, dataset_key: tuple, layer: str, channel: int,
               reduce: str):
    """The 9 of the first TOP_LIMIT test images on which ``channel`` of ``layer`` answers most, as a grid."""
    model = load_model(run_path, which, checkpoint_mtime)
    dataset = load_dataset(*dataset_key)
    images = dataset.normalize(dataset.test.images[:TOP_LIMIT].float() / 255)
    indices, scores = inspection.top_activating(model, layer, channel, images, k=9, reduce=reduce)
    indices = indices.tolist()
    labels = [dataset.classes[int(dataset.test.labels[i])] for i in indices]
    return inspect_figures.top_activating_grid(dataset.test.images[indices], indices, scores.tolist(), labels)
