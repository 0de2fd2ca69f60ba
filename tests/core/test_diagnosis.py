"""diagnosis.training_advice: silent while a run learns, a warning with the likely cause when it does not —
on synthetic histories, and on real short runs on the digits (lr = 10 fires, a healthy LeNet does not)."""

from __future__ import annotations

import math
import re

import pytest

from vision_core.config import RunConfig
from vision_core.training import engine
from vision_core.training.diagnosis import training_advice
from vision_core.training.live import LiveState

LN10 = math.log(10)


def flat_steps(n: int = 40, level: float = LN10, start: int = 1) -> list[tuple[int, float, float]]:
    # Batch-to-batch noise around one level, as a network that answers the same for every image gives.
    return [(start + i, level + 0.01 * ((-1) ** i) * (i % 3), 0.1) for i in range(n)]


def stuck_epoch(epoch: int = 1, acc: float = 0.09, loss: float = 2.31) -> dict:
    return {"epoch": epoch, "train_loss": loss, "train_acc": acc, "val_loss": loss, "val_acc": acc}


def test_a_learning_run_gets_no_warning():
    steps = [(i, 2.3 * 0.95 ** i, min(1.0, 0.1 + 0.02 * i)) for i in range(1, 41)]
    epochs = [{"epoch": 1, "train_loss": 1.74, "train_acc": 0.40, "val_loss": 0.52, "val_acc": 0.84}]
    assert training_advice(epochs, steps, 10, 2e-3, "adam") is None


def test_nothing_is_said_before_the_first_epoch_ends():
    steps = [(1, 2.3, 0.1), (2, 3e12, 0.1)]
    assert training_advice([], steps, 10, 10.0, "adam") is None
    assert training_advice([{"epoch": 1, "lr": 10.0}], steps, 10, 10.0, "adam") is None  # no metric yet


def test_a_loss_that_jumped_far_up_blames_a_too_high_learning_rate_and_dead_relus():
    steps = [(1, 2.306, 0.06), (2, 2.9e12, 0.09), (3, 1.2e9, 0.03)] + flat_steps(40, 4.5, start=4)
    advice = training_advice([stuck_epoch(1, acc=0.042, loss=45.6)], steps, 10, 10.0, "adam")
    assert advice is not None
    assert "validation accuracy is 4.2%" in advice and "guessing among 10 classes gives (10%)" in advice
    assert "validation loss (45.6) is no lower than guessing's (ln 10 = 2.30)" in advice
    assert "learning rate (10) is too high for Adam" in advice and "to 2.9e+12 at step 2" in advice
    assert "ReLUs dead" in advice and "1e-3" in advice


def test_a_flat_loss_with_a_tiny_learning_rate_blames_the_learning_rate_being_too_low():
    advice = training_advice([stuck_epoch()], flat_steps(), 10, 1e-6, "adam")
    assert "too low for Adam" in advice and "barely moved" in advice and "Try 1e-3" in advice
    assert "dead ReLUs" not in advice


def test_a_flat_loss_at_a_large_learning_rate_points_at_dead_relus():
    advice = training_advice([stuck_epoch()], flat_steps(), 10, 0.02, "adam")
    assert "Likely cause: dead ReLUs" in advice and "at a large learning rate (0.02)" in advice
    assert "smaller learning rate" in advice and "too low" not in advice


def test_a_flat_loss_at_a_middling_learning_rate_suggests_more_steps_then_dead_relus():
    # What LeNet on the digits does with SGD 0.01: its first 41-step epoch sits at chance.
    advice = training_advice([stuck_epoch()], flat_steps(), 10, 0.01, "sgd")
    assert "too low for so few steps" in advice and "over 40 steps" in advice and "more epochs" in advice
    assert "ReLUs may be dead" in advice


def test_sgd_momentum_counts_towards_the_step_size():
    # lr 1e-3 with momentum 0.9 moves like 1e-2, lr 0.1 with momentum 0.9 like 1.
    assert "is too low for SGD" in training_advice([stuck_epoch()], flat_steps(), 10, 1e-3, "sgd")
    with_momentum = training_advice([stuck_epoch()], flat_steps(), 10, 1e-3, "sgd", momentum=0.9)
    assert "is too low for SGD" not in with_momentum and "so few steps" in with_momentum
    assert "so few steps" in training_advice([stuck_epoch()], flat_steps(), 10, 0.1, "sgd")
    assert "Likely cause: dead ReLUs" in training_advice([stuck_epoch()], flat_steps(), 10, 0.1, "sgd", momentum=0.9)


