"""The training engine end to end on the embedded digits: run folders, determinism, stop, NaN, errors."""

from __future__ import annotations

import json
import threading
import time

import lightning as L
import pandas as pd
import pytest
import torch

from vision_core.config import RunConfig
from vision_core.runs import store as runs
from vision_core.training import engine
from vision_core.training.live import JobControl, LiveState

FAST = {"limit_train_batches": 4, "limit_val_batches": 2, "limit_test_batches": 2}


def short(**changes) -> RunConfig:
    return RunConfig(dataset="digits", model="lenet", epochs=1, batch_size=32, snapshot_every=0).replace(**changes)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real run: LeNet on the digits, long enough to learn."""
    root = tmp_path_factory.mktemp("runs")
    config = RunConfig(dataset="digits", model="lenet", epochs=8, lr=2e-3, batch_size=32, snapshot_every=0)
    summary = engine.train(config, root=root)
    return runs.list_runs(root)[0], summary


def test_lenet_learns_the_digits(trained):
    _, summary = trained
    assert summary["status"] == "finished"
    assert summary["test_acc"] >= 0.95
    assert summary["epochs_completed"] == 8
    assert summary["parameters"] == 61_706  # LeNet on 1×32×32: the seed's exact layers


def test_run_folder_holds_config_metrics_checkpoints_summary(trained):
    run, summary = trained
    assert RunConfig.from_dict(json.loads((run.path / "config.json").read_text())).model == "lenet"
    assert run.state == "finished"
    metrics = pd.read_csv(run.path / "metrics.csv")  # Lightning's CSVLogger format
    for column in ("epoch", "step", "train_loss_step", "train_loss_epoch", "val_loss", "val_acc", "test_acc"):
        assert column in metrics.columns
    assert (run.path / "checkpoints" / "best.ckpt").is_file()
    assert (run.path / "checkpoints" / "last.ckpt").is_file()
    assert run.summary["test_acc"] == pytest.approx(summary["test_acc"])
    assert run.data_info["classes"] == [str(i) for i in range(10)]


def test_loaded_best_checkpoint_gives_the_reported_test_accuracy(trained):
    run, summary = trained
    from vision_core.data import datasets

    model = runs.load_model(run, "best")
    data = datasets.load("digits")
    x = data.normalize(data.test.images.float() / 255)
    with torch.no_grad():
        acc = (model(x).argmax(1) == data.test.labels).float().mean().item()
    assert acc == pytest.approx(summary["test_acc"], abs=1e-4)


def test_metrics_history_rebuilds_the_curves(trained):
    run, _ = trained
    history = runs.metrics_history(run)
    assert len(history["epochs"]) == 8
    assert all("val_acc" in e for e in history["epochs"])
    assert len(history["steps"]) > 10


def test_same_seed_same_result_on_cpu(tmp_path):
    a = engine.train(short(), root=tmp_path / "a", trainer_options=FAST)
    b = engine.train(short(), root=tmp_path / "b", trainer_options=FAST)
    c = engine.train(short(seed=7), root=tmp_path / "c", trainer_options=FAST)
    assert a["test_loss"] == b["test_loss"]
    assert a["test_loss"] != c["test_loss"]


def test_live_state_receives_steps_and_epochs(tmp_path):
    state = LiveState()
    engine.train(short(epochs=2), root=tmp_path, state=state, trainer_options=FAST)
    snap = state.snapshot()
    assert [s[0] for s in snap["steps"]] == list(range(1, 9))
    assert [e["epoch"] for e in snap["epochs"]] == [1, 2]
    assert snap["status"] == "finished"
    assert 0.0 <= snap["test_metrics"]["test_acc"] <= 1.0


class StopAfter(L.Callback):
    def __init__(self, control: JobControl, steps: int) -> None:
        self.control, self.steps = control, steps

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step >= self.steps:
            self.control.stop()


def test_stop_leaves_a_usable_checkpoint(tmp_path):
    control = JobControl()
    summary = engine.train(short(epochs=50), root=tmp_path, control=control,
                           extra_callbacks=[StopAfter(control, 3)])
    run = runs.list_runs(tmp_path)[0]
    assert summary["status"] == "stopped" and run.state == "stopped"
    assert 3 <= summary["steps"] <= 4  # it stops within one batch of the request
    model = runs.load_model(run, "last")
    assert model(torch.zeros(1, 1, 32, 32)).shape == (1, 10)


def test_diverging_run_stops_at_once_with_a_hint(tmp_path):
    with pytest.raises(engine.TrainingError, match="learning rate"):
        engine.train(short(epochs=5, optimizer="sgd", lr=1e12), root=tmp_path)
    run = runs.list_runs(tmp_path)[0]
    assert run.state == "failed"
    assert "diverged" in run.status["message"]
    assert (run.path / "config.json").is_file()  # what it wrote is kept


def test_shape_mismatch_is_explained_before_training(tmp_path):
    config = short(dataset_options={"image_size": 28}, model_options={"strict_input": True})
    with pytest.raises(engine.TrainingError, match="400"):
        engine.train(config, root=tmp_path)
    assert runs.list_runs(tmp_path)[0].state == "failed"


def test_missing_dataset_names_the_folder(tmp_path):
    config = short(dataset="mnist", dataset_options={"root": str(tmp_path / "nodata")})
    with pytest.raises(engine.TrainingError, match="nodata"):
        engine.train(config, root=tmp_path / "runs")


def test_asking_for_a_gpu_without_one_is_clear(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(engine.TrainingError, match="no usable GPU"):
        engine.resolve_accelerator("gpu")
    assert engine.resolve_accelerator("auto") == "cpu"


def test_pause_and_single_step_control_the_loop():
    control = JobControl()
    control.pause()
    done = []

    def loop():
        for i in range(3):
            control.wait_for_turn()
            done.append(i)

    worker = threading.Thread(target=loop)
    worker.start()
    worker.join(0.3)
    assert done == []  # paused: nothing runs
    control.step(1)
    worker.join(0.5)
    assert done == [0]  # exactly one batch, then paused again
    control.resume()
    worker.join(2)
    assert done == [0, 1, 2]


class StepRecorder(L.Callback):
    """(CSV step, epoch, loss, correct, batch size) of every training step: the step's loss and logits,
    its correct answers counted here."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, float, int, int]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.rows.append((trainer.global_step - 1, trainer.current_epoch, float(outputs["loss"]),
                          int((outputs["logits"].argmax(1) == batch[1]).sum()), len(batch[1])))


