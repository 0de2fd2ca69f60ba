"""The classroom queue: runs train in worker processes that pages control through the run folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.patience import wait_for
from vision_core.classroom import jobs
from vision_core.config import RunConfig
from vision_core.runs import store as runs
from vision_core.runs.live_summary import read_live_summary, summarise_live
from vision_core.training.live import FileControl, RemoteControl, read_live

# On the CPU wherever the tests run: the CPU slots are what these tests count (a GPU runs several side by side).
QUICK = RunConfig(dataset="digits", model="lenet", epochs=1, batch_size=64, lr=2e-3, snapshot_every=0,
                  accelerator="cpu")
ROOT = Path(__file__).resolve().parents[2]


class RecordingLauncher:
    """Starts no process: records the runs a scheduler starts; ``exits[run_id] = code`` makes one end."""

    def __init__(self) -> None:
        self.launched: list[str] = []
        self.exits: dict[str, int] = {}

    def resolve_accelerator(self, accelerator: str) -> str:
        return "cpu"

    def launch(self, run_id, root, env, memory_mb) -> None:
        self.launched.append(run_id)

    def finished(self) -> dict[str, int]:
        done, self.exits = self.exits, {}
        return done


def threadless(scheduler: jobs.Scheduler) -> jobs.Scheduler:
    """No scheduler thread: the test ticks it with refresh()."""
    scheduler.start = lambda: scheduler
    return scheduler


def live(run):
    return read_live(run.path) or {}


def state(run, root):
    return runs.load_run(run.run_id, root).state


@pytest.fixture
def scheduler(tmp_path):
    return jobs.Scheduler(tmp_path, tick=0.2, cpu_slots=1)


def test_a_run_trains_in_its_own_process_and_publishes_live_curves(scheduler, tmp_path):
    run = scheduler.submit(QUICK, owner="alice")
    # Queued, or already taken by the scheduler's thread (every 0.2 s) when this thread is slow to look.
    assert state(run, tmp_path) in ("queued", "starting")
    wait_for(lambda: state(run, tmp_path) == "finished", what="the run to finish")
    finished = runs.load_run(run.run_id, tmp_path)
    snap = live(finished)
    assert snap["status"] == "finished" and snap["steps"] and snap["epochs"]
    assert read_live_summary(finished.path) == summarise_live(snap)  # what the queue reads of it every tick
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
    # A kill -9 is not the machine running out of memory (the kernel's OOM killer killed nothing meanwhile).
    assert "stopped by a signal (SIGKILL)" in dead.status["message"]
    assert "memory" not in dead.status["message"]
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


def test_death_messages_name_the_signal_and_blame_memory_only_on_evidence():
    assert "stopped by a signal (SIGKILL)" in jobs.death_message(-9, 4096)
    assert "memory" not in jobs.death_message(-9, 4096)
    assert "stopped by a signal (SIGKILL)" in jobs.death_message(137, 64)  # a shell's or a cluster's 128 + 9
    assert "stopped by a signal (SIGTERM)" in jobs.death_message(-15, 64)
    oom = jobs.death_message(-9, 4096, out_of_memory=True)
    assert "ran out of memory at batch size 4096" in oom and "Try batch size 1024" in oom
    assert "SIGSEGV" in jobs.death_message(-11, 64, out_of_memory=True)  # the OOM killer only ever sends SIGKILL
    assert "exit code 3" in jobs.death_message(3, 64)
    assert jobs.oom_kills() is not None  # Linux counts the OOM killer's kills (cgroup or /proc/vmstat)


@pytest.mark.parametrize(("kills_at_launch", "kills_at_exit", "said"), [
    (5, 5, "stopped by a signal (SIGKILL)"),
    (5, 6, "ran out of memory at batch size 256"),
])
def test_a_sigkilled_worker_is_out_of_memory_only_when_the_oom_killer_acted(tmp_path, monkeypatch, kills_at_launch,
                                                                             kills_at_exit, said):
    launcher = RecordingLauncher()
    scheduler = threadless(jobs.Scheduler(tmp_path, launcher=launcher, tick=60, cpu_slots=1))
    run = scheduler.submit(QUICK.replace(batch_size=256), owner="alice")
    monkeypatch.setattr(jobs, "oom_kills", lambda: kills_at_launch)
    scheduler.refresh()
    assert launcher.launched == [run.run_id]
    launcher.exits[run.run_id] = -signal.SIGKILL
    monkeypatch.setattr(jobs, "oom_kills", lambda: kills_at_exit)
    scheduler.refresh()
    dead = runs.load_run(run.run_id, tmp_path)
    assert dead.state == "failed" and said in dead.status["message"]


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


def test_a_run_on_a_gpu_gets_no_heap_cap_and_running_out_of_memory_reads_the_same_however_it_is_raised(monkeypatch):
    import torch

    from vision_core.classroom import worker

    # On the GPU machine a capped "auto" run died in CUDA's start-up with std::bad_alloc: no cap when it uses a GPU.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert worker.trains_on_a_gpu("auto") and worker.trains_on_a_gpu("gpu") and not worker.trains_on_a_gpu("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not worker.trains_on_a_gpu("auto")
    advice = "The run ran out of memory at batch size 512. Try batch size 128"
    for exc in (MemoryError(), RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9"),
                RuntimeError("std::bad_alloc")):
        assert worker.failure_message(exc, 512).startswith(advice)
    assert worker.failure_message(ValueError("odd"), 512) == "Training stopped with an unexpected error: ValueError: odd"


def test_a_worker_over_its_memory_cap_fails_alone_with_a_clear_reason(tmp_path):
    import subprocess
    import sys

    # Small enough for the guard (≈1 GB estimated), too big for a 300 MB heap cap: the first batch fails.
    config = RunConfig(dataset="digits", model="custom", batch_size=512, epochs=1, snapshot_every=0, accelerator="cpu",
                       model_options={"blocks": 1, "convs_per_block": 3, "channels": 64, "pool": None,
                                      "linear_layers": 0})
    run = runs.create_run(config, tmp_path, owner="alice")
    # With its share of the cores, as the scheduler launches it: thread stacks count against the cap too, and on a
    # 16-core machine one thread per core failed to start under 300 MB (abort, not the message tested here).
    env = {**os.environ, "VISION_CORE_THREADS": "2", "OMP_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-m", "vision_core.classroom.worker", run.run_id, "--runs-dir", str(tmp_path),
                           "--memory-mb", "300"], check=False, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 1, done.stderr[-2000:]
    failed = runs.load_run(run.run_id, tmp_path)
    assert failed.state == "failed"
    assert "ran out of memory at batch size 512" in failed.status["message"]
    assert "Try batch size 128" in failed.status["message"]


def test_a_warm_worker_takes_the_next_run_and_a_new_one_waits_after_it(tmp_path):
    launcher = jobs.LocalLauncher(warm=1, fork=False)
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


def test_runs_are_forked_from_one_fork_server_with_the_environment_of_their_launch(tmp_path, monkeypatch):
    """The default: one process imports torch and Lightning once; each run is a fork of it, in its own session,
    with the environment a fresh process started at launch would have, and its exit code comes back."""
    launcher = jobs.LocalLauncher()
    assert launcher.fork and launcher.warm_size == 0
    scheduler = jobs.Scheduler(tmp_path, tick=0.2, cpu_slots=1, launcher=launcher)
    scheduler.refresh()  # nothing is starting: the fork server is started ahead of the first run
    server = jobs.ForkServer.shared()
    monkeypatch.setenv("VISION_CORE_FORK_TEST_MARK", "set after the fork server started")
    first = scheduler.submit(QUICK, owner="alice")
    wait_for(lambda: state(first, tmp_path) == "finished", what="the first forked run to finish")
    second = scheduler.submit(QUICK, owner="bob")
    wait_for(lambda: state(second, tmp_path) == "finished", what="the second forked run to finish")
    pids = {runs.load_run(r.run_id, tmp_path).status["pid"] for r in (first, second)}
    assert len(pids) == 2 and server.process.pid not in pids
    assert jobs.ForkServer.shared() is server  # one fork server for both runs
    for pid in pids:  # forked by the fork server (its parent), each in a session of its own
        assert server.pids[first.run_id] in pids
        assert pid != os.getpid()
    assert runs.load_run(first.run_id, tmp_path).summary["test_acc"] > 0.3
    assert (first.path / "worker.log").exists()
    # The exit codes come back through the fork server and are reaped by the scheduler.
    wait_for(lambda: not launcher.forked, what="the scheduler to reap both forked workers")


def test_a_forked_worker_sees_the_settings_of_its_launch_time(tmp_path, monkeypatch):
    from vision_core.classroom import worker

    monkeypatch.setenv("VISION_CORE_FORK_TEST_MARK", "late")
    env = {**os.environ, "EXTRA": "1"}
    job = worker._job(json.dumps({"run_id": "r", "runs_dir": str(tmp_path), "env": env, "cwd": str(tmp_path)}))
    assert job is not None and job[3]["VISION_CORE_FORK_TEST_MARK"] == "late" and job[3]["EXTRA"] == "1"
    assert worker._job(b"not json") is None and worker._job(json.dumps({"runs_dir": "x"})) is None


def test_no_warm_worker_means_a_cold_start_as_before(tmp_path):
    launcher = jobs.LocalLauncher(fork=False)
    scheduler = jobs.Scheduler(tmp_path, tick=0.2, cpu_slots=1, launcher=launcher)
    run = scheduler.submit(QUICK.replace(epochs=1), owner="bob")
    wait_for(lambda: run.run_id in launcher.processes, what="the launch")
    assert launcher._warm == []
    wait_for(lambda: state(run, tmp_path) == "finished", what="the cold run to finish")


# ---- the command line and the dashboard share a runs folder ----------------------------------------------


def test_a_cli_run_beside_a_running_scheduler_is_trained_once_and_shown_live(tmp_path, monkeypatch):
    from vision_core import cli

    monkeypatch.setenv(cli.RUN_ID_ENV, "")  # the CLI sets it for DDP; restored after the test
    launcher = RecordingLauncher()
    scheduler = jobs.Scheduler(tmp_path, launcher=launcher, tick=0.1, cpu_slots=4)
    seen = set()  # what the scheduler showed every page: (run id, status)
    publish = scheduler._publish

    def recording_publish(entries):
        seen.update((e.run_id, e.status) for e in entries)
        publish(entries)

    monkeypatch.setattr(scheduler, "_publish", recording_publish)
    scheduler.start()
    try:
        code = cli.main(["train", "--dataset", "digits", "--model", "linear", "--epochs", "2", "--no-progress",
                         "--runs-dir", str(tmp_path), "--limit-train-batches", "20"])
    finally:
        scheduler.close()
    assert code == 0
    [run] = runs.list_runs(tmp_path)
    assert run.state == "finished"
    assert launcher.launched == []  # the scheduler never started a worker for it
    assert runs.training_claim(run.path)["by"] == "cli"
    assert {status for run_id, status in seen if run_id == run.run_id} & set(jobs.RUNNING)  # listed while training
    assert live(run)["status"] == "finished" and live(run)["epochs"]  # the curves a page draws


def test_engine_train_called_from_python_beside_a_running_scheduler_is_trained_once(tmp_path):
    """A notebook or a test calling engine.train on the dashboard's runs folder: the scheduler never starts a
    worker for that run too (it saw a queued run, and two trainers wrote one metrics.csv: an e2e failure)."""
    from vision_core.training import engine

    launcher = RecordingLauncher()
    scheduler = jobs.Scheduler(tmp_path, launcher=launcher, tick=0.05, cpu_slots=4)
    scheduler.start()
    try:
        summary = engine.train(QUICK, root=tmp_path, trainer_options={"limit_train_batches": 5})
        time.sleep(0.3)  # a few more ticks of the scheduler after the run ended
    finally:
        scheduler.close()
    [run] = runs.list_runs(tmp_path)
    assert run.state == "finished" and summary["test_acc"] is not None
    assert launcher.launched == []
    assert runs.training_claim(run.path)["by"] == "python"


def test_two_schedulers_on_one_runs_folder_start_a_queued_run_exactly_once(tmp_path, monkeypatch):
    first_launcher, second_launcher = RecordingLauncher(), RecordingLauncher()
    first = threadless(jobs.Scheduler(tmp_path, launcher=first_launcher, tick=60, cpu_slots=4))
    second = threadless(jobs.Scheduler(tmp_path, launcher=second_launcher, tick=60, cpu_slots=4))
    run = first.submit(QUICK, owner="alice")
    ticks = [threading.Thread(target=s.refresh) for _ in range(5) for s in (first, second)]
    for t in ticks:
        t.start()
    for t in ticks:
        t.join()
    assert first_launcher.launched + second_launcher.launched == [run.run_id]
    assert first.leading != second.leading  # one leads, the other follows
    leader, follower = (first, second) if first.leading else (second, first)
    assert follower.refresh().get(run.run_id).status == "starting"  # the follower still shows the queue

    # Even two leaders at once (what the lock prevents) cannot start one run twice: the start is claimed.
    both = second.submit(QUICK, owner="bob")
    monkeypatch.setattr(first, "_lead", lambda: True)
    monkeypatch.setattr(second, "_lead", lambda: True)
    first.refresh(), second.refresh()
    assert (first_launcher.launched + second_launcher.launched).count(both.run_id) == 1
    monkeypatch.undo()

    # The leader goes away: the follower takes over and starts the next run.
    leader.close()
    later = follower.submit(QUICK, owner="carol")
    follower.refresh()
    assert follower.leading
    follower_launcher = second_launcher if follower is second else first_launcher
    assert follower_launcher.launched[-1] == later.run_id
    follower.close()


def test_leading_passes_to_another_scheduler_when_the_leaders_process_dies(tmp_path):
    code = textwrap.dedent("""
        import sys, time
        from vision_core.classroom import jobs

        class Idle:
            def launch(self, *args): pass
            def finished(self): return {}

        scheduler = jobs.Scheduler(sys.argv[1], launcher=Idle())
        scheduler.refresh()
        print(scheduler.leading, flush=True)
        time.sleep(600)
    """)
    leader = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert leader.stdout.readline().strip() == "True"
        here = threadless(jobs.Scheduler(tmp_path, launcher=RecordingLauncher(), tick=60))
        here.refresh()
        assert not here.leading
    finally:
        leader.kill()  # SIGKILL: no goodbye, the OS drops its lock
        leader.wait()
    here.refresh()
    assert here.leading
    here.close()


def test_eight_concurrent_submits_of_one_person_stop_at_the_cap(tmp_path, monkeypatch):
    scheduler = threadless(jobs.Scheduler(tmp_path, launcher=RecordingLauncher(), tick=60))
    create = runs.create_run

    def slow_create(*args, **kwargs):
        time.sleep(0.2)  # what a busy disk does: widens the gap between counting and creating
        return create(*args, **kwargs)

    monkeypatch.setattr(runs, "create_run", slow_create)
    barrier, results = threading.Barrier(8), []

    def click():
        barrier.wait()
        try:
            scheduler.submit(QUICK, owner="alice")
            results.append("accepted")
        except jobs.QueueError:
            results.append("refused")

    threads = [threading.Thread(target=click) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["accepted"] * 2 + ["refused"] * 6
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_submits_from_several_server_processes_share_one_lock(tmp_path):
    code = textwrap.dedent("""
        import sys, time
        from vision_core.classroom import jobs
        from vision_core.config import RunConfig
        from vision_core.runs import store

        create = store.create_run
        store.create_run = lambda *a, **k: (time.sleep(0.5), create(*a, **k))[1]  # a slow disk

        class Idle:
            def resolve_accelerator(self, accelerator): return "cpu"
            def launch(self, *args): pass
            def finished(self): return {}

        scheduler = jobs.Scheduler(sys.argv[1], launcher=Idle())
        scheduler.start = lambda: scheduler
        time.sleep(max(float(sys.argv[2]) - time.time(), 0))  # all processes submit at the same moment
        try:
            scheduler.submit(RunConfig(dataset="digits", model="lenet"), owner="alice")
            print("accepted")
        except jobs.QueueError:
            print("refused")
    """)
    at = str(time.time() + 8)
    processes = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), at], cwd=ROOT, stdout=subprocess.PIPE,
                                  text=True) for _ in range(4)]
    results = sorted(p.communicate(timeout=120)[0].strip() for p in processes)
    assert results == ["accepted"] * 2 + ["refused"] * 2


def test_the_whole_class_queue_has_a_cap_the_teacher_sets(tmp_path, monkeypatch):
    from vision_core.limits import Limits

    limits = tmp_path / "classroom.toml"
    limits.write_text("max_queued_runs = 3\n")
    monkeypatch.setenv("VISION_CORE_CLASSROOM", str(limits))
    scheduler = threadless(jobs.Scheduler(tmp_path / "runs", launcher=RecordingLauncher(), tick=60))
    for owner in ("ann", "ben", "cat"):
        scheduler.submit(QUICK, owner=owner)
    with pytest.raises(jobs.QueueError, match=r"The class queue is full: 3 runs are waiting .*limit is 3\)"):
        scheduler.submit(QUICK, owner="dan")
    scheduler.submit(QUICK, owner=None, teacher=True)  # the teacher's own run is not refused
    assert Limits().max_queued_runs == 60


def test_a_stale_scheduler_claim_on_a_queued_run_is_taken_over_but_a_cli_claim_never(tmp_path):
    import json

    launcher = RecordingLauncher()
    scheduler = threadless(jobs.Scheduler(tmp_path, launcher=launcher, tick=60, cpu_slots=4))
    orphan = scheduler.submit(QUICK, owner="alice")  # its scheduler died between the claim and the start
    cli_run = scheduler.submit(QUICK, owner="bob")  # queued by hand, but the command line trains it
    long_ago = time.time() - 10 * runs.STARTING_GRACE_S
    (orphan.path / runs.TRAINER_FILE).write_text(json.dumps({"by": "scheduler", "pid": 1, "at": long_ago}))
    (cli_run.path / runs.TRAINER_FILE).write_text(json.dumps({"by": "cli", "pid": 1, "at": long_ago}))
    scheduler.refresh()
    assert launcher.launched == [orphan.run_id]
    scheduler.close()


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
