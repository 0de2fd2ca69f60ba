"""Losses: binary cross-entropy and cross-entropy for numbers the student types, next to torch.nn's own, with
the formula filled in; and why the logits form is the safe one (the overflow case)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ui.frame import ensure_app_frame
from ui.shared_figures import shared_figures
from vision_core.lessons import losses as L

ensure_app_frame()  # a cold server's first request goes through app.py

st.title("📉 Losses: how wrong is a prediction?")
st.caption("A classifier's loss turns its output and the true answer into one number that training pushes down. "
           "Type your own numbers: the page computes the loss by hand, term by term, next to PyTorch's own "
           "`nn` losses. A **probability** is a number in [0, 1]; a **logit** is the raw score before the "
           "sigmoid or softmax, any real number.")

PROBABILITIES, LOGITS = "from probabilities", "from logits"


def fail(message: str) -> None:
    st.error(message)


BY_HAND = {"bce_probabilities": L.bce_from_probabilities, "bce_logits": L.bce_from_logits,
           "ce_probabilities": L.cross_entropy_from_probabilities, "ce_logits": L.cross_entropy_from_logits}


def _inputs_shown(kind: str, values: np.ndarray, targets: np.ndarray) -> dict[str, list]:
    """The table's first columns: the student's numbers (and the probabilities their logits stand for)."""
    if kind == "bce_probabilities":
        return {"y": targets, "p": values}
    if kind == "bce_logits":
        return {"y": targets, "z": values, "p = σ(z)": L.sigmoid(values)}
    shown = {"class": targets, "scores": [", ".join(f"{v:g}" for v in row) for row in values]}
    if kind == "ce_logits":
        shown["softmax"] = [", ".join(f"{v:.3g}" for v in row) for row in L.softmax(values)]
    return shown


@shared_figures(max_entries=256)
def comparison_view(kind: str, values: tuple, targets: tuple):
    """(per-sample table, mean by hand, {torch.nn loss: mean}, formula lines) for the student's numbers, made once
    per numbers for the class (most students keep the examples; the table cost a tenth of a page rerun)."""
    x, y = np.array(values, dtype=np.float64), np.array(targets)
    ours, reference = BY_HAND[kind](x, y), L.torch_losses(kind, x, y)
    table = pd.DataFrame({**_inputs_shown(kind, x, y), "loss (by hand)": [L.describe(v) for v in ours.per_sample],
                          **{name: [L.describe(v) for v in losses] for name, losses in reference.items()}})
    table.index = [f"sample {i + 1}" for i in range(len(table))]
    means = {name: L.describe(float(np.mean(losses))) for name, losses in reference.items()}
    return table, L.describe(ours.mean), means, tuple(ours.formulas)


def comparison(kind: str, values: np.ndarray, targets: np.ndarray) -> None:
    """Per-sample table (inputs, our loss, torch's), the means, and the formula lines."""
    table, mean, reference_means, formulas = comparison_view(kind, _key(values), _key(targets))
    st.dataframe(table, width="stretch")
    cols = st.columns(1 + len(reference_means))
    cols[0].metric("Mean loss, by hand", mean)
    for col, (name, value) in zip(cols[1:], reference_means.items()):
        col.metric(f"{name} (mean)", value)
    st.markdown("**The formula with your numbers**")
    st.code("\n".join(f"sample {i + 1}: {line}" for i, line in enumerate(formulas)), language=None)


def _key(array: np.ndarray) -> tuple:
    """A cache key that gives the array back exactly (Python floats and ints, rows as tuples)."""
    return tuple(_key(row) for row in array) if array.ndim > 1 else tuple(array.tolist())


def binary_tab() -> None:
    form = st.radio("Start", [PROBABILITIES, LOGITS], key="loss_bce_form", horizontal=True)
    c1, c2 = st.columns(2)
    if form == PROBABILITIES:
        text = c1.text_input("Predicted probabilities p of class 1", "0.9, 0.2, 0.6", key="loss_bce_p")
    else:
        text = c1.text_input("Logits z (any real numbers)", "2.2, -1.4, 0.4", key="loss_bce_z")
    targets_text = c2.text_input("True classes y (0 or 1; soft labels in between also work)", "1, 0, 1",
                                 key="loss_bce_y")
    try:
        values = L.parse_numbers(text, "probabilities" if form == PROBABILITIES else "logits")
        y = L.check_probabilities(L.parse_numbers(targets_text, "targets"), "targets")
        L.check_same_length(values, y, "probabilities" if form == PROBABILITIES else "logits")
        if form == PROBABILITIES:
            L.check_probabilities(values)
    except ValueError as exc:
        return fail(str(exc))
    if form == PROBABILITIES:
        st.latex(r"\ell = -\left[\,y \ln p + (1-y)\ln(1-p)\,\right]")
        comparison("bce_probabilities", values, y)
        if np.isin(values, (0.0, 1.0)).any():
            st.caption("ln 0 is −∞: like `nn.BCELoss`, each log is clamped at −100, so a probability of exactly "
                       "0 or 1 on the wrong side costs 100.")
        kind = "bce_probabilities"
    else:
        st.latex(r"\ell = -\left[\,y \ln \sigma(z) + (1-y)\ln(1-\sigma(z))\,\right]"
                 r" = \max(z, 0) - z\,y + \ln\!\left(1 + e^{-|z|}\right)")
        st.caption("Left: binary cross-entropy on p = σ(z). Right: the same number, rearranged so that no "
                   "exponential can overflow; that is what `nn.BCEWithLogitsLoss` computes.")
        comparison("bce_logits", values, y)
        kind = "bce_logits"
    with st.expander("Show the PyTorch code"):
        st.code(L.pytorch_code(kind, values, y), language="python")


def multiclass_tab() -> None:
    form = st.radio("Start", [PROBABILITIES, LOGITS], key="loss_ce_form", horizontal=True)
    c1, c2 = st.columns(2)
    if form == PROBABILITIES:
        text = c1.text_area("Probabilities, one sample per line (each line adds up to 1)",
                            "0.7, 0.2, 0.1\n0.1, 0.3, 0.6", key="loss_ce_p")
    else:
        text = c1.text_area("Logits, one sample per line", "2.0, 1.0, 0.1\n0.5, 2.5, 0.3", key="loss_ce_z")
    targets_text = c2.text_input("True class of each sample (0, 1, 2, …)", "0, 2", key="loss_ce_t")
    try:
        rows = L.parse_rows(text, "probabilities" if form == PROBABILITIES else "logits")
        if form == PROBABILITIES:
            L.check_rows_sum_to_one(rows)
        t = L.parse_classes(targets_text, len(rows), rows.shape[1])
    except ValueError as exc:
        return fail(str(exc))
    if form == PROBABILITIES:
        st.latex(r"\ell = -\ln P_t")
        comparison("ce_probabilities", rows, t)
        kind = "ce_probabilities"
    else:
        st.latex(r"\ell = \ln \sum_j e^{z_j} - z_t = m + \ln \sum_j e^{z_j - m} - z_t, \quad m = \max_j z_j")
        comparison("ce_logits", rows, t)
        st.caption("Subtracting the largest logit m first changes nothing in the result, but keeps every e^… "
                   "at most 1: nothing can overflow.")
        kind = "ce_logits"
    with st.expander("Show the PyTorch code"):
        st.code(L.pytorch_code(kind, rows, t), language="python")


@shared_figures(max_entries=256)
def sigmoid_overflow_view(logits: tuple, targets: tuple):
    """(table, samples the naive route broke on, samples nn.BCELoss clamped) for the overflow demo's numbers."""
    z, y = np.array(logits, dtype=np.float64), np.array(targets, dtype=np.float64)
    p, naive = L.naive_bce_from_logits(z, y)
    reference = L.torch_losses("bce_logits", z, y, dtype="float32")
    exact = L.bce_from_logits(z, y).per_sample
    table = pd.DataFrame({"z": z, "y": y, "σ(z) in float32": [f"{v:.9g}" for v in p],
                          "naive: −[y ln σ + (1−y) ln(1−σ)]": [L.describe(v) for v in naive],
                          "nn.BCELoss(σ(z))": [L.describe(v) for v in reference["nn.BCELoss(sigmoid(z))"]],
                          "nn.BCEWithLogitsLoss(z)": [L.describe(v) for v in reference["nn.BCEWithLogitsLoss"]],
                          "exact": [L.describe(v) for v in exact]})
    table.index = [f"sample {i + 1}" for i in range(len(table))]
    broken = int((~np.isfinite(naive)).sum())
    clamped = int((np.abs(reference["nn.BCELoss(sigmoid(z))"] - exact) > 1).sum())
    return table, broken, clamped


@shared_figures(max_entries=256)
def softmax_overflow_table(logits: tuple, classes: tuple):
    rows, t = np.array(logits, dtype=np.float64), np.array(classes, dtype=np.int64)
    p, naive = L.naive_cross_entropy_from_logits(rows, t)
    reference = L.torch_losses("ce_logits", rows, t, dtype="float32")["nn.CrossEntropyLoss"]
    table = pd.DataFrame({"logits": [", ".join(f"{v:g}" for v in row) for row in rows], "class": t,
                          "naive softmax (float32)": [", ".join(f"{v:.3g}" for v in row) for row in p],
                          "naive: −ln softmax": [L.describe(v) for v in naive],
                          "nn.CrossEntropyLoss": [L.describe(v) for v in reference]})
    table.index = [f"sample {i + 1}" for i in range(len(table))]
    return table


def overflow_tab() -> None:
    st.markdown("A network computes in **float32**. Going logit → probability → log by hand, σ(z) rounds to "
                "exactly 1 once z is above about 17, so ln(1 − p) = ln 0 = −∞: the loss becomes **∞**, or "
                "**NaN** where 0 · (−∞) appears, and one NaN ruins every weight at the next step. "
                "`nn.BCEWithLogitsLoss` never forms p: it uses max(z, 0) − z·y + ln(1 + e^(−|z|)).")
    c1, c2 = st.columns(2)
    z_text = c1.text_input("Logits z", "3, 20, 40, -100, 1000", key="loss_of_z")
    y_text = c2.text_input("True classes y", "1, 1, 0, 1, 0", key="loss_of_y")
    try:
        z = L.parse_numbers(z_text, "logits")
        y = L.check_probabilities(L.parse_numbers(y_text, "targets"), "targets")
        L.check_same_length(z, y, "logits")
    except ValueError as exc:
        fail(str(exc))
    else:
        table, broken, clamped = sigmoid_overflow_view(_key(z), _key(y))
        st.dataframe(table, width="stretch")
        if broken:
            st.warning(f"The naive route broke on {broken} of {len(z)} sample(s) (∞ or NaN); "
                       "`nn.BCEWithLogitsLoss` stayed finite and exact on all of them.")
        else:
            st.success("No overflow with these logits: try a logit of 40 with y = 0, or 40 with y = 1.")
        if clamped:
            st.caption(f"`nn.BCELoss` on σ(z) stays finite only because it clamps each log at −100: on {clamped} "
                       "sample(s) it reports a loss far from the exact one.")
    st.markdown("**The same with softmax** (several classes): e^1000 is ∞ in float32, and ∞/∞ is NaN.")
    c1, c2 = st.columns(2)
    rows_text = c1.text_area("Logits, one sample per line", "1000, 0, -1000\n2, 1, 0.1", key="loss_of_ce_z")
    t_text = c2.text_input("True class of each sample", "0, 0", key="loss_of_ce_t")
    try:
        rows = L.parse_rows(rows_text, "logits")
        t = L.parse_classes(t_text, len(rows), rows.shape[1])
    except ValueError as exc:
        return fail(str(exc))
    st.dataframe(softmax_overflow_table(_key(rows), _key(t)), width="stretch")


binary, multiclass, overflow = st.tabs(["Binary cross-entropy", "Cross-entropy (several classes)",
                                         "Why the logits form? (overflow)"])
with binary:
    binary_tab()
with multiclass:
    multiclass_tab()
with overflow:
    overflow_tab()
