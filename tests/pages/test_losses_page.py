"""AppTest: the Losses page computes BCE and cross-entropy by hand next to torch.nn, fills in the formulas,
shows the float32 overflow of the naive route, and answers bad input with one sentence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.pages.apptest import open_page

PAGE = "pages/losses.py"


@pytest.fixture
def page():
    at = open_page(PAGE)
    assert not at.exception, at.exception
    return at


def metrics(at) -> dict[str, str]:
    """Label → value; the first tab's metric wins when two tabs use the same label."""
    shown: dict[str, str] = {}
    for m in at.metric:
        shown.setdefault(m.label, m.value)
    return shown


def code_blocks(at) -> list[str]:
    return [c.value for c in at.code]


def test_binary_cross_entropy_from_probabilities_matches_bceloss(page):
    expected = float(nn.BCELoss()(torch.tensor([0.9, 0.2, 0.6]), torch.tensor([1.0, 0.0, 1.0])))
    shown = metrics(page)
    assert float(shown["Mean loss, by hand"]) == pytest.approx(expected, rel=1e-5)
    assert float(shown["nn.BCELoss (mean)"]) == pytest.approx(expected, rel=1e-5)
    formulas = next(c for c in code_blocks(page) if c.startswith("sample 1:"))
    assert "sample 1: −[1·ln(0.9) + (1−1)·ln(1−0.9)]" in formulas and formulas.count("\n") == 2
    assert not page.error


def test_binary_cross_entropy_from_logits_shows_both_torch_forms(page):
    page.radio(key="loss_bce_form").set_value("from logits").run()
    page.text_input(key="loss_bce_z").input("2.2, -1.4").run()
    page.text_input(key="loss_bce_y").input("1, 0").run()
    z, y = torch.tensor([2.2, -1.4], dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64)
    expected = float(nn.BCEWithLogitsLoss()(z, y))
    shown = metrics(page)
    assert float(shown["nn.BCEWithLogitsLoss (mean)"]) == pytest.approx(expected, rel=1e-5)
    assert float(shown["nn.BCELoss(sigmoid(z)) (mean)"]) == pytest.approx(expected, rel=1e-5)
    table = page.dataframe[0].value
    assert list(table["p = σ(z)"].round(4)) == [round(float(torch.sigmoid(z[0])), 4), round(float(torch.sigmoid(z[1])), 4)]


def test_cross_entropy_from_logits_and_from_probabilities(page):
    page.radio(key="loss_ce_form").set_value("from logits").run()
    logits = torch.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]], dtype=torch.float64)
    expected = float(nn.CrossEntropyLoss()(logits, torch.tensor([0, 2])))
    shown = metrics(page)
    assert float(shown["nn.CrossEntropyLoss (mean)"]) == pytest.approx(expected, rel=1e-5)
    assert any("Z[0]" in c and "sample 2:" in c for c in code_blocks(page))
    page.radio(key="loss_ce_form").set_value("from probabilities").run()
    expected = float(nn.NLLLoss()(torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])), torch.tensor([0, 2])))
    assert float(metrics(page)["nn.NLLLoss(log P) (mean)"]) == pytest.approx(expected, rel=1e-5)


def test_the_overflow_tab_shows_inf_and_nan_next_to_finite_logits_losses(page):
    tables = [d.value for d in page.dataframe]
    (binary,) = [t for t in tables if "nn.BCEWithLogitsLoss(z)" in t.columns]
    naive = list(binary["naive: −[y ln σ + (1−y) ln(1−σ)]"])
    assert any(v.startswith("∞") for v in naive)  # z = 40, y = 0
    assert not any(v.startswith(("∞", "NaN")) for v in binary["nn.BCEWithLogitsLoss(z)"])
    assert binary["nn.BCEWithLogitsLoss(z)"].iloc[4] == "1000"  # z = 1000, y = 0: exact
    assert binary["nn.BCELoss(σ(z))"].iloc[4] == "100"  # clamped: finite but wrong
    assert any("naive route broke" in w.value for w in page.warning)
    (softmax,) = [t for t in tables if "naive: −ln softmax" in t.columns]
    assert softmax["naive: −ln softmax"].iloc[0].startswith("NaN")
    assert softmax["nn.CrossEntropyLoss"].iloc[0] == "0"
    page.text_input(key="loss_of_z").input("40").run()
    page.text_input(key="loss_of_y").input("1").run()
    (binary,) = [d.value for d in page.dataframe if "nn.BCEWithLogitsLoss(z)" in d.value.columns]
    assert binary["naive: −[y ln σ + (1−y) ln(1−σ)]"].iloc[0].startswith("NaN")  # 0 · (−∞)


@pytest.mark.parametrize("key, text, message", [
    ("loss_bce_p", "0.9, abc", "“abc” in the probabilities is not a number"),
    ("loss_bce_p", "", "at least one number"),
    ("loss_bce_p", "0.9, 1.5, 0.2", "between 0 and 1: 1.5 is not"),
    ("loss_bce_p", "0.9, 0.2", "2 probabilities but 3 target"),
    ("loss_bce_y", "1, 0, 2", "Targets must be between 0 and 1: 2 is not"),
    ("loss_ce_t", "0, 3", "Target class 3 does not exist"),
    ("loss_of_z", "1e400", "not a finite number"),
])
def test_bad_input_is_one_clear_message(page, key, text, message):
    widget = page.text_input(key=key)
    widget.input(text).run()
    assert not page.exception
    errors = [e.value for e in page.error]
    assert len(errors) == 1 and message in errors[0], errors


def test_probabilities_that_do_not_add_up_are_refused(page):
    page.text_area(key="loss_ce_p").input("0.5, 0.4, 0.3\n0.2, 0.2, 0.6").run()
    assert not page.exception
    assert [e.value for e in page.error] == [
        "The probabilities of one sample must add up to 1: line 1 adds up to 1.2."]
    assert np.isfinite(float(metrics(page)["Mean loss, by hand"]))  # the other tabs still work


def test_the_logits_form_shows_the_formula_it_rearranges(page):
    # Issue 19.4: logits mode pointed at "the formula above", which only the probabilities mode shows.
    page.radio(key="loss_bce_form").set_value("from logits").run()
    formulas = [latex.value for latex in page.latex]
    assert not any("formula above" in f for f in formulas)
    logits = next(f for f in formulas if r"\max(z, 0)" in f)
    assert r"y \ln \sigma(z)" in logits and r"\ln(1-\sigma(z))" in logits  # BCE on p = σ(z), then rearranged
    assert any("BCEWithLogitsLoss" in c.value for c in page.caption)


def test_a_second_student_with_the_same_numbers_computes_nothing_again(page, monkeypatch):
    """The tables are made once per numbers for the class: a second student's page asks torch for no loss and
    shows the same tables; numbers of their own are computed for them."""
    from vision_core.lessons import losses

    asked = []
    original = losses.torch_losses
    monkeypatch.setattr(losses, "torch_losses", lambda *a, **k: asked.append(a[0]) or original(*a, **k))
    second = open_page("pages/losses.py")
    assert asked == [] and not second.exception
    assert [t.value.to_dict() for t in second.dataframe] == [t.value.to_dict() for t in page.dataframe]
    second.text_input(key="loss_bce_p").set_value("0.31, 0.2, 0.6").run()
    assert asked == ["bce_probabilities"]
    assert second.dataframe[0].value["p"].iloc[0] == pytest.approx(0.31)
