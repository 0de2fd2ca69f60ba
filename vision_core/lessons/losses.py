"""Binary cross-entropy and cross-entropy, from probabilities and from logits, with the numbers substituted.

What ``nn.BCELoss``, ``nn.BCEWithLogitsLoss``, ``nn.NLLLoss`` and ``nn.CrossEntropyLoss`` compute, written
out in numpy (float64) so a page can show every term, plus the naive logits → probability → log route that
overflows in float32 (why the ``…WithLogits`` / ``CrossEntropyLoss`` forms exist).

=================================  ==========================================  ==============================
loss                               per sample                                  PyTorch
=================================  ==========================================  ==============================
BCE from a probability p           −[y·ln p + (1−y)·ln(1−p)]                   ``nn.BCELoss``
BCE from a logit z                 max(z, 0) − z·y + ln(1 + e^(−|z|))           ``nn.BCEWithLogitsLoss``
CE from probabilities P, class t   −ln P[t]                                    ``nn.NLLLoss`` on ln P
CE from logits Z, class t          m + ln Σ e^(Z_j − m) − Z[t],  m = max Z       ``nn.CrossEntropyLoss``
=================================  ==========================================  ==============================

Example: ``bce_from_logits([2.2], [1]).mean`` ≈ 0.105 ≈ ``bce_from_probabilities([sigmoid(2.2)], [1]).mean``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

LOG_FLOOR = -100.0  # nn.BCELoss clamps each log at −100 so that p = 0 or 1 gives a finite loss
MAX_VALUES = 20  # samples (and classes): the formulas stay readable
SUM_TOLERANCE = 1e-4  # typed probabilities like 0.7, 0.2, 0.1 add up to 1 only to rounding


# ---- reading what a student types ---------------------------------------------------------------


def parse_numbers(text: str, what: str, limit: int = MAX_VALUES) -> np.ndarray:
    """Numbers separated by commas, spaces or semicolons → float64 array; ValueError says what is wrong.

    Example: ``parse_numbers("0.9, 0.2 0.6", "probabilities")`` → ``[0.9, 0.2, 0.6]``.
    """
    tokens = [t for t in re.split(r"[,;\s]+", str(text).strip()) if t]
    if not tokens:
        raise ValueError(f"Type at least one number for the {what}.")
    values = []
    for token in tokens:
        try:
            value = float(token.replace("−", "-"))
        except ValueError:
            raise ValueError(f"“{token[:20]}” in the {what} is not a number: type numbers like 0.7 or -2.5, "
                             "separated by commas.") from None
        if not np.isfinite(value):
            raise ValueError(f"“{token[:20]}” in the {what} is not a finite number: type an ordinary number.")
        values.append(value)
    if len(values) > limit:
        raise ValueError(f"{len(values)} {what} is too many to show: type at most {limit}.")
    return np.array(values, dtype=np.float64)


def parse_rows(text: str, what: str) -> np.ndarray:
    """One sample per line, the same number of values on every line → (N, C) float64."""
    lines = [line for line in str(text).splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"Type at least one line of {what}.")
    if len(lines) > MAX_VALUES:
        raise ValueError(f"{len(lines)} lines of {what} is too many to show: type at most {MAX_VALUES}.")
    rows = [parse_numbers(line, what) for line in lines]
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise ValueError(f"Every line of {what} needs the same number of values (one per class); the lines have "
                         f"{', '.join(str(len(r)) for r in rows)}.")
    if rows[0].size < 2:
        raise ValueError(f"Cross-entropy needs at least 2 classes: type 2 or more {what} on each line.")
    return np.stack(rows)


def check_probabilities(p: np.ndarray, what: str = "probabilities") -> np.ndarray:
    """Every value in [0, 1], else ValueError naming the first one outside."""
    outside = p[(p < 0) | (p > 1)]
    if outside.size:
        raise ValueError(f"{what.capitalize()} must be between 0 and 1: {outside[0]:g} is not. (Scores of any "
                         "size are logits: choose “logits” instead.)")
    return p


def check_rows_sum_to_one(p: np.ndarray) -> np.ndarray:
    check_probabilities(p)
    sums = p.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1) > SUM_TOLERANCE)
    if bad.size:
        raise ValueError(f"The probabilities of one sample must add up to 1: line {bad[0] + 1} adds up to "
                         f"{sums[bad[0]]:g}.")
    return p


def check_same_length(values: np.ndarray, targets: np.ndarray, what: str) -> None:
    if len(values) != len(targets):
        raise ValueError(f"{len(values)} {what} but {len(targets)} target(s): give one target per sample.")


def parse_classes(text: str, samples: int, classes: int) -> np.ndarray:
    """Class indices 0 … classes−1, one per sample → int64 array."""
    values = parse_numbers(text, "target classes")
    if len(values) != samples:
        raise ValueError(f"{samples} sample(s) but {len(values)} target class(es): give one class per line.")
    for v in values:
        if not float(v).is_integer() or not 0 <= v < classes:
            raise ValueError(f"Target class {v:g} does not exist: with {classes} scores per line the classes are "
                             f"{', '.join(map(str, range(classes)))}.")
    return values.astype(np.int64)


# ---- the maths -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LossResult:
    """Per-sample losses, their mean (PyTorch's default reduction) and one formula line per sample."""

    per_sample: np.ndarray
    formulas: list[str]

    @property
    def mean(self) -> float:
        return float(self.per_sample.mean())


def fmt(value: float, digits: int = 4) -> str:
    """A number for a formula: 4 significant digits, negatives in brackets, ±∞ and NaN spelled as symbols."""
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "∞" if value > 0 else "(−∞)"
    value = float(value) + 0.0  # −0.0 reads as 0
    text = f"{value:.{digits}g}".replace("-", "−")
    return f"({text})" if value < 0 else text


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^(−z)) without overflow warnings (float64)."""
    z = np.asarray(z, dtype=np.float64)
    return np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))


def _clamped_log(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(p), LOG_FLOOR)


def bce_from_probabilities(p, y) -> LossResult:
    """−[y·ln p + (1−y)·ln(1−p)] per sample, each log clamped at −100 as ``nn.BCELoss`` does."""
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    log_p, log_q = _clamped_log(p), _clamped_log(1 - p)
    losses = -(y * log_p + (1 - y) * log_q)
    formulas = [f"−[{fmt(yi)}·ln({fmt(pi)}) + (1−{fmt(yi)})·ln(1−{fmt(pi)})] = −[{fmt(yi)}·{fmt(lp)} + "
                f"{fmt(1 - yi)}·{fmt(lq)}] = {fmt(li)}"
                for pi, yi, lp, lq, li in zip(p, y, log_p, log_q, losses)]
    return LossResult(losses, formulas)


def bce_from_logits(z, y) -> LossResult:
    """max(z, 0) − z·y + ln(1 + e^(−|z|)) per sample: BCE of sigmoid(z), never overflowing."""
    z, y = np.asarray(z, dtype=np.float64), np.asarray(y, dtype=np.float64)
    soft = np.log1p(np.exp(-np.abs(z)))
    losses = np.maximum(z, 0) - z * y + soft
    formulas = [f"max({fmt(zi)}, 0) − {fmt(zi)}·{fmt(yi)} + ln(1 + e^(−{fmt(abs(zi))})) = {fmt(max(zi, 0))} − "
                f"{fmt(zi * yi)} + {fmt(si)} = {fmt(li)}" for zi, yi, si, li in zip(z, y, soft, losses)]
    return LossResult(losses, formulas)


def cross_entropy_from_probabilities(p, t) -> LossResult:
    """−ln P[t] per sample (``nn.NLLLoss`` on ln P); P is (N, C), t the class indices (N,)."""
    p, t = np.asarray(p, dtype=np.float64), np.asarray(t, dtype=np.int64)
    picked = p[np.arange(len(p)), t]
    with np.errstate(divide="ignore"):
        losses = -np.log(picked)
    formulas = [f"−ln(P[{ti}]) = −ln({fmt(pi)}) = {fmt(li)}" for ti, pi, li in zip(t, picked, losses)]
    return LossResult(losses, formulas)


def cross_entropy_from_logits(z, t) -> LossResult:
    """ln Σ_j e^(Z_j) − Z[t] per sample, computed as m + ln Σ e^(Z_j − m) − Z[t] with m = max Z (no overflow)."""
    z, t = np.asarray(z, dtype=np.float64), np.asarray(t, dtype=np.int64)
    m = z.max(axis=1)
    exps = np.exp(z - m[:, None])
    log_sum = m + np.log(exps.sum(axis=1))
    picked = z[np.arange(len(z)), t]
    losses = log_sum - picked
    formulas = []
    for row, mi, ls, ti, pi, li, ei in zip(z, m, log_sum, t, picked, losses, exps):
        terms = " + ".join(f"e^({fmt(v)} − {fmt(mi)})" for v in row)
        formulas.append(f"{fmt(mi)} + ln({terms}) − Z[{ti}] = {fmt(mi)} + ln({fmt(ei.sum())}) − {fmt(pi)} = "
                        f"{fmt(ls)} − {fmt(pi)} = {fmt(li)}")
    return LossResult(losses, formulas)


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ---- the naive route: what goes wrong in float32 ------------------------------------------------


def naive_bce_from_logits(z, y, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """(p, loss): p = 1/(1 + e^(−z)), then −[y·ln p + (1−y)·ln(1−p)], all in ``dtype`` with no safeguard.

    In float32 σ(z) rounds to exactly 1 from z ≈ 17 (and e^(−z) overflows to ∞ below z ≈ −89), so a log
    becomes −∞ and the loss ∞ — or NaN where 0·(−∞) appears.
    """
    z, y = np.asarray(z, dtype=dtype), np.asarray(y, dtype=dtype)
    one = dtype(1)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        p = one / (one + np.exp(-z))
        loss = -(y * np.log(p) + (one - y) * np.log(one - p))
    return p, loss


def naive_cross_entropy_from_logits(z, t, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """(P, loss): P = e^Z / Σ e^Z (no max subtracted), then −ln P[t], in ``dtype``: e^Z overflows from Z ≈ 89."""
    z, t = np.asarray(z, dtype=dtype), np.asarray(t, dtype=np.int64)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        loss = -np.log(p[np.arange(len(p)), t])
    return p, loss


KINDS = ("bce_probabilities", "bce_logits", "ce_probabilities", "ce_logits")


def torch_losses(kind: str, inputs, targets, dtype: str = "float64") -> dict[str, np.ndarray]:
    """Per-sample losses from torch.nn itself (``reduction='none'``), named as a student would write them.

    ``dtype`` "float32" is what a network computes in (the overflow demo); "float64" for comparing digits.
    """
    import torch
    from torch import nn

    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    x = torch.tensor(np.asarray(inputs), dtype=getattr(torch, dtype))
    if kind.startswith("bce"):
        y = torch.tensor(np.asarray(targets), dtype=x.dtype)
    else:
        y = torch.tensor(np.asarray(targets), dtype=torch.int64)
    none = {"reduction": "none"}
    if kind == "bce_probabilities":
        out = {"nn.BCELoss": nn.BCELoss(**none)(x, y)}
    elif kind == "bce_logits":
        out = {"nn.BCEWithLogitsLoss": nn.BCEWithLogitsLoss(**none)(x, y),
               "nn.BCELoss(sigmoid(z))": nn.BCELoss(**none)(torch.sigmoid(x), y)}
    elif kind == "ce_probabilities":
        out = {"nn.NLLLoss(log P)": nn.NLLLoss(**none)(torch.log(x), y)}
    else:
        out = {"nn.CrossEntropyLoss": nn.CrossEntropyLoss(**none)(x, y),
               "nn.NLLLoss(log_softmax Z)": nn.NLLLoss(**none)(torch.log_softmax(x, dim=1), y)}
    return {name: value.numpy().astype(np.float64) for name, value in out.items()}


def describe(value: float) -> str:
    """How a loss value reads in a table: the number, or what went wrong."""
    if np.isnan(value):
        return "NaN (not a number)"
    if np.isinf(value):
        return "∞ (overflow)"
    return f"{float(value) + 0.0:.6g}"


def pytorch_code(kind: str, inputs: np.ndarray, targets: np.ndarray) -> str:
    """A runnable snippet computing the same losses with torch.nn; ``kind`` is one of
    bce_probabilities, bce_logits, ce_probabilities, ce_logits."""
    def lit(a) -> str:
        return repr(np.asarray(a).tolist())

    lines = ["import torch", "from torch import nn", ""]
    if kind == "bce_probabilities":
        lines += [f"p = torch.tensor({lit(inputs)}, dtype=torch.float64)  # probabilities",
                  f"y = torch.tensor({lit(targets)}, dtype=torch.float64)",
                  "print(nn.BCELoss(reduction='none')(p, y))  # per sample",
                  "print(nn.BCELoss()(p, y))  # the mean: what training minimises"]
    elif kind == "bce_logits":
        lines += [f"z = torch.tensor({lit(inputs)}, dtype=torch.float64)  # logits: any real numbers",
                  f"y = torch.tensor({lit(targets)}, dtype=torch.float64)",
                  "print(nn.BCEWithLogitsLoss(reduction='none')(z, y))",
                  "print(nn.BCELoss(reduction='none')(torch.sigmoid(z), y))  # the same, less safely"]
    elif kind == "ce_probabilities":
        lines += [f"P = torch.tensor({lit(inputs)}, dtype=torch.float64)  # one row of probabilities per sample",
                  f"t = torch.tensor({lit(targets)})  # the true class of each sample",
                  "print(nn.NLLLoss(reduction='none')(torch.log(P), t))  # NLLLoss takes log-probabilities"]
    elif kind == "ce_logits":
        lines += [f"Z = torch.tensor({lit(inputs)}, dtype=torch.float64)  # one row of logits per sample",
                  f"t = torch.tensor({lit(targets)})",
                  "print(nn.CrossEntropyLoss(reduction='none')(Z, t))",
                  "print(nn.NLLLoss(reduction='none')(torch.log_softmax(Z, dim=1), t))  # the same in two steps"]
    else:
        raise ValueError(f"unknown kind {kind!r}: bce_probabilities, bce_logits, ce_probabilities or ce_logits")
    return "\n".join(lines) + "\n"