def epoch_means(rows, epoch: int) -> tuple[float, float]:
    mine = [r for r in rows if r[1] == epoch]
    n = sum(r[4] for r in mine)
    return sum(r[2] * r[4] for r in mine) / n, sum(r[3] for r in mine) / n


def test_metrics_csv_keeps_lightnings_format_and_the_numbers_are_right(tmp_path):
    recorder = StepRecorder()
    engine.train(short(epochs=2, scheduler="step"), root=tmp_path, extra_callbacks=[recorder],
                 trainer_options={**FAST, "limit_train_batches": 12})
    df = pd.read_csv(runs.list_runs(tmp_path)[0].path / "metrics.csv")
    for column in ("step", "epoch", "train_loss_step", "train_loss_epoch", "train_acc", "val_loss", "val_acc", "lr",
                   "test_loss", "test_acc"):
        assert column in df.columns
    # The step curve: a row every log_every_n_steps (5) steps, numbered as Lightning numbers them.
    curve = df.dropna(subset=["train_loss_step"])
    assert list(curve["step"]) == [4, 9, 14, 19]
    by_step = {r[0]: r for r in recorder.rows}
    for step, epoch, loss in zip(curve["step"], curve["epoch"], curve["train_loss_step"]):
        assert loss == pytest.approx(by_step[step][2], rel=1e-6)
        assert epoch == by_step[step][1]
    # One row per epoch: the sample-weighted means of that epoch's steps, and the lr it used.
    epochs = df.dropna(subset=["train_loss_epoch"])
    assert list(epochs["epoch"]) == [0, 1]
    for _, row in epochs.iterrows():
        loss, acc = epoch_means(recorder.rows, int(row["epoch"]))
        assert row["train_loss_epoch"] == pytest.approx(loss, rel=1e-5)
        assert row["train_acc"] == pytest.approx(acc, abs=1e-6)
    assert list(df.dropna(subset=["lr"])["lr"]) == pytest.approx([1e-3, 1e-4])  # StepLR, one step per epoch
    assert len(df.dropna(subset=["val_acc"])) == 2 and len(df.dropna(subset=["test_acc"])) == 1


def test_a_stopped_run_keeps_its_partial_epoch_in_metrics_csv(tmp_path):
    control, recorder = JobControl(), StepRecorder()
    engine.train(short(epochs=50), root=tmp_path, control=control, extra_callbacks=[StopAfter(control, 3), recorder])
    df = pd.read_csv(runs.list_runs(tmp_path)[0].path / "metrics.csv")
    epochs = df.dropna(subset=["train_loss_epoch"])
    assert len(epochs) == 1 and 3 <= len(recorder.rows) <= 4
    loss, acc = epoch_means(recorder.rows, 0)
    assert epochs["train_loss_epoch"].iloc[0] == pytest.approx(loss, rel=1e-5)
    assert epochs["train_acc"].iloc[0] == pytest.approx(acc, abs=1e-6)


def test_the_live_curve_has_every_steps_own_loss_and_accuracy(tmp_path):
    state, recorder = LiveState(), StepRecorder()
    engine.train(short(epochs=2), root=tmp_path, state=state, extra_callbacks=[recorder],
                 trainer_options={**FAST, "limit_train_batches": 9})
    points = state.snapshot()["steps"]
    assert [p[0] for p in points] == [r[0] + 1 for r in recorder.rows] == list(range(1, 19))
    for (_, loss, acc), (_, _, step_loss, correct, size) in zip(points, recorder.rows):
        assert loss == pytest.approx(step_loss, rel=1e-6)
        assert acc == pytest.approx(correct / size, abs=1e-9)


class SlowValidation(L.Callback):
    """Two more seconds inside the validation phase (called after the live callback's own hook); records how long
    each epoch's training took, as the machine ran it."""

    def __init__(self) -> None:
        self.train_seconds: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()
        self.train_seconds.append(0.0)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.train_seconds[-1] = time.perf_counter() - self._start  # up to the epoch's last batch: no validation

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        time.sleep(2.0)  # as validating a big split on a busy machine


def test_samples_per_second_is_the_training_speed_not_diluted_by_validation(tmp_path):
    state = LiveState()
    slow = SlowValidation()
    engine.train(short(epochs=2), root=tmp_path, state=state, extra_callbacks=[slow],
                 trainer_options={**FAST, "limit_train_batches": 4})
    # 4 batches of 32 train in well under 0.1 s on a quiet machine, seconds on a loaded one: the bound is taken from
    # the epochs' own training time. Counting the 2 s of validation would give at most 128 / (train + 2 s).
    slowest = max(slow.train_seconds)
    assert len(slow.train_seconds) == 2
    assert state.snapshot()["samples_per_sec"] > 128 / (slowest + 1.0)
