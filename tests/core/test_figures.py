"""The training chart: smoothing equals the textbook loop, display downsampling keeps what matters, one colour
per split in every panel, the learning rate from step 0, a clear empty state, a figure Plotly accepts."""

from __future__ import annotations

import copy
import itertools
import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
import torch

from vision_core.analysis import inspection
from vision_core.figures import inspection as inspect_figures
from vision_core.figures import training as figures


def reference_smooth(values, weight):
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**i))
    return out


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.9, 0.99, 0.999])
@pytest.mark.parametrize("n", [1, 2, 7, 131, 1000, 5003])
def test_smooth_equals_the_loop(weight, n):
    values = np.random.default_rng(n).normal(1.0, 0.5, n) * 10.0 ** np.random.default_rng(1).integers(-3, 3)
    np.testing.assert_allclose(figures.smooth(values, weight), reference_smooth(values, weight), rtol=1e-9,
                               atol=1e-12)


def test_smooth_rejects_a_weight_outside_0_1():
    with pytest.raises(ValueError, match="weight"):
        figures.smooth([1.0], 1.0)


def buckets_of(x: np.ndarray, count: int) -> list[np.ndarray]:
    """The documented buckets, written out slowly: equal x-ranges over the points between the first and last."""
    inner = np.arange(1, len(x) - 1)
    edges = x[0] + (x[-1] - x[0]) * np.arange(count + 1) / count
    return [inner[(x[inner] >= lo) & ((x[inner] < hi) | (b == count - 1))]
            for b, (lo, hi) in enumerate(itertools.pairwise(edges))]


