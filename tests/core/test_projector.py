"""Embedding projector: penultimate features, PCA as scikit-learn computes it, t-SNE, the sample bound, the figure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from torch import nn

from vision_core.analysis import projector
from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.figures import projector as figures
from vision_core.figures.frozen import FrozenFigure
from vision_core.models import zoo as models
from vision_core.runs import store as runs
from vision_core.training import engine
from vision_core.training.snapshots import load_snapshots

FAST = {"limit_train_batches": 6, "limit_val_batches": 2, "limit_test_batches": 2}


def lenet_and_digits():
    data = datasets.load("digits")
    torch.manual_seed(0)
    return models.build("lenet", in_channels=1, num_classes=10, image_size=32), data


def test_penultimate_features_are_the_last_linears_input():
    model, data = lenet_and_digits()
    features, logits = projector.penultimate_features(model, data.test.images[:10], data.normalize)
    assert features.shape == (10, 84) and logits.shape == (10, 10)
    torch.testing.assert_close(model.fc3(features), logits)
    assert model.training  # the mode is restored


def test_the_2d_pca_equals_scikit_learns_pca_on_the_same_features():
    model, data = lenet_and_digits()
    features, _ = projector.penultimate_features(model, data.test.images, data.normalize)
    ours = projector.pca_2d(features).double().numpy()
    theirs = PCA(n_components=2, svd_solver="full").fit_transform(features.double().numpy())
    np.testing.assert_allclose(ours, theirs, atol=1e-4 * np.abs(theirs).max())


def test_embed_bounds_the_points_and_marks_the_mistakes():
    model, data = lenet_and_digits()
    e = projector.embed(model, data.test, data.normalize, max_points=100)
    assert e.coords.shape == (100, 2) and e.feature_size == 84
    assert len(set(e.indices.tolist())) == 100 and e.indices.tolist() == sorted(e.indices.tolist())
    assert e.labels.equal(data.test.labels[e.indices])
    assert e.wrong.any()  # untrained: most are wrong
    assert projector.sample_indices(50, 2000).tolist() == list(range(50))
    assert len(projector.sample_indices(10_000)) == projector.MAX_POINTS
    with pytest.raises(ValueError, match="method must be one of"):
        projector.embed(model, data.test, data.normalize, method="umap")
    with pytest.raises(ValueError, match="no Linear layer"):
        projector.embed(nn.Sequential(nn.Conv2d(1, 2, 3)), data.test, data.normalize)


def test_tsne_is_seeded_and_keeps_a_trained_models_classes_apart():
    # The one-hot labels as "features": t-SNE must put the classes in separate clusters, the same way twice.
    labels = torch.arange(10).repeat(12)
    features = torch.nn.functional.one_hot(labels, 10).float() + 0.01 * torch.randn(120, 10)
    a, b = projector.tsne_2d(features, seed=1), projector.tsne_2d(features, seed=1)
    assert a.shape == (120, 2) and torch.equal(a, b)
    centres = torch.stack([a[labels == k].mean(0) for k in range(10)])
    spread = max(float((a[labels == k] - centres[k]).norm(dim=1).max()) for k in range(10))
    gaps = torch.cdist(centres, centres) + torch.eye(10) * 1e9
    assert spread < float(gaps.min())


def test_the_initial_model_is_the_one_training_started_from(tmp_path):
    engine.train(RunConfig(dataset="digits", model="lenet", epochs=1, snapshot_every=2, seed=7), root=tmp_path,
                 trainer_options=FAST)
    (run,) = runs.list_runs(tmp_path)
    first = load_snapshots(run.path)[0][0]
    assert first.step == 0
    initial = runs.initial_model(run)
    torch.testing.assert_close(initial.conv1.weight.detach().half().float(), first.filters)
    assert not torch.equal(initial.conv1.weight, runs.load_model(run, "best").conv1.weight)


def test_the_scatter_colours_by_class_crosses_the_mistakes_and_carries_the_index():
    coords = torch.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    labels, preds, indices = torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), torch.tensor([5, 9, 12])
    fig = figures.embedding_scatter(coords, labels, preds, indices, ["zero", "one"], "after")
    assert [t.name for t in fig.data] == ["zero", "one"]
    assert list(fig.data[1].marker.symbol) == ["x", "circle"]
    assert [list(c) for c in fig.data[1].customdata] == [[9, "one", "zero"], [12, "one", "one"]]
    assert "1 misclassified" in fig.layout.title.text
    for shown in (fig, FrozenFigure(fig)):  # as built, and as the page keeps it for every student
        assert figures.clicked_index(shown, [{"curve_number": 1, "point_index": 1}]) == 12
        assert figures.clicked_index(shown, [{"customdata": [5, "zero", "zero"]}]) == 5
        assert figures.clicked_index(shown, [{"curve_number": 7, "point_index": 0}]) is None
        assert figures.clicked_index(shown, []) is None
