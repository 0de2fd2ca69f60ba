"""Pause keeps its promises (issue 16, items 6 and 7): control changes made while paused reach the run, a paused
run gives its compute slot to the queue, a pause over the teacher's limit stops the run with a checkpoint, and a
stopped run continues from that checkpoint under the same id."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import lightning as L
import pandas as pd
import pytest

from tests.patience import wait_for
from vision_core.classroom import jobs
from vision_core.config import RunConfig
from vision_core.runs import store as runs
from vision_core.training import engine
from vision_core.training.live import CONTROL_FILE, FileControl, JobControl, LiveState, RemoteControl, continued_state

QUICK = RunConfig(dataset="digits", model="lenet", epochs=1, batch_size=64, lr=2e-3, snapshot_every=0,
                  accelerator="cpu")  # the numbers below are the CPU's, wherever the tests run


def train_paused(config, root):
    """A run trained in a thread as a worker trains it (FileControl over control.json), paused before its first
    batch; the test drives it with RemoteControl, as the page does."""
    run = runs.create_run(config, root, owner="alice")
    remote = RemoteControl(run.path)
    remote.pause()
    control, state, result = FileControl(run.path / CONTROL_FILE), LiveState(), {}
    control.refresh(force=True)

    def target():
        result["summary"] = engine.train(config, run=run, state=state, control=control)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    wait_for(lambda: state.status == "paused", what="the run to pause before its first batch")
    return run, remote, state, thread, result


def status_of(run):
    return json.loads((run.path / "status.json").read_text())


def test_a_learning_rate_set_while_paused_is_used_after_resume_and_recorded_in_metrics_csv(tmp_path):
    run, remote, state, thread, result = train_paused(QUICK, tmp_path)
    assert status_of(run)["status"] == "paused"  # status.json says so: the scheduler frees the slot
    remote.set_lr(0.02)
    time.sleep(0.3)  # the worker reads the file while it waits
    remote.resume()  # rewrites the control file: the rate must survive it
    thread.join(120)
    assert result["summary"]["status"] == "finished"
    assert state.snapshot()["lr_history"][-1] == (0, 0.02)
    metrics = pd.read_csv(run.path / "metrics.csv")
    assert (metrics["lr"] == 0.02).any(), metrics["lr"].dropna().unique()


def test_steps_and_stop_made_while_paused_reach_the_run(tmp_path):
    run, remote, state, thread, result = train_paused(QUICK, tmp_path)
    remote.set_lr(0.05)
    remote.step(2)
    wait_for(lambda: state.step == 2 and state.status == "paused", what="two steps, then paused again")
    assert state.snapshot()["lr"] == 0.05  # the rate asked for during the pause drove those steps
    assert json.loads((run.path / CONTROL_FILE).read_text())["lr"] == 0.05
    remote.stop()
    thread.join(120)
    assert result["summary"]["status"] == "stopped" and result["summary"]["steps"] == 2
    assert runs.load_model(runs.load_run(run.run_id, tmp_path), "last") is not None


def test_the_control_file_is_merged_never_rewritten_without_its_keys(tmp_path):
    remote, worker = RemoteControl(tmp_path), FileControl(tmp_path / CONTROL_FILE)
    remote.set_lr(0.03)
    for change in (remote.pause, remote.step, remote.resume, remote.stop):
        change()
        assert json.loads((tmp_path / CONTROL_FILE).read_text())["lr"] == 0.03, change.__name__
    worker.refresh(force=True)
    assert worker.requested_lr == 0.03 and worker.stop_requested
    (tmp_path / CONTROL_FILE).write_text('{"paused": false}')  # an older page's file: no lr key
    worker.refresh(force=True)
    assert worker.requested_lr == 0.03  # what was asked for stays asked for
    remote.set_lr(0.04)
    remote.step(3)
    remote.rearm()  # a continued run starts with no stop, pause or grants, and the same rate
    assert remote.read() == {"paused": False, "stop": False, "step_grants": 0} and remote.requested_lr == 0.04


class PauseAt(L.Callback):
    def __init__(self, control: JobControl, step: int) -> None:
        self.control, self.step = control, step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            self.control.pause()


def test_a_pause_longer_than_the_limit_stops_the_run_with_a_checkpoint(tmp_path):
    control = JobControl(max_pause_s=0.5)
    summary = engine.train(QUICK.replace(epochs=3), root=tmp_path, control=control,
                           extra_callbacks=[PauseAt(control, 3)])
    run = runs.list_runs(tmp_path)[0]
    assert summary["status"] == "stopped" and summary["steps"] == 3
    assert run.state == "stopped" and run.status["pause_limit"] is True
    assert "Paused for longer than the class allows" in run.status["message"]
    assert runs.load_model(run, "last") is not None


def test_the_pause_limit_is_the_teachers_and_the_worker_reads_it(tmp_path, monkeypatch):
    from vision_core import limits
    from vision_core.classroom import worker

    assert limits.Limits().max_pause_minutes == 30
    (tmp_path / "classroom.toml").write_text("max_pause_minutes = 5\n")
    monkeypatch.setenv(limits.ENV_VAR, str(tmp_path / "classroom.toml"))
    assert worker._max_pause_minutes() == 5
    (tmp_path / "classroom.toml").write_text("max_pause_minutes = 0\n")  # a bad file: the default, not no limit
    assert worker._max_pause_minutes() == 30


class StopIntoEpoch2(L.Callback):
    def __init__(self, control: JobControl, steps: int) -> None:
        self.control, self.steps = control, steps

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step >= trainer.num_training_batches + self.steps:
            self.control.stop()


def test_a_stopped_run_continues_from_its_checkpoint_in_its_own_folder(tmp_path):
    config = QUICK.replace(epochs=3)
    run = runs.create_run(config, tmp_path, owner="alice")
    control, state = JobControl(), LiveState()
    engine.train(config, run=run, control=control, state=state, extra_callbacks=[StopIntoEpoch2(control, 5)])
    steps_per_epoch = state.steps_per_epoch
    stopped = runs.load_run(run.run_id, tmp_path)
    assert stopped.state == "stopped" and state.step == steps_per_epoch + 5
    loss_at_stop = state.steps[-1][1]
    before = pd.read_csv(run.path / "metrics.csv")

    scheduler = jobs.Scheduler(tmp_path, tick=60, cpu_slots=1)
    scheduler.start = lambda: scheduler  # no thread: the worker is started by hand below
    with pytest.raises(jobs.QueueError, match="not yours"):
        scheduler.continue_run(run.run_id, "bob")
    scheduler.continue_run(run.run_id, "alice")
    queued = runs.load_run(run.run_id, tmp_path)
    assert queued.state == "queued" and "Continues from epoch 3" in queued.status["message"]
    assert not RemoteControl(run.path).stop_requested  # the stop that ended it is done with

    done = subprocess.run([sys.executable, "-m", "vision_core.classroom.worker", run.run_id, "--runs-dir",
                           str(tmp_path)], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:]
    finished = runs.load_run(run.run_id, tmp_path)
    assert finished.state == "finished" and finished.summary["epochs_completed"] == 3
    metrics = pd.read_csv(run.path / "metrics.csv")
    assert len(metrics) > len(before)
    assert metrics["step"].iloc[:len(before)].tolist() == before["step"].tolist()  # the first session's rows stay
    epoch_rows = metrics.dropna(subset=["train_loss_epoch"])
    assert epoch_rows["epoch"].tolist() == [0, 1, 2]  # epoch 3 follows the stopped epoch 2
    # Steps go on counting: epoch 2 ended at its stop (5 steps), epoch 3 is a whole one.
    assert epoch_rows["step"].tolist() == [steps_per_epoch - 1, steps_per_epoch + 4, 2 * steps_per_epoch + 4]
    live = json.loads((run.path / "live.json").read_text())
    assert [e["epoch"] for e in live["epochs"]] == [1, 2, 3]  # one curve, not a new one from epoch 1
    first_new = next(loss for step, loss, _ in live["steps"] if step > steps_per_epoch + 5)
    assert first_new < 1.5 and abs(first_new - loss_at_stop) < 1.0  # trained weights: ln 10 = 2.3 for a fresh one
    assert finished.summary["test_acc"] > 0.8
    with pytest.raises(jobs.QueueError, match="only a stopped or interrupted run"):
        scheduler.continue_run(run.run_id, "alice")


def test_continued_state_takes_only_what_has_the_shape_we_write(tmp_path):
    (tmp_path / "live.json").write_text(json.dumps({
        "version": 3, "steps": [[1, 2.3, 0.1], [2, 2.1, 0.2]], "lr_history": [[0, 0.001]],
        "epochs": [{"epoch": 1, "val_acc": 0.5, "seconds": 2.0}]}))
    state = continued_state(tmp_path, 5)
    assert state.step == state.first_step == 2 and state.epoch_seconds == [2.0] and state.total_epochs == 5
    (tmp_path / "live.json").write_text(json.dumps({
        "version": 3, "steps": [[1, "![x](y)", 0.1]], "epochs": [{"epoch": "<b>"}], "lr_history": "lots"}))
    state = continued_state(tmp_path, 5)
    assert state.steps == [] and state.epochs == [] and state.lr_history == []


def entry_folder(root, run_id, status, device="cpu", estimate_mb=0.0, owner="alice"):
    run = runs.create_run(QUICK, root, run_id=run_id, owner=owner)
    runs.write_status(run, status, kind=device, estimate_mb=estimate_mb, submitted=time.time())
    return run


class FakeLauncher:
    def __init__(self) -> None:
        self.launched: list[str] = []

    def launch(self, run_id, root, env, memory_mb) -> None:
        self.launched.append(run_id)

    def finished(self) -> dict:
        return {}


def test_a_paused_run_gives_its_cpu_slot_to_the_next_queued_run(tmp_path):
    launcher = FakeLauncher()
    scheduler = jobs.Scheduler(tmp_path, launcher=launcher, cpu_slots=1, tick=60)
    training = entry_folder(tmp_path, "a-training", "running")
    entry_folder(tmp_path, "b-queued", "queued", owner="bob")
    view = scheduler.refresh()
    assert launcher.launched == [] and view.get("b-queued").wait_s > 0  # one slot, taken

    runs.write_status(training, "paused")  # what the worker writes when its owner pauses it
    view = scheduler.refresh()
    assert launcher.launched == ["b-queued"]
    assert view.get("a-training").status == "paused" and view.get("a-training").wait_s is None  # no end to show


def test_a_paused_gpu_run_keeps_its_memory_in_the_teachers_share(tmp_path):
    launcher = FakeLauncher()
    scheduler = jobs.Scheduler(tmp_path, launcher=launcher, gpu_slots=1, tick=60)
    scheduler._gpus = [1000.0]  # one GPU of 1,000 MB; the share is 90 %
    entry_folder(tmp_path, "a-paused", "paused", device="gpu", estimate_mb=800)
    entry_folder(tmp_path, "b-big", "queued", device="gpu", estimate_mb=200, owner="bob")
    scheduler.refresh()
    assert launcher.launched == []  # 800 + 200 MB is over the share, though the slot is free
    entry_folder(tmp_path, "c-small", "queued", device="gpu", estimate_mb=50, owner="carol")
    scheduler.refresh()
    assert launcher.launched == ["c-small"]