def test_a_rising_loss_blames_a_too_high_learning_rate():
    steps = [(i, 2.3 + 0.03 * i, 0.1) for i in range(1, 41)]  # 2.33 → 3.5: rising, never a 3×ln K jump
    advice = training_advice([stuck_epoch(loss=3.4)], steps, 10, 0.5, "sgd")
    assert "too high for SGD" in advice and "rising" in advice and "0.01–0.1" in advice


def test_a_slowly_falling_loss_at_chance_suggests_a_larger_learning_rate_or_more_epochs():
    steps = [(i, 2.30 - 0.004 * i, 0.1) for i in range(1, 41)]  # 2.29 → 2.14
    advice = training_advice([stuck_epoch(acc=0.11, loss=2.2)], steps, 10, 0.01, "sgd")
    assert "falling, but slowly" in advice and "may be too low" in advice


@pytest.mark.parametrize("acc, fires", [(0.10, True), (0.149, True), (0.16, False), (0.5, False)])
def test_accuracy_counts_as_chance_up_to_five_points_above_it(acc, fires):
    epochs = [{"epoch": 1, "val_acc": acc, "val_loss": 1.5}]  # a loss well below ln 10: only accuracy decides
    assert (training_advice(epochs, [], 10, 1e-3, "adam") is not None) == fires


def test_a_loss_no_lower_than_guessing_fires_even_when_accuracy_looks_better():
    # e.g. an unbalanced test split where always answering the big class scores 30 %
    epochs = [{"epoch": 1, "val_acc": 0.3, "val_loss": 2.29}]
    assert "no lower than guessing's" in training_advice(epochs, [], 10, 1e-3, "adam")


def test_two_classes_use_half_as_chance_and_ln2_as_guessing():
    assert training_advice([{"epoch": 1, "val_acc": 0.5, "val_loss": 0.69}], [], 2, 1e-3, "adam") is not None
    assert training_advice([{"epoch": 1, "val_acc": 0.8, "val_loss": 0.45}], [], 2, 1e-3, "adam") is None
    # a one-logit model reports num_classes 2; a nonsensical 1 is read as 2 rather than ln 1 = 0
    assert training_advice([{"epoch": 1, "val_acc": 0.8, "val_loss": 0.45}], [], 1, 1e-3, "adam") is None


def test_only_the_latest_epoch_counts_a_run_that_recovered_is_not_warned():
    epochs = [stuck_epoch(1), {"epoch": 2, "train_loss": 0.9, "train_acc": 0.7, "val_loss": 0.4, "val_acc": 0.9}]
    assert training_advice(epochs, flat_steps(), 10, 1e-3, "adam") is None


def test_missing_keys_and_non_finite_values_fall_back_to_what_is_there():
    # No validation: the last steps' accuracy and loss decide; NaN / None entries are skipped.
    steps = flat_steps() + [(41, float("nan"), None)]
    advice = training_advice([{"epoch": 1, "train_loss": None}, {"epoch": 2, "train_acc": 0.1}], steps, 10, 1e-3,
                             "adam")
    assert advice.startswith("After epoch 2 this run is not learning: training accuracy is 10.0%")
    assert re.search(r"the training loss \(2\.3\d*\) is no lower than guessing's", advice)
    # No steps at all: the epoch's own numbers, and a cause from the learning rate alone.
    assert "too low" in training_advice([{"epoch": 1, "train_acc": 0.1}], [], 10, 1e-6, "adam")
    assert "too high" in training_advice([{"epoch": 1, "train_loss": 9.0}], [], 10, 10.0, "sgd")
    assert "too high or too low" in training_advice([{"epoch": 1, "train_acc": 0.1}], [], 10, 1e-3, "adam")


# ---- real runs on the digits ----------------------------------------------------------------------------------


def run_history(tmp_path, **changes) -> dict:
    state = LiveState()
    config = RunConfig(dataset="digits", model="lenet", batch_size=32, snapshot_every=0).replace(**changes)
    engine.train(config, root=tmp_path, state=state)
    return state.snapshot()


