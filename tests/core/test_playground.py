"""The 2-D playground: the tutorial's XOR, the toy data sets, the MLP, live optimiser changes, the pictures."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
import torch

from vision_core.figures import playground as pf
from vision_core.lessons.playground import (
    DATASETS,
    Playground,
    build_mlp,
    make_data,
    one_thread,
    thin,
    unit_range,
)


def tutorial_xor(seed: int = 0) -> Playground:
    """The Lightning tutorial's first model: 2-4-1, sigmoid, MSE, Adam lr 0.01, on the four XOR points."""
    return Playground(make_data("xor4"), hidden=(4,), activation="sigmoid", loss="mse", optimizer="adam",
                      lr=0.01, seed=seed)


@pytest.mark.parametrize("seed", range(5))
def test_the_tutorials_xor_reaches_100_percent_on_the_four_points(seed):
    pg = tutorial_xor(seed)
    assert pg.metrics()["train_acc"] < 1.0  # it starts wrong
    pg.train(2000)
    assert pg.metrics()["train_acc"] == 1.0
    with torch.no_grad():
        outputs = pg.model(torch.tensor([[0.0, 0], [0, 1], [1, 0], [1, 1]])).squeeze(-1)
    assert torch.equal(outputs.round(), torch.tensor([0.0, 1, 1, 0]))  # the tutorial's rounding


def test_a_linear_model_cannot_learn_xor():
    pg = Playground(make_data("xor4"), hidden=(), loss="mse", optimizer="adam", lr=0.05)
    pg.train(1000)
    assert pg.metrics()["train_acc"] <= 0.75  # no straight line separates XOR


def test_the_tutorial_model_has_the_tutorials_shape():
    model = build_mlp((4,), "sigmoid")
    assert [type(m).__name__ for m in model] == ["Linear", "Sigmoid", "Linear"]
    assert sum(p.numel() for p in model.parameters()) == 2 * 4 + 4 + 4 + 1
    assert [m.out_features for m in build_mlp((8, 3, 5), "relu") if isinstance(m, torch.nn.Linear)] == [8, 3, 5, 1]


@pytest.mark.parametrize("hidden", [(0,), (17,), (True,), (1.5,), (2,) * 7])
def test_impossible_layers_are_refused_with_the_reason(hidden):
    with pytest.raises(ValueError, match="units|at most"):
        build_mlp(hidden)


@pytest.mark.parametrize("name", sorted(set(DATASETS) - {"xor4"}))
def test_every_data_set_is_a_stratified_binary_split(name):
    data = make_data(name, n=200, noise=0.1, test_fraction=0.25, seed=3)
    assert data.x_train.shape == (150, 2) and data.x_test.shape == (50, 2)
    assert data.x_train.dtype == torch.float32
    for y in (data.y_train, data.y_test):
        assert set(y.tolist()) == {0.0, 1.0}
        assert abs(float(y.mean()) - 0.5) < 0.05  # both classes in both splits, balanced
    x0, x1, y0, y1 = data.bounds
    everything = torch.cat([data.x_train, data.x_test])
    assert x0 <= everything[:, 0].min() and everything[:, 0].max() <= x1
    assert y0 <= everything[:, 1].min() and everything[:, 1].max() <= y1
    again = make_data(name, n=200, noise=0.1, test_fraction=0.25, seed=3)
    assert torch.equal(data.x_train, again.x_train)  # the seed decides
    assert not torch.equal(data.x_train, make_data(name, n=200, noise=0.1, test_fraction=0.25, seed=4).x_train)


def test_noise_moves_the_points():
    clean, noisy = make_data("moons", noise=0.0), make_data("moons", noise=0.3)
    assert clean.x_train.shape == noisy.x_train.shape and not torch.allclose(clean.x_train, noisy.x_train)


def test_xor4_is_the_tutorials_four_points_for_train_and_test():
    data = make_data("xor4")
    assert data.x_train.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and data.y_train.tolist() == [0, 1, 1, 0]
    assert data.same_split and not make_data("xor").same_split


@pytest.mark.parametrize("kwargs, message", [({"name": "swirl"}, "unknown dataset"), ({"n": 3}, "from 8"),
                                             ({"noise": -1}, "noise"), ({"test_fraction": 1.0}, "test_fraction")])
