"""The classroom queue: runs train in worker processes that pages control through the run folder."""

from __future__ import annotations

import os
import signal
import time

import pytest

from vision_core.classroom import jobs
from vision_core.config import RunConfig
from vision_core.runs import store as runs
from vision_core.training.live import FileControl, RemoteControl, read_live

QUICK = RunConfig(dataset="digits", model="lenet", epochs=1, batch_size=64, lr=2e-3, snapshot_every=0)


def wait_for(predicate, timeout=180.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def live(run):
    return read_live(run.path) or {}


def state(run, root):
    return runs.load_run(run.run_id, root).state


@pytest.fixture
def scheduler(tmp_path):
    return jobs.Scheduler(tmp_path, tick=0.2, cpu_slots=1)


def test_a_run_trains_in_its_own_process_and_publishes_live_curves(scheduler, tmp_path):
    run = scheduler.submit(QUICK, owner="alice")
    assert state(run, tmp_path) == "queued"
    wait_for(lambda: state(run, tmp_path) == "finished", what="the run to finish")
    finished = runs.load_run(run.run_id, tmp_path)
    snap = live(finished)
    assert snap["status"] == "finished" and snap["steps"] and snap["epochs"]
    assert finished.status["pid"] != os.getpid()  # trained in a worker, not in this process
    assert finished.owner == "alice"
    assert finished.summary["test_acc"] > 0.3
    assert runs.load_model(finished) is not None


def test_pause_single_step_resume_and_stop_cross_the_process_boundary(scheduler, tmp_path):
    run = scheduler.submit(QUICK.replace(epochs=50), owner="alice", start_paused=True)
    control = RemoteControl(run.path)
    wait_for(lambda: live(run).get("status") == "paused", what="the worker to start paused")
    assert live(run)["step"] == 0
    control.step(1)
    wait_for(lambda: live(run).get("step") == 1 and live(run).get("status") == "paused", what="one step")
    time.sleep(1.0)
    assert live(run)["step"] == 1  # exactly one batch, then paused again
    control.step(2)
    wait_for(lambda: live(run).get("step") == 3, what="two more steps")
    control.resume()
    wait_for(lambda: live(run).get("step", 0) > 10, what="training to go on after resume")
    control.stop()
    wait_for(lambda: state(run, tmp_path) == "stopped", what="the stop")
    stopped = runs.load_run(run.run_id, tmp_path)
    assert stopped.checkpoint("last") is not None  # stop leaves a usable checkpoint
    assert runs.load_model(stopped, "last") is not None


def test_a_killed_worker_ends_alone_and_the_run_says_why(scheduler, tmp_path):
    run = scheduler.submit(QUICK.replace(epochs=200), owner="alice")
    wait_for(lambda: (run.path / "checkpoints" / "last.ckpt").is_file(), what="a first checkpoint")
    pid = runs.load_run(run.run_id, tmp_path).status["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: state(run, tmp_path) == "failed", what="the scheduler to notice")
    dead = runs.load_run(run.run_id, tmp_path)
    assert "killed (signal 9)" in dead.status["message"] and "batch size 64" in dead.status["message"]
    assert runs.load_model(dead, "last") is not None  # what it saved is kept
    # The queue goes on: the next run starts and finishes.
    nxt = scheduler.submit(QUICK, owner="bob")
    wait_for(lambda: state(nxt, tmp_path) == "finished", what="the next run")


def test_a_new_server_finds_a_running_worker_and_controls_it(tmp_path):
    first = jobs.Scheduler(tmp_path, tick=0.2)
    run = first.submit(QUICK.replace(epochs=200), owner="alice")
    wait_for(lambda: live(run).get("status") == "running", what="training")
    # A second server process on the same runs folder (the first one "restarted").
    second = jobs.Scheduler(tmp_path, tick=0.2, launcher=jobs.LocalLauncher())
    entry = second.refresh().get(run.run_id)
    assert entry is not None and entry.status == "running" and entry.owner == "alice"
    before = live(run)["version"]
    wait_for(lambda: live(run)["version"] > before, what="live curves to keep coming")
    second.control(run).stop()
    wait_for(lambda: state(run, tmp_path) == "stopped", what="the stop from the second server")


def test_queued_runs_wait_for_a_slot_take_turns_and_can_be_cancelled(tmp_path):
    scheduler = jobs.Scheduler(tmp_path, tick=0.2, cpu_slots=1)
    first = scheduler.submit(QUICK.replace(epochs=200), owner="alice", start_paused=True)
    second = scheduler.submit(QUICK, owner="alice")
    third = scheduler.submit(QUICK, owner="bob")
    wait_for(lambda: state(first, tmp_path) in jobs.RUNNING, what="the first run to start")
    view = scheduler.refresh()
    # Bob's first run goes before Alice's second one (people take turns).
    assert view.get(third.run_id).position == 1 and view.get(second.run_id).position == 2
    assert view.get(third.run_id).wait_s is not None
    RemoteControl(second.path).stop()
    wait_for(lambda: state(second, tmp_path) == "stopped", what="the cancel")
    assert "Cancelled" in runs.load_run(second.run_id, tmp_path).status["message"]
    RemoteControl(first.path).stop()
    wait_for(lambda: state(third, tmp_path) == "finished", what="bob's run")


def test_each_person_has_a_capped_share_of_the_queue(tmp_path):
    scheduler = jobs.Scheduler(tmp_path, tick=60, cpu_slots=1)
    scheduler.start = lambda: scheduler  # no thread: nothing starts, everything stays queued
    scheduler.submit(QUICK, owner="alice")
    scheduler.submit(QUICK, owner="alice")
    with pytest.raises(jobs.QueueError, match="limit is 2 per person"):
        scheduler.submit(QUICK, owner="alice")
    scheduler.submit(QUICK, owner="bob")  # others are not affected
    scheduler.submit(QUICK, owner="alice", teacher=True)  # nor is the teacher


def test_file_control_grants_exactly_the_steps_asked_for(tmp_path):
    remote, worker = RemoteControl(tmp_path), FileControl(tmp_path / "control.json")
    remote.pause()
    worker.refresh(force=True)
    assert worker.paused
    remote.step(3)
    worker.refresh(force=True)
    for _ in range(3):
        worker.wait_for_turn()
    assert worker.paused
    remote.resume()
    worker.refresh(force=True)
    assert not worker.paused
    remote.stop()
    worker.refresh(force=True)
    assert worker.stop_requested


def test_death_messages_name_the_cause():
    assert "ran out of memory at batch size 4096" in jobs.death_message(-9, 4096)
    assert "batch size 1024" in jobs.death_message(-9, 4096)
    assert "exit code 3" in jobs.death_message(3, 64)


def test_file_control_carries_a_learning_rate_and_refuses_bad_ones(tmp_path):
    remote, worker = RemoteControl(tmp_path), FileControl(tmp_path / "control.json")
    remote.set_lr(0.05)
    worker.refresh(force=True)
    assert worker.requested_lr == 0.05
    for bad in (0, -1, 100, float("nan"), "0.1", True):
        with pytest.raises(ValueError, match="learning rate must be"):
            remote.set_lr(bad)
    (tmp_path / "control.json").write_text('{"lr": "lots"}')
    worker.refresh(force=True)
    assert worker.requested_lr == 0.05  # a damaged file changes nothing


def test_the_learning_rate_changes_while_training_and_metrics_record_where(tmp_path):
    import lightning as L
    import pandas as pd

    from vision_core.training import engine
    from vision_core.training.live import JobControl, LiveState

    control, state = JobControl(), LiveState()

    class ChangeAtStep5(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == 5:
                control.set_lr(0.0123)

    # The callback runs after LiveCallback's batch end; the change applies before the next batch.
    engine.train(QUICK, root=tmp_path, state=state, control=control, extra_callbacks=[ChangeAtStep5()])
    history = state.snapshot()["lr_history"]
    assert history[0] == (0, QUICK.lr)
    assert any(step in (5, 6) and lr == 0.0123 for step, lr in history)
    run = runs.list_runs(tmp_path)[0]
    metrics = pd.read_csv(run.path / "metrics.csv")
    assert (metrics["lr"] == 0.0123).any()


def test_the_queue_table_names_places_owners_and_waits():
    from ui.queue_table import queue_rows

    def entry(run_id, status, owner, position=None, wait=None):
        return jobs.Entry(run_id=run_id, status=status, owner=owner, device="cpu", submitted=0, estimate_mb=0,
                          epochs=3, model="lenet", dataset="digits", batch_size=32, position=position, wait_s=wait,
                          progress=0.5 if status == "running" else 0.0)

    view = jobs.QueueView([entry("a", "running", "me", wait=30), entry("b", "queued", "you", 1, 30),
                           entry("c", "queued", "me", 2, 400)])
    rows = queue_rows(view, "me")
    assert [r["place"] for r in rows] == ["training", "#1", "#2"]
    assert [r["whose"] for r in rows] == ["yours", "a classmate's", "yours"]
    assert [r["wait / left"] for r in rows] == ["30 s", "30 s", "7 min"]


def test_a_worker_over_its_memory_cap_fails_alone_with_a_clear_reason(tmp_path):
    import subprocess
    import sys

    # Small enough for the guard (≈1 GB estimated), too big for a 300 MB heap cap: the first batch fails.
    config = RunConfig(dataset="digits", model="custom", batch_size=512, epochs=1, snapshot_every=0,
                       model_options={"blocks": 1, "convs_per_block": 3, "channels": 64, "pool": None,
                                      "linear_layers": 0})
    run = runs.create_run(config, tmp_path, owner="alice")
    done = subprocess.run([sys.executable, "-m", "vision_core.classroom.worker", run.run_id, "--runs-dir", str(tmp_path),
                           "--memory-mb", "300"], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    failed = runs.load_run(run.run_id, tmp_path)
    assert failed.state == "failed"
    assert "ran out of memory at batch size 512" in failed.status["message"]
    assert "Try batch size 128" in failed.status["message"]


def test_a_warm_worker_takes_the_next_run_and_a_new_one_waits_after_it(tmp_path):
    launcher = jobs.LocalLauncher(warm=1)
    scheduler = jobs.Scheduler(tmp_path, tick=0.2, cpu_slots=1, launcher=launcher)
    scheduler.refresh()  # nothing is starting: the scheduler keeps one worker warm
    assert len(launcher._warm) == 1
    warm_pid = launcher._warm[0].pid
    run = scheduler.submit(QUICK, owner="alice")  # the scheduler's own thread launches it
    wait_for(lambda: run.run_id in launcher.processes, what="the launch")
    assert launcher.processes[run.run_id].pid == warm_pid  # the run went to the waiting process
    wait_for(lambda: state(run, tmp_path) == "finished", what="the run to finish in the warm worker")
    finished = runs.load_run(run.run_id, tmp_path)
    assert finished.status["pid"] == warm_pid and finished.summary["test_acc"] > 0.3
    assert (run.path / "worker.log").exists()  # its output went where a cold worker's would
    wait_for(lambda: launcher._warm and launcher._warm[0].pid != warm_pid,
             what="a new warm worker once nothing is starting")
    spare = launcher._warm[0]
    spare.stdin.close()  # the server went away: a warm worker without a run ends by itself
    assert spare.wait(timeout=120) == 0


def test_no_warm_worker_means_a_cold_start_as_before(tmp_path):
    launcher = jobs.LocalLauncher()
    scheduler = jobs.Scheduler(tmp_path, tick=0.2, cpu_slots=1, launcher=launcher)
    run = scheduler.submit(QUICK.replace(epochs=1), owner="bob")
    wait_for(lambda: run.run_id in launcher.processes, what="the launch")
    assert launcher._warm == []
    wait_for(lambda: state(run, tmp_path) == "finished", what="the cold run to finish")


def test_parallel_runs_is_the_slots_of_the_device_the_runs_will_get(tmp_path):
    cpu_only = jobs.Scheduler(tmp_path, cpu_slots=1, gpu_slots=8)
    cpu_only._gpus = []
    assert cpu_only.parallel_runs("auto") == cpu_only.parallel_runs("gpu") == 1  # auto on a CPU server: the CPU
    two_gpus = jobs.Scheduler(tmp_path, cpu_slots=3, gpu_slots=8)
    two_gpus._gpus = [80_000.0, 80_000.0]
    assert (two_gpus.parallel_runs("auto"), two_gpus.parallel_runs("cpu")) == (16, 3)

    class Cluster:
        manages_capacity = True

    assert jobs.Scheduler(tmp_path, launcher=Cluster()).parallel_runs() is None  # Ray queues them itself
