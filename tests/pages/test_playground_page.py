"""AppTest: the Playground opens on the tutorial's XOR model, trains it to 100 % while the boundary redraws,
steps and resets, rebuilds on a new structure and applies optimiser changes live."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from tests.pages.apptest import open_page

PAGE = "pages/playground.py"


@pytest.fixture
def page():
    at = open_page(PAGE)
    assert not at.exception, at.exception
    return at


def metric(at, label: str) -> str:
    (m,) = [m for m in at.metric if m.label == label]
    return m.value


def chart(at, key_part: str) -> dict:
    """The Plotly spec of the chart whose element id carries ``key_part`` (e.g. "pg_boundary")."""
    (element,) = [e for e in at.get("plotly_chart") if key_part in e.proto.id]
    return json.loads(element.proto.spec)


def picture(trace: dict) -> np.ndarray:
    """The pixels of an image trace (its PNG data URI)."""
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(trace["source"].split(",", 1)[1]))).convert("RGB"))


def array(value) -> np.ndarray:
    """Plotly's JSON writes numpy arrays as {"dtype", "bdata", "shape"} (base64); lists stay lists."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = [int(s) for s in str(value.get("shape", len(flat))).split(",")]
        return flat.reshape(shape)
    return np.asarray(value, dtype=np.float64)


def test_opens_on_the_tutorials_xor_model(page):
    assert metric(page, "Step") == "0"
    # The four points are the training and the test set: the test numbers are shown, and are the training ones.
    assert metric(page, "Test accuracy") == metric(page, "Train accuracy") != "—"
    assert metric(page, "Test loss") == metric(page, "Train loss") != "—"
    assert any("2-4-1 network: 17 weights" in c.value for c in page.caption)
    assert page.selectbox(key="pg_activation").value == "sigmoid" and page.selectbox(key="pg_loss").value == "mse"
    assert page.select_slider(key="pg_lr").value == 0.01
    boundary = chart(page, "pg_boundary")
    assert len(boundary["data"]) == 2 and picture(boundary["data"][0]).shape == (60, 60, 3)


def test_training_reaches_100_percent_on_xor_and_the_boundary_moves(page):
    page.select_slider(key="pg_speed").set_value(50).run()
    first = picture(chart(page, "pg_boundary")["data"][0]).astype(int)
    page.button(key="pg_play").click().run()
    assert page.button(key="pg_play").label.startswith("⏸")
    seen = []
    for _ in range(40):  # each run is one frame: 50 steps
        seen.append(int(metric(page, "Step").replace(",", "")))
        if metric(page, "Train accuracy") == "100%":
            break
        page.run()
    assert metric(page, "Train accuracy") == "100%", seen
    assert seen == sorted(seen) and seen[-1] > seen[0]
    later = picture(chart(page, "pg_boundary")["data"][0]).astype(int)
    assert np.abs(later - first).max() > 50  # the picture was redrawn with the new boundary
    losses = chart(page, "pg_losses")["data"]
    assert [t["name"] for t in losses] == ["train loss", "test loss"]
    page.button(key="pg_play").click().run()  # pause: the step count stays
    paused_at = metric(page, "Step")
    page.run()
    assert metric(page, "Step") == paused_at and page.button(key="pg_play").label.startswith("▶")


def test_one_step_then_reset(page):
    page.button(key="pg_step").click().run()
    page.button(key="pg_step").click().run()
    assert metric(page, "Step") == "2"
    loss_after_two = metric(page, "Train loss")
    page.button(key="pg_reset").click().run()
    assert metric(page, "Step") == "0" and metric(page, "Train loss") != loss_after_two


def test_a_new_network_starts_again_and_shows_every_layers_units(page):
    page.button(key="pg_step").click().run()
    page.number_input(key="pg_layers").set_value(2).run()
    page.number_input(key="pg_units_1").set_value(3).run()
    assert not page.exception
    assert metric(page, "Step") == "0"
    assert any("2-4-3-1 network" in c.value for c in page.caption)
    units = chart(page, "pg_units")
    assert units["layout"]["yaxis"]["ticktext"] == ["layer 1", "layer 2"]
    page.number_input(key="pg_layers").set_value(0).run()
    assert chart(page, "pg_units")["layout"]["annotations"][0]["text"].startswith("No hidden layer")


def test_learning_rate_and_l2_change_while_keeping_the_weights(page):
    page.button(key="pg_step").click().run()
    model = page.session_state["pg_model"]
    page.select_slider(key="pg_lr").set_value(0.1).run()
    page.select_slider(key="pg_l2").set_value(0.01).run()
    assert page.session_state["pg_model"] is model and metric(page, "Step") == "1"
    assert model.optimizer.param_groups[0]["lr"] == 0.1 and model.optimizer.param_groups[0]["weight_decay"] == 0.01


def test_other_data_have_a_test_split_and_the_tutorial_button_restores_xor(page):
    page.selectbox(key="pg_data").set_value("moons").run()
    page.selectbox(key="pg_loss").set_value("cross_entropy").run()
    assert not page.exception
    assert metric(page, "Test accuracy").endswith("%")
    assert [t["name"] for t in chart(page, "pg_boundary")["data"][1:]] == ["train points", "test points"]
    page.toggle(key="pg_show_test").set_value(False).run()
    assert len(chart(page, "pg_boundary")["data"]) == 2
    page.button(key="pg_tutorial").click().run()
    assert page.selectbox(key="pg_data").value == "xor4" and page.selectbox(key="pg_loss").value == "mse"
    assert metric(page, "Step") == "0"


def test_a_diverging_run_stops_and_says_why(page):
    page.selectbox(key="pg_data").set_value("spirals").run()
    page.selectbox(key="pg_activation").set_value("relu").run()
    page.selectbox(key="pg_optimizer").set_value("momentum").run()
    page.select_slider(key="pg_lr").set_value(3.0).run()
    page.select_slider(key="pg_speed").set_value(50).run()
    page.button(key="pg_play").click().run()
    for _ in range(10):
        if page.error:
            break
        page.run()
    assert not page.exception
    assert any("learning rate is too large" in e.value for e in page.error)
    assert page.button(key="pg_play").label.startswith("▶")  # stopped by itself