def test_bad_data_settings_say_why(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_data(**{"name": "moons", **kwargs})


def test_cross_entropy_learns_two_moons_and_its_loss_is_bce_with_logits():
    pg = Playground(make_data("moons", n=300, noise=0.1), hidden=(8, 8), activation="tanh", loss="cross_entropy",
                    optimizer="adam", lr=0.03)
    pg.train(400)
    m = pg.metrics()
    assert m["train_acc"] > 0.95 and m["test_acc"] > 0.9
    with torch.no_grad():
        expected = torch.nn.functional.binary_cross_entropy_with_logits(
            pg.model(pg.data.x_test).squeeze(-1), pg.data.y_test)
    assert m["test_loss"] == pytest.approx(float(expected), rel=1e-6)
    assert len(pg.history.step) == 401 and pg.history.step[-1] == 400


def test_changing_the_learning_rate_keeps_the_weights_and_the_adam_state():
    pg = tutorial_xor()
    pg.train(10)
    optimizer, weights = pg.optimizer, [p.detach().clone() for p in pg.model.parameters()]
    pg.set_optimizer("adam", 0.1, 0.001)
    assert pg.optimizer is optimizer and [g["lr"] for g in optimizer.param_groups] == [0.1, 0.1]
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.001, 0.0]  # L2 on weights, not biases
    assert all(torch.equal(a, b) for a, b in zip(weights, pg.model.parameters()))
    pg.set_optimizer("sgd", 0.1, 0.0)
    assert isinstance(pg.optimizer, torch.optim.SGD) and pg.optimizer is not optimizer
    with pytest.raises(ValueError, match="learning rate"):
        pg.set_optimizer("sgd", 0.0, 0.0)
    with pytest.raises(ValueError, match="unknown optimiser"):
        pg.set_optimizer("rmsprop", 0.1, 0.0)


def test_l2_shrinks_the_weights_but_not_the_biases():
    def trained(l2: float) -> Playground:
        pg = Playground(make_data("circles"), hidden=(8,), activation="relu", loss="cross_entropy",
                        optimizer="sgd", lr=0.1, l2=l2)
        pg.train(200)
        return pg

    plain, decayed = trained(0.0), trained(0.5)
    norm = lambda pg, kind: sum(float(p.detach().norm()) for n, p in pg.model.named_parameters() if n.endswith(kind))
    assert norm(decayed, "weight") < 0.7 * norm(plain, "weight")


def test_the_boundary_is_the_models_score_on_a_grid_over_the_data():
    pg = tutorial_xor()
    pg.train(50)
    xs, ys, p = pg.boundary(7)
    assert p.shape == (7, 7) and xs[0] == -0.5 and ys[-1] == 1.5
    with torch.no_grad():
        direct = pg.model(torch.tensor([[xs[2], ys[5]]], dtype=torch.float32)).clamp(0, 1).item()
    assert p[5, 2] == pytest.approx(direct, abs=1e-6)  # row = y, column = x
    assert 0 <= p.min() and p.max() <= 1


def test_hidden_maps_are_each_units_activation():
    pg = Playground(make_data("moons"), hidden=(3, 2), activation="tanh", loss="cross_entropy")
    maps = pg.hidden_maps(5)
    assert [m.shape for m in maps] == [(3, 5, 5), (2, 5, 5)]
    _, _, points = pg.grid(5)
    with torch.no_grad():
        first = torch.tanh(pg.model[0](points))  # (25, 3)
    np.testing.assert_allclose(maps[0][1].ravel(), first[:, 1].numpy(), atol=1e-6)


def test_one_thread_is_restored_even_when_nested():
    before = torch.get_num_threads()
    with one_thread():
        with one_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_thin_keeps_the_last_row():
    assert thin(5, 400).tolist() == [0, 1, 2, 3, 4]
    index = thin(1001, 100)
    assert len(index) <= 102 and index[0] == 0 and index[-1] == 1000
    assert thin(0).size == 0


# ---- figures ------------------------------------------------------------------------------------


def validated(fig: go.Figure) -> go.Figure:
    """The builders skip Plotly's validation for speed and send their dicts as they are (``FrozenFigure``): check
    here that what is sent is valid, and read it back as a figure."""
    assert json.loads(pio.to_json(fig.to_dict(), validate=False))["data"] is not None  # as st.plotly_chart sends
    return go.Figure(fig.to_dict())  # raises on an unknown property or a bad value


def picture(source: str) -> np.ndarray:
    """The (H, W, 3) pixels of an image trace's PNG data URI."""
    import base64
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).convert("RGB"))


