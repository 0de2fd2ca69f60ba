"""Is a run learning? One paragraph of warning when it is not, with the likely cause.

A run with learning rate 10 can train to 10 % accuracy without a word: the loss stays finite, so the NaN
check never fires. After an epoch, ``training_advice`` reads the history the live panel already has and says
when accuracy sits at chance or the loss is no better than guessing, and why that usually happens (learning
rate too high or too low, dead ReLUs). Pure: no Streamlit, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from vision_core.runs.live_summary import recent_means

OPTIMIZER_NAMES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}
USUAL_LR = {"sgd": "0.01–0.1", "adam": "1e-3", "adamw": "1e-3"}  # where each optimiser usually learns
# The step size an optimiser takes is lr (SGD: lr / (1 − momentum), what momentum builds it up to). Below
# TOO_LOW a small network barely moves in an epoch; from LARGE on a flat loss most likely means steps so big they
# killed the ReLUs. In between, a flat loss after a short epoch is usually a learning rate too low for so few steps
# (LeNet on the digits with SGD 0.01 sits at chance for its first 41-step epoch).
TOO_LOW_LR = {"sgd": 5e-3, "adam": 1e-4, "adamw": 1e-4}
LARGE_LR = {"sgd": 0.5, "adam": 1e-2, "adamw": 1e-2}
CHANCE_MARGIN = 0.05  # accuracy up to chance + min(5 points, half of chance) counts as guessing
GUESS_LOSS_SHARE = 0.95  # a loss above 95 % of ln K is no better than guessing
FLAT = 0.02  # the loss fell by less than 2 % from the first fifth of the steps to the last: it stopped falling


def _number(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def training_advice(epochs: Sequence[dict[str, Any]], steps: Sequence[Sequence[float]], num_classes: int,
                    lr: float, optimizer: str, momentum: float = 0.0) -> str | None:
    """A one-paragraph warning when, after an epoch, the run is not learning; None while it is (or before).

    ``epochs``: LiveState's records, ``{"epoch": 1, "train_loss": ..., "train_acc": ..., "val_loss": ...,
    "val_acc": ...}`` (keys may be missing or None); ``steps``: ``(step, loss, accuracy)`` per logged batch.
    It fires when the latest accuracy (validation, else the last steps', else the epoch's) is at chance for
    ``num_classes`` classes, or the latest loss is no lower than guessing's ln K, and names the likely cause:
    the loss jumped far up or is rising (learning rate too high, which also kills ReLUs), barely moved with a
    small learning rate (too low), sits flat at a large one (dead ReLUs), or sits flat at a middling one (too low
    for so few steps, or dead ReLUs). ``momentum`` (SGD) scales the step size: lr / (1 − momentum).
    Example: ``training_advice(snap["epochs"], snap["steps"], 10, config.lr, config.optimizer)``.
    """
    finished = [e for e in epochs if any(_number(e.get(k)) is not None
                                         for k in ("train_loss", "train_acc", "val_loss", "val_acc"))]
    if not finished:
        return None  # nothing to judge before the first epoch ends
    latest = finished[-1]
    k = max(2, int(num_classes))  # a one-logit (BCE) model still has two classes
    chance, guess_loss = 1 / k, math.log(k)
    points = [(int(s), loss, acc) for s, loss, acc in ((p[0], _number(p[1]), _number(p[2])) for p in steps)
              if loss is not None]
    blown = next((int(p[0]) for p in steps if isinstance(p[1], float) and not math.isfinite(p[1])), None)
    (acc, acc_source), (loss, loss_source) = _readings(latest, *recent_means(points))
    at_chance, guessing = _at_chance(acc, k), _guessing(loss, k)
    if not (at_chance or guessing):
        return None

    facts = []
    if at_chance:
        facts.append(f"{acc_source} is {acc:.1%}, about what guessing among {k} classes gives ({chance:.0%})")
    if guessing:
        facts.append(f"the {loss_source} ({loss:.3g}) is no lower than guessing's (ln {k} = {guess_loss:.2f})")
    text = f"After epoch {latest.get('epoch', len(finished))} this run is not learning: " + " and ".join(facts) + "."
    return text + " " + _cause(points, loss, guess_loss, lr, optimizer, momentum, blown)


def _readings(latest: dict[str, Any], recent_loss: float | None, recent_acc: float | None
              ) -> tuple[tuple[float | None, str], tuple[float | None, str]]:
    """The accuracy and the loss a verdict is about, with their names: the latest epoch's validation figures, else
    the recent steps' means (``live_summary.recent_means``), else the epoch's training figures."""
    acc, acc_source = _number(latest.get("val_acc")), "validation accuracy"
    if acc is None and recent_acc is not None:
        acc, acc_source = recent_acc, "training accuracy"
    if acc is None:
        acc, acc_source = _number(latest.get("train_acc")), "training accuracy"
    loss, loss_source = _number(latest.get("val_loss")), "validation loss"
    if loss is None and recent_loss is not None:
        loss, loss_source = recent_loss, "training loss"
    if loss is None:
        loss, loss_source = _number(latest.get("train_loss")), "training loss"
    return (acc, acc_source), (loss, loss_source)


def _at_chance(acc: float | None, k: int) -> bool:
    return acc is not None and acc <= 1 / k + min(CHANCE_MARGIN, 1 / k / 2)


def _guessing(loss: float | None, k: int) -> bool:
    return loss is not None and loss >= GUESS_LOSS_SHARE * math.log(k)


def may_need_advice(latest: dict[str, Any] | None, recent_loss: float | None, recent_acc: float | None,
                    num_classes: int) -> bool:
    """Whether ``training_advice`` can say anything for a run whose latest finished epoch record is ``latest``
    and whose recent steps' means are these (a run's ``live_summary``): False means it returns None, so a caller
    that only has the summary need not read the whole history."""
    if not latest:
        return False
    k = max(2, int(num_classes))
    (acc, _), (loss, _) = _readings(latest, recent_loss, recent_acc)
    return _at_chance(acc, k) or _guessing(loss, k)


def ended_at_chance(test_acc: Any, num_classes: int, steps: Sequence[Sequence[float]], lr: float, optimizer: str,
                    momentum: float = 0.0) -> str | None:
    """The status message of a run whose training ended with a test accuracy no better than guessing (it diverged
    without a NaN: SGD at lr 10 ends at 10 % on the digits), with the likely cause; None when it learned.

    Example: ``ended_at_chance(0.1, 10, snap["steps"], 10.0, "sgd")`` → ``"Diverged: the test accuracy is 10.0 % …"``.
    """
    acc = _number(test_acc)
    k = max(2, int(num_classes))
    chance = 1 / k
    if acc is None or acc > chance + min(CHANCE_MARGIN, chance / 2):
        return None
    points = [(int(s), loss, acc) for s, loss, acc in ((p[0], _number(p[1]), _number(p[2])) for p in steps)
              if loss is not None]
    loss = points[-1][1] if points else None
    return (f"Diverged: after all its epochs the test accuracy is {acc:.1%}, what guessing among {k} classes gives "
            f"({chance:.0%}). " + _cause(points, loss, math.log(k), lr, optimizer, momentum))


def _cause(points: list[tuple[int, float, float | None]], loss: float | None, guess_loss: float, lr: float,
           optimizer: str, momentum: float, blown: int | None = None) -> str:
    """The likely cause, read from the step losses and the learning rate, and what to try.

    The learning rate is checked before the shape of the loss is read: a loss that falls slowly at lr 10 is
    bouncing, not creeping, and must never be told its rate is too low. ``blown``: the first step whose loss was
    NaN or infinite.
    """
    name, usual = OPTIMIZER_NAMES.get(optimizer, optimizer), USUAL_LR.get(optimizer, "1e-3")
    step_size = lr / (1 - momentum) if optimizer == "sgd" and 0 <= momentum < 1 else lr
    low = step_size < TOO_LOW_LR.get(optimizer, 1e-4)
    large = step_size >= LARGE_LR.get(optimizer, 1e-2)
    smaller = f"Stop it and start again with a smaller learning rate ({name} usually learns with {usual})."
    dead = "often leave ReLUs dead (they output 0 for every image and get no gradient)"
    not_the_rate = (f"With a learning rate this small ({lr:g}) the rate is an unlikely cause: look at the inputs "
                    "(images far outside the range the normalisation expects) or add BatchNorm to a deep network.")
    if blown is not None:
        if low:
            return f"The loss became NaN or infinite at step {blown}. " + not_the_rate
        return (f"Likely cause: the learning rate ({lr:g}) is too high for {name}: the loss became NaN or infinite "
                f"at step {blown}. " + smaller)
    if points:
        start = points[0][1]
        peak_step, peak = max(((s, value) for s, value, _ in points), key=lambda p: p[1])
        if peak > max(3 * guess_loss, 2 * start):
            jumped = f"the loss jumped from {start:.3g} to {peak:.3g} at step {peak_step}"
            if low:
                return f"The loss is not learning and {jumped}. " + not_the_rate
            return (f"Likely cause: the learning rate ({lr:g}) is too high for {name}: {jumped}. Steps that large "
                    f"throw the weights far off and {dead}, so the network stays stuck even after the loss calms "
                    f"down. " + smaller)
        width = max(1, len(points) // 5)
        first, last = _mean([p[1] for p in points[:width]]), _mean([p[1] for p in points[-width:]])
        moved = f"({first:.3g} → {last:.3g} over {points[-1][0]} steps)"
        if last > 1.1 * first and not low:
            return (f"Likely cause: the learning rate ({lr:g}) is too high for {name}: the loss is rising "
                    f"({first:.3g} → {last:.3g}). " + smaller)
        if low:
            return (f"Likely cause: the learning rate ({lr:g}) is too low for {name}: the loss barely moved "
                    f"{moved}. Try {usual}.")
        falling = first - last >= FLAT * first
        if large and falling:
            return (f"Likely cause: the learning rate ({lr:g}) is too high for {name}: the loss falls only slowly "
                    f"{moved} because steps that large overshoot the minimum and bounce around it. " + smaller)
        if large:
            return (f"Likely cause: dead ReLUs. The loss sits flat {moved} at a large learning rate ({lr:g}): steps "
                    f"that large {dead}, so the network gives every image the same answer. " + smaller
                    + " BatchNorm before the ReLUs also helps.")
        if falling:
            return (f"The loss is falling, but slowly {moved}: the learning rate ({lr:g}) may be too low for {name} "
                    f"(it usually learns with {usual}), or the run needs more epochs.")
        return (f"The loss barely moved {moved}. Likely cause: a learning rate ({lr:g}) too low for so few steps "
                f"({name} usually learns with {usual}): try a larger one, or more epochs. If the loss still does "
                f"not move, the ReLUs may be dead (they output 0 for every image and get no gradient): start again "
                f"with another seed, or add BatchNorm before them.")
    if loss is not None and loss > 1.5 * guess_loss and not low:
        return f"Likely cause: the learning rate ({lr:g}) is too high for {name}: the loss is above guessing's. " + smaller
    if low:
        return f"Likely cause: the learning rate ({lr:g}) is too low for {name}. Try {usual}."
    if large:
        return f"Likely cause: the learning rate ({lr:g}) is too high for {name}. " + smaller
    return (f"Likely causes: a learning rate ({lr:g}) too high or too low for {name} (it usually learns with "
            f"{usual}), or dead ReLUs (units that output 0 for every image and stop learning).")
