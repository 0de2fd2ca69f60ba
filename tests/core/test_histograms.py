"""Weight and gradient histograms: every parameter counted, captured by a run's snapshots, the lesson's numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from vision_core.analysis.histograms import BINS, GRAD_LOG_RANGE, Histograms, grad_edges, layer_histograms
from vision_core.config import RunConfig
from vision_core.figures import histograms as figures
from vision_core.lessons import gradients
from vision_core.runs import store as runs
from vision_core.training import engine
from vision_core.training.snapshots import load_snapshots

FAST = {"limit_train_batches": 6, "limit_val_batches": 2, "limit_test_batches": 2}
LENET_LAYERS = {"conv1": 6 * 25 + 6, "conv2": 16 * 6 * 25 + 16, "fc1": 400 * 120 + 120, "fc2": 120 * 84 + 84,
                "fc3": 84 * 10 + 10}


def test_a_tiny_runs_snapshots_hold_histograms_that_count_every_parameter(tmp_path):
    engine.train(RunConfig(dataset="digits", model="lenet", epochs=1, snapshot_every=2), root=tmp_path,
                 trainer_options=FAST)
    (run,) = runs.list_runs(tmp_path)
    snaps, _ = load_snapshots(run.path)
    assert [s.step for s in snaps] == [0, 2, 4, 6]
    for snap in snaps:
        h = snap.histograms
        assert h.layers == list(LENET_LAYERS)
        assert h.weight_counts.shape == h.grad_counts.shape == (5, BINS)
        assert h.weight_counts.sum(1).tolist() == list(LENET_LAYERS.values())
        assert (h.weight_range[:, 0] <= h.weight_range[:, 1]).all()
    # The start has no gradient yet; every later snapshot counts every parameter's gradient once.
    assert snaps[0].histograms.grad_counts.sum() == 0 and snaps[0].histograms.grad_norm.isnan().all()
    for snap in snaps[1:]:
        assert snap.histograms.grad_counts.sum(1).tolist() == list(LENET_LAYERS.values())
        assert (snap.histograms.grad_norm > 0).all()
    # The last snapshot saw the weights the last checkpoint holds.
    model = runs.load_model(run, "last")
    expected = [torch.cat([p.reshape(-1) for p in getattr(model, name).parameters()]).norm() for name in LENET_LAYERS]
    torch.testing.assert_close(snaps[-1].histograms.weight_norm, torch.stack(expected).double(), rtol=1e-5, atol=1e-6)


def test_histograms_can_be_turned_off(tmp_path):
    from vision_core.data import datasets
    from vision_core.training.snapshots import SnapshotCallback

    callback = SnapshotCallback(tmp_path, 2, datasets.load("digits"), histograms=False)
    engine.train(RunConfig(dataset="digits", model="lenet", epochs=1, snapshot_every=0), root=tmp_path / "runs",
                 trainer_options=FAST, extra_callbacks=[callback])
    snaps, _ = load_snapshots(tmp_path)
    assert len(snaps) == 4 and all(s.histograms is None for s in snaps)


def test_values_land_in_the_right_bins():
    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[-1.0, 0.0], [0.5, 1.0]]))
        layer.bias.copy_(torch.tensor([1.0, 1.0]))
    layer.weight.grad = torch.tensor([[1e-3, -1e-3], [1e-6, 0.0]])  # a zero lands in the first bin
    layer.bias.grad = torch.tensor([1e5, 0.2])  # beyond the range: the last bin
    h = layer_histograms(nn.Sequential(layer), bins=4)
    assert h.layers == ["0"]
    assert h.weight_range.tolist() == [[-1.0, 1.0]]
    assert h.weight_counts.tolist() == [[1, 0, 1, 4]]  # edges -1, -0.5, 0, 0.5, 1: 0 and 0.5 open the next bins
    edges = grad_edges(4).tolist()  # -10, -7, -4, -1, 2
    assert edges == [-10.0, -7.0, -4.0, -1.0, 2.0]
    assert h.grad_counts.tolist() == [[1, 1, 2, 2]]  # 0 | 1e-6 | 1e-3 ×2 | 0.2, 1e5
    assert math.isclose(float(h.grad_norm[0]), float(torch.tensor([1e-3, 1e-3, 1e-6, 1e5, 0.2]).norm()), rel_tol=1e-6)


def test_frozen_parameters_count_as_weights_but_have_no_gradient():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    model[0].requires_grad_(False)
    model(torch.ones(4, 3)).sum().backward()
    h = layer_histograms(model)
    assert h.layers == ["0", "2"]  # the ReLU has no parameters
    assert h.weight_counts.sum(1).tolist() == [8, 3]
    assert h.grad_counts.sum(1).tolist() == [0, 3]
    assert math.isnan(float(h.grad_norm[0]))
    assert Histograms.from_dict(h.to_dict()).weight_counts.equal(h.weight_counts)
    with pytest.raises(ValueError, match="no parameters"):
        layer_histograms(nn.ReLU())
    assert GRAD_LOG_RANGE[0] < GRAD_LOG_RANGE[1]


def test_rebin_keeps_the_total():
    assert figures.rebin([0, 2], [4], [0, 1, 2]).tolist() == [2, 2]
    assert figures.rebin([1, 1], [3], [0, 1, 2]).tolist() == [0, 3]  # a zero-width bin goes whole
    out = figures.rebin(np.linspace(-0.3, 0.2, 9), np.arange(8), np.linspace(-1, 1, 17))
    assert out.sum() == pytest.approx(28)


def test_the_heatmaps_show_each_snapshot_as_shares(tmp_path):
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    before = layer_histograms(model)  # no gradient yet: a blank column
    model(torch.randn(5, 4)).sum().backward()
    with torch.no_grad():
        model[0].weight.mul_(3)
    after = layer_histograms(model)
    fig = figures.weight_heatmap([0, 1], [before, after], "0")
    z = np.array(fig.data[0].z, dtype=float)
    assert z.shape == (figures.WEIGHT_ROWS, 2) and np.allclose(z.sum(0), 1)
    # the common axis spans the widest range seen
    assert fig.data[0].y[0] < float(after.weight_range[0, 0]) + 0.1 and fig.data[0].y[-1] > 0
    grads = np.array(figures.gradient_heatmap([0, 1], [before, after], "1").data[0].z, dtype=float)
    assert np.isnan(grads[:, 0]).all() and np.isclose(np.nansum(grads[:, 1]), 1)
    lines = figures.gradient_norm_lines([0, 1], [before, after])
    assert [t.name for t in lines.data] == ["0", "1"] and list(lines.data[0].x) == [1]


def test_sigmoid_gradients_vanish_in_the_first_layers_relu_and_batchnorm_keep_them():
    """The lesson's claim, measured on the built-in digits (asserted loosely: measured ~8,000× here)."""
    results = {v: gradients.train_variant(*v, steps=20) for v in gradients.VARIANTS}
    sigmoid, relu = results[("sigmoid", False)], results[("relu", False)]
    assert sigmoid.first_layer_grad_norm() * 10 <= relu.first_layer_grad_norm()
    # within the sigmoid network: the first layer's gradient is far smaller than the last's
    first = sigmoid.histograms[0]
    assert first.grad_norm[0] * 100 <= first.grad_norm[-1]
    # BatchNorm brings the sigmoid network's first layer back
    assert results[("sigmoid", True)].first_layer_grad_norm() >= 10 * sigmoid.first_layer_grad_norm()
    assert sigmoid.steps == [1, 10, 20] and len(sigmoid.losses) == 20
    assert set(sigmoid.histograms[0].layers) == {f"fc{i}" for i in range(1, 10)}
    assert set(results[("relu", True)].histograms[0].layers) >= {"bn1", "fc9"}
