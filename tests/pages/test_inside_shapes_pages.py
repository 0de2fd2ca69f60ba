"""AppTest: the Shape explorer built on shapes.explore shows how far a mismatching input got."""

from __future__ import annotations

from tests.pages.apptest import open_page


def test_strict_lenet_on_28_shows_the_error_and_the_layers_before_it(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    at = open_page("pages/shapes.py")
    assert not at.exception, at.exception
    at.selectbox(key="shape_preset").set_value("MNIST 1×28×28").run()
    at.toggle(key="shape_strict").set_value(True).run()
    assert not at.exception, at.exception
    assert at.error and "400" in at.error[0].value and "256" in at.error[0].value
    table = next(d.value for d in at.dataframe if "output shape" in d.value.columns).set_index("layer")
    assert table.loc["flatten", "output shape"] == "256"
    assert "fc1" not in table.index  # the failing layer produced nothing
    assert any("How far the 1×28×28 input got" in c.value for c in at.caption)


def test_formulas_come_with_the_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    at = open_page("pages/shapes.py")
    formulas = [m.value for m in at.markdown if "⌋ + 1 =" in m.value]
    assert any("conv1" in f and "⌊(32 + 2·0 − 1·(5−1) − 1)/1⌋ + 1 = 28" in f for f in formulas), formulas
