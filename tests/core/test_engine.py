"""The training engine end to end on the embedded digits: run folders, determinism, stop, NaN, errors."""

from __future__ import annotations

import json
import threading

import lightning as L
import pandas as pd
import pytest
import torch

from vision_core import engine, runs
from vision_core.config import RunConfig
from vision_core.live import JobControl, LiveState

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
    from vision_core import datasets

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
