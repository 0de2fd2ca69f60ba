"""BCE and cross-entropy from probabilities and from logits against torch.nn on many random cases; the formulas
carry the numbers; the naive float32 route overflows where torch's does; bad input is one clear sentence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vision_core.lessons import losses as L


def random_binary(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = int(rng.integers(1, 12))
    z = rng.normal(scale=rng.choice([0.5, 3, 30]), size=n)
    y = rng.choice([0.0, 1.0], size=n) if rng.random() < 0.7 else rng.random(n)  # hard or soft targets
    return z, y


def test_bce_from_probabilities_matches_nn_bceloss_on_random_cases():
    rng = np.random.default_rng(0)
    for _ in range(200):
        z, y = random_binary(rng)
        p = 1 / (1 + np.exp(-z))
        if rng.random() < 0.2:  # the edges, where nn.BCELoss clamps its logs at −100
            p[rng.integers(len(p))] = rng.choice([0.0, 1.0])
        ours = L.bce_from_probabilities(p, y)
        theirs = nn.BCELoss(reduction="none")(torch.tensor(p), torch.tensor(y)).numpy()
        np.testing.assert_allclose(ours.per_sample, theirs, rtol=1e-10, atol=1e-12)
        assert ours.mean == pytest.approx(float(nn.BCELoss()(torch.tensor(p), torch.tensor(y))), rel=1e-10,
                                          abs=1e-12)


def test_bce_from_logits_matches_nn_bcewithlogitsloss_on_random_cases():
    rng = np.random.default_rng(1)
    for _ in range(200):
        z, y = random_binary(rng)
        ours = L.bce_from_logits(z, y)
        theirs = nn.BCEWithLogitsLoss(reduction="none")(torch.tensor(z), torch.tensor(y)).numpy()
        np.testing.assert_allclose(ours.per_sample, theirs, rtol=1e-10, atol=1e-12)
        assert np.isfinite(ours.per_sample).all()


def test_the_two_bce_forms_agree_where_the_probability_form_is_safe():
    rng = np.random.default_rng(2)
    z, y = rng.normal(size=50), rng.choice([0.0, 1.0], size=50)
    np.testing.assert_allclose(L.bce_from_logits(z, y).per_sample,
                               L.bce_from_probabilities(L.sigmoid(z), y).per_sample, rtol=1e-9)


def random_multiclass(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n, c = int(rng.integers(1, 8)), int(rng.integers(2, 7))
    return rng.normal(scale=rng.choice([0.5, 3, 50]), size=(n, c)), rng.integers(0, c, size=n)


def test_cross_entropy_from_logits_matches_nn_crossentropyloss_on_random_cases():
    rng = np.random.default_rng(3)
    for _ in range(200):
        z, t = random_multiclass(rng)
        ours = L.cross_entropy_from_logits(z, t)
        theirs = nn.CrossEntropyLoss(reduction="none")(torch.tensor(z), torch.tensor(t)).numpy()
        np.testing.assert_allclose(ours.per_sample, theirs, rtol=1e-10, atol=1e-12)
        assert ours.mean == pytest.approx(float(nn.CrossEntropyLoss()(torch.tensor(z), torch.tensor(t))),
                                          rel=1e-10, abs=1e-12)


def test_cross_entropy_from_probabilities_matches_nllloss_on_log_probabilities():
    rng = np.random.default_rng(4)
    for _ in range(200):
        z, t = random_multiclass(rng)
        p = L.softmax(z)
        ours = L.cross_entropy_from_probabilities(p, t)
        theirs = nn.NLLLoss(reduction="none")(torch.log(torch.tensor(p)), torch.tensor(t)).numpy()
        np.testing.assert_allclose(ours.per_sample, theirs, rtol=1e-9, atol=1e-12)


def test_torch_losses_names_and_values():
    rng = np.random.default_rng(5)
    z, y = random_binary(rng)
    got = L.torch_losses("bce_logits", z, y)
    assert set(got) == {"nn.BCEWithLogitsLoss", "nn.BCELoss(sigmoid(z))"}
    np.testing.assert_allclose(got["nn.BCEWithLogitsLoss"], L.bce_from_logits(z, y).per_sample, rtol=1e-10)
    zc, t = random_multiclass(rng)
    got = L.torch_losses("ce_logits", zc, t)
    np.testing.assert_allclose(got["nn.CrossEntropyLoss"], got["nn.NLLLoss(log_softmax Z)"], rtol=1e-10)
    np.testing.assert_allclose(L.torch_losses("ce_probabilities", L.softmax(zc), t)["nn.NLLLoss(log P)"],
                               got["nn.CrossEntropyLoss"], rtol=1e-9)
    with pytest.raises(ValueError, match="unknown kind"):
        L.torch_losses("hinge", z, y)


def test_formulas_carry_the_numbers():
    (line,) = L.bce_from_probabilities([0.9], [1]).formulas
    assert line == "−[1·ln(0.9) + (1−1)·ln(1−0.9)] = −[1·(−0.1054) + 0·(−2.303)] = 0.1054"
    (line,) = L.bce_from_logits([-1.4], [0]).formulas
    assert line == "max((−1.4), 0) − (−1.4)·0 + ln(1 + e^(−1.4)) = 0 − 0 + 0.2204 = 0.2204"
    (line,) = L.cross_entropy_from_logits([[2.0, 1.0, 0.1]], [0]).formulas
    assert line.startswith("2 + ln(e^(2 − 2) + e^(1 − 2) + e^(0.1 − 2)) − Z[0]") and line.endswith("= 0.417")
    assert L.cross_entropy_from_probabilities([[0.7, 0.2, 0.1]], [0]).formulas == ["−ln(P[0]) = −ln(0.7) = 0.3567"]


def test_the_naive_float32_route_overflows_exactly_where_torchs_does():
    z = np.array([40.0, 40.0, -100.0, 1000.0, 3.0, -3.0], dtype=np.float32)
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0], dtype=np.float32)
    _, naive = L.naive_bce_from_logits(z, y)
    zt, yt = torch.tensor(z), torch.tensor(y)
    pt = torch.sigmoid(zt)
    torch_naive = -(yt * torch.log(pt) + (1 - yt) * torch.log(1 - pt))
    np.testing.assert_array_equal(np.isnan(naive), torch.isnan(torch_naive).numpy())
    np.testing.assert_array_equal(np.isinf(naive), torch.isinf(torch_naive).numpy())
    assert np.isinf(naive[0]) and np.isnan(naive[1]) and np.isinf(naive[2])  # ∞, 0·(−∞) = NaN, ∞
    np.testing.assert_allclose(naive[4:], torch_naive.numpy()[4:], rtol=1e-5)  # fine for small logits
    stable = L.torch_losses("bce_logits", z, y, dtype="float32")
    assert np.isfinite(stable["nn.BCEWithLogitsLoss"]).all()
    np.testing.assert_allclose(stable["nn.BCEWithLogitsLoss"][[0, 2, 3]], [40, 100, 1000], rtol=1e-6)
    assert stable["nn.BCELoss(sigmoid(z))"][3] == 100  # finite only because BCELoss clamps: the true loss is 1000


def test_naive_softmax_overflows_and_cross_entropy_stays_finite():
    z, t = np.array([[1000.0, 0.0, -1000.0], [100.0, 0.0, 1.0]]), np.array([0, 1])
    p, naive = L.naive_cross_entropy_from_logits(z, t)
    assert np.isnan(naive[0]) and np.isnan(p[0, 0])  # e^1000 = ∞, ∞/∞ = NaN
    reference = F.cross_entropy(torch.tensor(z, dtype=torch.float32), torch.tensor(t), reduction="none")
    np.testing.assert_allclose(L.cross_entropy_from_logits(z, t).per_sample, reference.numpy(), rtol=1e-6)
    assert L.cross_entropy_from_logits(z, t).per_sample[1] == pytest.approx(100.0, abs=1e-9)


@pytest.mark.parametrize("text, message", [
    ("", "at least one number"), ("   ", "at least one number"), ("0.5, abc", "“abc” in the probabilities is not"),
    ("nan", "not a finite number"), ("1e999", "not a finite number"), (", ".join(["0.5"] * 21), "at most 20"),
])
def test_bad_numbers_get_one_clear_sentence(text, message):
    with pytest.raises(ValueError, match=message):
        L.parse_numbers(text, "probabilities")


def test_parsing_accepts_the_usual_separators_and_the_unicode_minus():
    np.testing.assert_array_equal(L.parse_numbers("0.9, 0.2;0.6  −1", "x"), [0.9, 0.2, 0.6, -1])
    np.testing.assert_array_equal(L.parse_rows("1, 2, 3\n\n4 5 6\n", "logits"), [[1, 2, 3], [4, 5, 6]])


def test_probabilities_outside_0_1_and_rows_not_adding_to_one_are_refused():
    with pytest.raises(ValueError, match="between 0 and 1: 1.2 is not"):
        L.check_probabilities(np.array([0.5, 1.2]))
    with pytest.raises(ValueError, match="line 2 adds up to 0.9"):
        L.check_rows_sum_to_one(np.array([[0.5, 0.5], [0.6, 0.3]]))
    L.check_rows_sum_to_one(np.array([[0.7, 0.2, 0.1]]))  # 0.9999999999999999 is 1
    with pytest.raises(ValueError, match="same number of values"):
        L.parse_rows("1, 2\n1, 2, 3", "logits")
    with pytest.raises(ValueError, match="at least 2 classes"):
        L.parse_rows("1\n2", "logits")
    with pytest.raises(ValueError, match="3 probabilities but 2 target"):
        L.check_same_length(np.zeros(3), np.zeros(2), "probabilities")


def test_target_classes_must_exist():
    np.testing.assert_array_equal(L.parse_classes("0, 2", 2, 3), [0, 2])
    with pytest.raises(ValueError, match="Target class 3 does not exist: .* classes are 0, 1, 2"):
        L.parse_classes("0, 3", 2, 3)
    with pytest.raises(ValueError, match="Target class 1.5"):
        L.parse_classes("1.5", 1, 3)
    with pytest.raises(ValueError, match="2 sample"):
        L.parse_classes("0", 2, 3)


def test_the_pytorch_code_runs_and_prints_the_same_losses(capsys):
    for kind, inputs, targets in [("bce_probabilities", [0.9, 0.2], [1.0, 0.0]), ("bce_logits", [2.2], [1.0]),
                                  ("ce_probabilities", [[0.7, 0.2, 0.1]], [0]), ("ce_logits", [[2.0, 1.0]], [1])]:
        exec(L.pytorch_code(kind, np.array(inputs), np.array(targets)), {})  # noqa: S102 - our own generated snippet
    printed = capsys.readouterr().out
    assert "0.1054" in printed and "0.3567" in printed


def test_describe_and_fmt_spell_out_what_went_wrong():
    assert L.describe(float("nan")).startswith("NaN") and L.describe(float("inf")).startswith("∞")
    assert L.describe(-0.0) == "0" and L.fmt(-2.5) == "(−2.5)" and L.fmt(float("-inf")) == "(−∞)"