def test_colorize_runs_orange_grey_blue_and_leaves_gaps_white():
    rgb = pf.colorize(np.array([[0.0, 0.5, 1.0, np.nan, 0.25, 7.0]]))
    assert rgb[0, 0].tolist() == [0xF5, 0x93, 0x22] and rgb[0, 2].tolist() == [0x08, 0x77, 0xBD]
    assert rgb[0, 1].tolist() == [0xE8, 0xEA, 0xEB] and rgb[0, 3].tolist() == [255, 255, 255]
    assert rgb[0, 4].tolist() == [round((0xF5 + 0xE8) / 2), round((0x93 + 0xEA) / 2), round((0x22 + 0xEB) / 2)]
    assert rgb[0, 5].tolist() == rgb[0, 2].tolist()  # clipped
    assert pf.colorize(np.array([[-1.0, 1.0]]), -1, 1)[0, 0].tolist() == [0xF5, 0x93, 0x22]


def test_boundary_figure_shows_the_score_and_both_splits():
    data = make_data("circles", n=100)
    pg = Playground(data, hidden=(4,), activation="tanh", loss="cross_entropy")
    pg.train(30)
    xs, ys, p = pg.boundary(20)
    fig = validated(pf.boundary_figure(xs, ys, p, data))
    image, train, test = fig.data
    np.testing.assert_array_equal(picture(image.source), pf.colorize(p))  # row 0 = lowest y, drawn at y0
    assert (image.x0, image.y0) == (xs[0], ys[0]) and image.dx == pytest.approx(xs[1] - xs[0])
    assert fig.layout.yaxis.autorange is False and tuple(fig.layout.yaxis.range) == data.bounds[2:]
    assert len(train.x) == len(data.x_train) and len(test.x) == len(data.x_test)
    assert test.marker.color == "rgba(0,0,0,0)"  # hollow test points
    assert list(train.marker.color[:3]) == [pf.STYLE["class1"] if v else pf.STYLE["class0"]
                                            for v in data.y_train[:3].tolist()]
    assert len(validated(pf.boundary_figure(xs, ys, p, data, show_test=False)).data) == 2
    assert len(validated(pf.boundary_figure(*tutorial_xor().boundary(10), make_data("xor4"))).data) == 2


def test_hidden_units_canvas_tiles_every_unit():
    maps = [np.full((3, 4, 4), 0.75), np.stack([np.linspace(-2, 2, 16).reshape(4, 4)] * 2)]
    canvas = pf.hidden_units_canvas(maps, center=0.5, span=0.5)
    gap = pf.STYLE["gap"]
    assert canvas.shape == (2 * 4 + gap, 3 * 4 + 2 * gap)
    assert np.allclose(canvas[:4, :4], 0.5)  # (0.75 − 0.5) / 0.5
    assert np.isnan(canvas[:4, 4:4 + gap]).all()  # the gap between two units
    assert np.isnan(canvas[4 + gap:, 2 * (4 + gap):]).all()  # layer 2 has only two units
    relu = pf.hidden_units_canvas([np.stack([np.full((4, 4), 3.0), np.full((4, 4), 0.5)])], 0.0, None)
    assert np.allclose(relu[:, :4], 1) and np.allclose(relu[:, 4 + gap:], 1)  # each unit by its own maximum
    fig = validated(pf.hidden_units_figure(maps, 0.5, 0.5))
    assert list(fig.layout.yaxis.ticktext) == ["layer 1", "layer 2"]
    np.testing.assert_array_equal(picture(fig.data[0].source), pf.colorize(canvas, -1, 1))
    assert validated(pf.hidden_units_figure([])).layout.annotations[0].text.startswith("No hidden layer")


def test_unit_ranges_follow_the_activation():
    assert unit_range("sigmoid") == (0.5, 0.5) and unit_range("tanh") == (0.0, 1.0)
    assert unit_range("relu") == (0.0, None)


def test_loss_curves_have_one_colour_per_split_and_stay_short():
    pg = tutorial_xor()
    pg.train(900)
    fig = validated(pf.loss_curves_figure(pg.history, limit=100))
    train, test = fig.data
    assert (train.name, test.name) == ("train loss", "test loss")
    assert train.line.color != test.line.color
    assert len(train.x) <= 102 and train.x[-1] == 900
    assert fig.layout.yaxis.type == "log"