def test_a_real_run_with_learning_rate_10_is_warned(tmp_path):
    snap = run_history(tmp_path, epochs=1, lr=10.0, optimizer="adam")
    assert snap["epochs"][-1]["val_acc"] < 0.2  # it really did not learn
    advice = training_advice(snap["epochs"], snap["steps"], 10, 10.0, "adam")
    assert advice is not None and "learning rate (10) is too high for Adam" in advice


def test_a_healthy_lenet_on_the_digits_is_not_warned(tmp_path):
    snap = run_history(tmp_path, epochs=2, lr=2e-3, optimizer="adam")
    assert snap["epochs"][-1]["val_acc"] > 0.8
    for seen in range(1, len(snap["epochs"]) + 1):  # silent after every epoch, not only the last
        assert training_advice(snap["epochs"][:seen], snap["steps"], 10, 2e-3, "adam") is None


# ---- the advice never points the learning rate the wrong way (issue 19.1) ------------------------------------

LEARNING_RATES = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.5, 1.0, 10.0]
SHAPES = {
    "flat": flat_steps(),
    "slowly falling": [(i, 2.30 - 0.004 * i, 0.1) for i in range(1, 41)],
    "spiking": [(1, 2.306, 0.06), (2, 2.9e12, 0.09), (3, 1.2e9, 0.03)] + flat_steps(40, 4.5, start=4),
    "NaN": [(i, 2.3, 0.1) for i in range(1, 20)] + [(20, float("nan"), 0.1), (21, float("inf"), 0.1)],
}


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
@pytest.mark.parametrize("shape", SHAPES)
def test_the_advice_never_names_the_wrong_direction(optimizer, shape):
    from vision_core.training.diagnosis import LARGE_LR, TOO_LOW_LR

    for lr in LEARNING_RATES:
        advice = training_advice([stuck_epoch()], SHAPES[shape], 10, lr, optimizer)
        assert advice is not None
        says_low = "too low" in advice or "Try a larger" in advice or "try a larger" in advice
        says_high = "too high" in advice or "smaller learning rate" in advice
        if lr >= LARGE_LR[optimizer]:
            assert not says_low, (lr, advice)
            assert says_high, (lr, advice)
        if lr < TOO_LOW_LR[optimizer]:
            assert not says_high, (lr, advice)
        if shape in ("spiking", "NaN") and lr >= TOO_LOW_LR[optimizer]:
            assert says_high and not says_low, (lr, advice)


def test_sgd_at_lr_10_whose_loss_drifts_down_is_told_its_rate_is_too_high():
    steps = SHAPES["slowly falling"]
    for lr, optimizer in [(10.0, "sgd"), (1.0, "sgd"), (0.5, "adam")]:
        advice = training_advice([stuck_epoch(acc=0.11, loss=2.2)], steps, 10, lr, optimizer)
        assert "too high" in advice and "too low" not in advice, advice


def test_the_summary_check_agrees_with_training_advice_on_random_histories():
    """The class wall asks ``may_need_advice`` of a run's small live summary before reading its whole history:
    it must say True exactly when training_advice has something to say."""
    import random

    from vision_core.runs.live_summary import summarise_live
    from vision_core.training.diagnosis import may_need_advice

    rng = random.Random(7)
    said = 0
    for case in range(400):
        classes = rng.choice([2, 3, 10, 100])
        chance = 1 / classes
        stuck = rng.random() < 0.5
        n = rng.randint(0, 300)
        steps = [[s, (math.log(classes) if stuck else 2.0 * math.exp(-s / 50)) + rng.uniform(-0.3, 0.3),
                  None if rng.random() < 0.05 else (chance if stuck else min(0.2 + s / 200, 0.99)) + rng.uniform(-0.05, 0.05)]
                 for s in range(n)]
        epochs = []
        for e in range(rng.randint(0, 4)):
            record = {"epoch": e + 1}
            for key, value in (("train_loss", steps[-1][1] if steps else 1.0), ("train_acc", chance + 0.02),
                               ("val_loss", rng.uniform(0, 2 * math.log(classes))),
                               ("val_acc", rng.uniform(0, 2.5 * chance))):
                if rng.random() < 0.6:
                    record[key] = value
            epochs.append(record)
        summary = summarise_live({"version": 1, "steps": steps, "epochs": epochs})
        advice = training_advice(epochs, steps, classes, 0.01, "sgd")
        assert may_need_advice(summary["latest_epoch"], summary["recent_loss"], summary["recent_acc"], classes) == \
            (advice is not None), case
        said += advice is not None
    assert 50 < said < 350  # both answers were tried many times
