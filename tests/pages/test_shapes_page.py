"""AppTest: the Shape explorer with default settings, presets, the custom template, where the parameters live,
and the LeNet 28-vs-32 lesson (a mismatch explained, never a traceback)."""

from __future__ import annotations

import pytest

from tests.pages.apptest import open_page
from vision_core.models import zoo as models

PAGE = "pages/shapes.py"


@pytest.fixture
def page(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    at = open_page(PAGE)
    assert not at.exception, at.exception
    return at


def table(at):
    return next(d.value for d in at.dataframe if "output shape" in d.value.columns)


def test_default_is_lenet_on_its_recipe_input(page):
    assert page.selectbox(key="shape_model").value == "lenet"
    assert (page.number_input(key="shape_c").value, page.number_input(key="shape_h").value,
            page.number_input(key="shape_w").value) == (1, 32, 32)
    assert not page.error
    rows = table(page).set_index("layer")
    assert rows.loc["conv1", "output shape"] == "6×28×28"
    assert rows.loc["flatten", "output shape"] == "400"
    assert rows["parameters"].sum() == models.total_params(
        models.build("lenet", in_channels=1, num_classes=10, image_size=32))


def test_lenet_strict_on_28_explains_the_mismatch(page):
    page.selectbox(key="shape_preset").set_value("MNIST 1×28×28").run()
    page.toggle(key="shape_strict").set_value(True).run()
    assert not page.exception, page.exception
    text = " ".join(e.value for e in page.error)
    assert "400" in text and "256" in text


def test_lenet_on_28_without_strict_just_works(page):
    page.selectbox(key="shape_preset").set_value("MNIST 1×28×28").run()
    assert not page.exception and not page.error
    assert table(page).set_index("layer").loc["flatten", "output shape"] == "256"


def test_cats_dogs_parameters_live_in_fc1(page):
    page.selectbox(key="shape_model").set_value("cats_dogs_cnn").run()
    assert not page.exception, page.exception
    assert (page.number_input(key="shape_h").value, page.number_input(key="shape_w").value) == (64, 64)
    sentence = next(m.value for m in page.markdown if " holds " in m.value)
    assert "**fc1**" in sentence and "**96%**" in sentence
    share = table(page).set_index("layer").loc["fc1", "% of parameters"]
    assert share == pytest.approx(96, abs=1)


def test_custom_template_options_change_the_shapes(page):
    page.selectbox(key="shape_model").set_value("custom").run()
    page.number_input(key="shape_blocks").set_value(3)
    page.number_input(key="shape_channels").set_value(8)
    page.selectbox(key="shape_pool").set_value("max").run()
    assert not page.exception, page.exception
    rows = table(page).set_index("layer")
    assert rows.loc["pool3", "output shape"] == "8×3×3"  # 28 → 14 → 7 → 3 with padding-1 3×3 convs
    page.number_input(key="shape_padding").set_value(0).run()
    assert table(page).set_index("layer").loc["conv1", "output shape"] == "8×26×26"


def test_an_input_too_small_is_an_error_not_a_traceback(page):
    page.number_input(key="shape_h").set_value(6)
    page.number_input(key="shape_w").set_value(6).run()
    assert not page.exception, page.exception
    assert page.error


def test_receptive_fields_and_output_size_formulas_are_shown(monkeypatch, tmp_path):
    from tests.pages.apptest import open_page

    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    at = open_page("pages/shapes.py")
    assert not at.exception
    table = next(d.value for d in at.dataframe if "receptive field" in d.value.columns)
    assert "whole input" in list(table["receptive field"])
    assert any("⌊(" in m.value and "⌋ + 1 =" in m.value for m in at.markdown)


def test_a_second_session_reuses_the_explored_networks(tmp_path, monkeypatch):
    # Exploring builds the network; every rerun of every student asked for three explorations. Cached by the
    # inputs and shared by the sessions, a second student's view of the same network builds nothing.
    import streamlit as st

    from vision_core.lessons import shapes

    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    st.cache_resource.clear()
    first = open_page(PAGE)
    assert not first.exception, first.exception
    calls = []
    explore = shapes.explore
    monkeypatch.setattr(shapes, "explore", lambda *a, **k: calls.append(a) or explore(*a, **k))
    second = open_page(PAGE)
    assert not second.exception, second.exception
    assert calls == []
    assert table(second).equals(table(first))
    second.number_input(key="shape_h").set_value(28).run()  # new inputs are explored (once)
    assert calls == [("lenet", (1, 28, 32))]