def series(n: int, seed: int, even: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.arange(n, dtype=float) * 3 if even else np.cumsum(rng.exponential(1.0, n))
    y = np.exp(-np.arange(n) / n) + rng.normal(0, 0.1, n)
    y[rng.integers(1, n - 1, 5)] += rng.choice([-5.0, 5.0], 5)  # a few spikes a chart must not lose
    return x, y


@pytest.mark.parametrize("n, seed, even", [(501, 0, True), (2000, 1, True), (20_000, 2, True), (3000, 3, False),
                                           (10_007, 4, False)])
def test_downsample_keeps_the_ends_and_every_buckets_min_and_max(n, seed, even):
    x, y = series(n, seed, even)
    original = (x.copy(), y.copy())
    dx, dy = figures.downsample(x, y)
    assert len(dx) <= figures.MAX_POINTS
    np.testing.assert_array_equal(x, original[0])  # the full history is untouched
    np.testing.assert_array_equal(y, original[1])
    assert (dx[0], dy[0], dx[-1], dy[-1]) == (x[0], y[0], x[-1], y[-1])
    assert np.all(np.diff(dx) > 0)  # a subset of the points, in order
    kept = set(zip(dx.tolist(), dy.tolist()))
    assert kept <= set(zip(x.tolist(), y.tolist()))
    for members in buckets_of(x, (figures.MAX_POINTS - 2) // 2):
        if len(members):
            assert (x[members[y[members].argmin()]], y[members].min()) in kept
            assert (x[members[y[members].argmax()]], y[members].max()) in kept
    assert y.max() in dy and y.min() in dy  # so every spike


def test_downsample_leaves_short_lines_alone_and_checks_its_input():
    x, y = series(400, 5)
    dx, dy = figures.downsample(x, y)
    np.testing.assert_array_equal(dx, x)
    np.testing.assert_array_equal(dy, y)
    with pytest.raises(ValueError, match="one length"):
        figures.downsample([1, 2, 3], [1, 2])
    assert len(figures.downsample(*series(1000, 6), max_points=50)[0]) <= 50


def snapshot(points: int = 300, epochs: int = 3, **extra) -> dict:
    rng = np.random.default_rng(points)
    per_epoch = max(points // epochs, 1)
    steps = [(i, float(2 / (1 + i / 50) + rng.normal(0, 0.05)), float(min(1.0, i / points + rng.normal(0, 0.05))))
             for i in range(points)]
    records = [{"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.5 + e / 10, "val_loss": 1.1 / e,
                "val_acc": 0.45 + e / 10, "lr": 0.01 / e, "seconds": 1.0} for e in range(1, epochs + 1)]
    return {"steps": steps, "epochs": records, "steps_per_epoch": per_epoch, "status": "running",
            "step": points - 1, **extra}


def panel_traces(fig: go.Figure, axis: str) -> list:
    return [t for t in fig.data if (t.xaxis or "x") == axis]


def test_train_and_validation_each_have_one_colour_in_loss_and_accuracy():
    fig = figures.training_curves(snapshot())
    loss, accuracy = panel_traces(fig, "x"), panel_traces(fig, "x2")
    assert loss and accuracy
    for traces in (loss, accuracy):
        names = {t.name for t in traces}
        assert "validation" in names and "train (smoothed)" in names and "train (epoch average)" in names
        for t in traces:
            colour = t.line.color
            if t.name == "validation":
                assert colour == figures.VAL_COLOR and t.marker.color in (None, figures.VAL_COLOR)
            else:  # every train trace, raw ones faint: the same hue
                assert t.name.startswith("train")
                assert colour in (figures.TRAIN_COLOR, figures.TRAIN_RAW_COLOR)
                assert t.marker.color in (None, figures.TRAIN_COLOR)
    assert figures.TRAIN_COLOR != figures.VAL_COLOR
    # One legend entry per kind, shared by both panels (clicking it hides that kind everywhere).
    shown = [t.legendgroup for t in fig.data if t.showlegend]
    assert len(shown) == len(set(shown)) == len({t.legendgroup for t in fig.data})


def test_every_trace_is_downsampled_and_the_snapshot_untouched():
    snap = snapshot(20_000, epochs=600)
    before = copy.deepcopy(snap)
    fig = figures.training_curves(snap)
    assert snap == before
    assert all(len(t.x) <= figures.MAX_POINTS for t in fig.data)
    raw = next(t for t in fig.data if t.name == "train, each step")
    losses = [s[1] for s in snap["steps"]]
    assert raw.x[0] == 0 and raw.x[-1] == 19_999
    assert np.isclose(raw.y.max(), max(losses), rtol=1e-6) and np.isclose(raw.y.min(), min(losses), rtol=1e-6)


def lr_trace(fig: go.Figure):
    return next(t for t in fig.data if t.name == "learning rate")


def test_the_learning_rate_starts_at_step_0():
    fig = figures.training_curves(snapshot(300, epochs=3))
    lr = lr_trace(fig)
    assert lr.xaxis == "x3" and lr.line.shape == "hv"
    assert list(lr.x) == [0, 100, 200, 300] and np.allclose(lr.y, [0.01, 0.005, 0.01 / 3, 0.01 / 3])
    # A run in its first epoch has no epoch record yet: the current rate still shows, from step 0 to now.
    early = snapshot(40, epochs=1, lr=0.002)
    early["epochs"] = []
    lr = lr_trace(figures.training_curves(early))
    assert list(lr.x) == [0, 39] and np.allclose(lr.y, [0.002, 0.002])


@pytest.mark.parametrize("status, words", [("queued", "Queued"), ("running", "Starting"),
                                           ("finished", "No training metrics")])
def test_no_data_yet_is_one_sentence_not_empty_axes(status, words):
    fig = figures.training_curves({"steps": [], "epochs": [], "steps_per_epoch": 0, "status": status})
    assert not fig.data
    (note,) = fig.layout.annotations
    assert words in note.text
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False
    assert "step" not in json.dumps(fig.layout.to_plotly_json()).lower().replace("first training step", "")


def test_a_finished_run_from_metrics_csv_draws_without_step_accuracy():
    snap = snapshot(200, epochs=2)
    snap["steps"] = [(s, loss, float("nan")) for s, loss, _ in snap["steps"]]  # metrics.csv has no step accuracy
    fig = figures.training_curves(snap, title="lenet · 1234")
    accuracy = panel_traces(fig, "x2")
    assert {t.name for t in accuracy} == {"validation", "train (epoch average)"}
    assert fig.layout.title.text == "lenet · 1234"


@pytest.mark.parametrize("title", ["", "lenet · 1234"])
@pytest.mark.parametrize("epochs", [10, 600])
def test_the_figure_is_valid_plotly_and_small(title, epochs):
    import streamlit.elements.plotly_chart  # noqa: F401 — as in the server: Streamlit's template is the default

    fig = figures.training_curves(snapshot(20_000, epochs=epochs, lr=0.001), title=title)
    sent = pio.to_json(fig.to_dict(), validate=False)
    # A validating build of the same dicts agrees (training_curves skips Plotly's validation for speed).
    assert json.loads(pio.to_json(go.Figure(fig.to_dict()), validate=False)) == json.loads(sent)
    assert len(sent.encode()) < 30_000  # what every viewer receives about once a second


@pytest.mark.parametrize("build", [
    lambda: inspect_figures.filter_grid(inspection.filters_as_images(torch.randn(6, 1, 5, 5))),
    lambda: inspect_figures.filter_grid(inspection.filters_as_images(torch.randn(5, 3, 3, 3)), cols=4),
    lambda: inspect_figures.feature_map_grid(torch.randn(20, 7, 9), max_channels=16),
    lambda: inspect_figures.time_lapse_frame(torch.randn(6, 1, 5, 5), torch.randn(16, 10, 10), "conv2", 40, 1),
], ids=["grey filters", "rgb filters", "feature maps", "time-lapse frame"])
def test_the_tile_figures_are_valid_plotly(build):
    """The tile grids skip Plotly's validation for speed: a validating build of the same dicts agrees."""
    fig = build()
    sent = json.loads(pio.to_json(fig.to_dict(), validate=False))
    assert json.loads(pio.to_json(go.Figure(fig.to_dict()), validate=False)) == sent
    axes = [k for k in sent["layout"] if k.startswith("xaxis")]
    assert len(axes) >= len(sent["data"])  # one pair of axes per tile


def test_the_learning_rate_panel_shows_a_change_by_hand_where_it_happened():
    snap = {"steps": [(s, 1.0, 0.5) for s in range(1, 61)], "epochs": [], "steps_per_epoch": 100,
            "step": 60, "lr": 0.01, "lr_history": [(0, 0.002), (37, 0.01)]}
    fig = figures.training_curves(snap)
    lr = next(t for t in fig.data if t.name == "learning rate")
    assert list(lr.x) == [0, 37, 60] and list(lr.y) == [0.002, 0.01, 0.01]


def test_a_stopped_runs_partial_epoch_sits_at_its_last_step():
    snap = {"steps": [(s, 1.0, 0.5) for s in range(1, 131)], "steps_per_epoch": 100, "status": "stopped",
            "epochs": [{"epoch": 1, "train_loss": 1.0, "val_loss": 0.9}, {"epoch": 2, "train_loss": 0.8}]}
    fig = figures.training_curves(snap)
    epoch_loss = next(t for t in fig.data if t.name == "train (epoch average)")
    assert list(epoch_loss.x) == [100, 130]  # not 200: the run stopped at step 130
