"""The learning-rate range test as a queued job (issue 22.3): a worker runs it, the class shares one result per
set-up, the limits refuse it like a run, and its folder is read like any run folder (untrusted)."""

from __future__ import annotations

import json
import os

import pytest

from tests.core.test_jobs import RecordingLauncher, threadless, wait_for
from vision_core.classroom import jobs
from vision_core.config import RunConfig
from vision_core.runs import range_tests
from vision_core.runs import store as runs
from vision_core.training.lr_finder import lr_range_test

# On the CPU, as the direct calls below: the same numbers to compare (a GPU shuffles with its own generator).
SETUP = RunConfig(dataset="digits", model="lenet", batch_size=32, epochs=3, snapshot_every=0, accelerator="cpu")


def queued_test(tmp_path, owner="alice", num_batches=30):
    scheduler = threadless(jobs.Scheduler(tmp_path, launcher=RecordingLauncher(), tick=60))
    return scheduler, *scheduler.submit_range_test(SETUP, num_batches, owner)


def test_a_queued_range_test_runs_in_a_worker_and_writes_what_the_direct_call_returns(tmp_path):
    scheduler = jobs.Scheduler(tmp_path, tick=0.2, cpu_slots=1)
    try:
        test, shared = scheduler.submit_range_test(SETUP, 30, owner="alice")
        assert not shared and test.kind == runs.LR_RANGE_TEST and test.job == {"num_batches": 30}
        assert runs.load_run(test.run_id, tmp_path).state in ("queued", "starting")  # the scheduler ticks at 0.2 s
        done = wait_for(lambda: (r := runs.load_run(test.run_id, tmp_path)).state not in runs.ACTIVE_STATUSES and r,
                        what="the range test to end")
    finally:
        scheduler.close()
    assert done.state == "finished", done.status
    assert done.status["pid"] != os.getpid() and done.owner == "alice"  # ran in a worker process, owned by alice
    result = range_tests.read_result(done)
    direct = lr_range_test(range_tests.tested_setup(SETUP), num_batches=30)
    assert (result.steepest, result.min_tenth) == (direct.steepest, direct.min_tenth)
    assert result.lrs == pytest.approx(direct.lrs) and result.losses == pytest.approx(direct.losses, rel=1e-4)
    # A training list never offers it as a trained model; the range tests' list does.
    assert runs.list_runs(tmp_path) == [] and [r.run_id for r in runs.list_jobs(runs.LR_RANGE_TEST, tmp_path)] == [
        test.run_id]
    # Anyone asking for the same set-up (a different learning rate or number of epochs changes nothing) shares it.
    again, shared = jobs.Scheduler(tmp_path, launcher=RecordingLauncher()).submit_range_test(
        SETUP.replace(lr=0.3, epochs=9), 30, owner="bob")
    assert (again.run_id, shared) == (test.run_id, True)
    assert range_tests.latest(SETUP, 30, "alice", tmp_path).run_id == test.run_id  # found again after a refresh
    assert range_tests.latest(SETUP, 30, "bob", tmp_path) is None


def test_a_range_test_is_refused_like_a_run(tmp_path, monkeypatch):
    scheduler = threadless(jobs.Scheduler(tmp_path, launcher=RecordingLauncher(), tick=60))
    scheduler.submit(SETUP, owner="alice")
    scheduler.submit(SETUP.replace(seed=1), owner="alice")
    with pytest.raises(jobs.QueueError, match="You already have 2 run.*the limit is 2 per person"):
        scheduler.submit_range_test(SETUP, 30, owner="alice")
    limits = tmp_path / "classroom.toml"
    limits.write_text("max_batch_size = 16\n")
    monkeypatch.setenv("VISION_CORE_CLASSROOM", str(limits))
    with pytest.raises(ValueError, match="Batch size 32 is above this classroom's limit of 16"):
        scheduler.submit_range_test(SETUP, 30, owner="bob")
    with pytest.raises(ValueError, match="num_batches must be a whole number from 20 to 300, got 5000"):
        scheduler.submit_range_test(SETUP.replace(batch_size=8), 5000, owner="bob")
    assert runs.list_jobs(runs.LR_RANGE_TEST, tmp_path) == []  # nothing was queued for bob


def test_a_queued_range_test_is_one_more_job_of_its_owner_and_can_be_cancelled(tmp_path):
    scheduler, test, _ = queued_test(tmp_path)
    scheduler.submit(SETUP, owner="alice")
    with pytest.raises(jobs.QueueError, match="You already have 2 run"):
        scheduler.submit(SETUP, owner="alice")
    same, shared = scheduler.submit_range_test(SETUP, 30, owner="alice")  # asking again follows the queued one
    assert (same.run_id, shared) == (test.run_id, False)
    jobs.RemoteControl(test.path).stop()  # its owner's Cancel while it waits
    scheduler.refresh()
    assert runs.load_run(test.run_id, tmp_path).state == "stopped"
    assert scheduler.launcher.launched == [next(r.run_id for r in runs.list_runs(tmp_path))]  # the run started
    with pytest.raises(jobs.QueueError, match="is a learning-rate range test: run the test again"):
        scheduler.continue_run(test.run_id, "alice")


def test_a_damaged_result_or_job_file_is_one_clear_message(tmp_path):
    _, test, _ = queued_test(tmp_path)
    with pytest.raises(runs.RunError, match=f"Range test {test.run_id} has no result yet"):
        range_tests.read_result(test)
    result = test.path / range_tests.RESULT_FILE
    good = {"lrs": [1e-3, 1e-2], "losses": [2.3, 2.1], "smoothed": [2.3, 2.2], "steepest": 1e-2, "min_tenth": 1e-3,
            "stopped_early": False, "notes": ["fine"]}
    result.write_text(json.dumps(good))
    assert range_tests.read_result(test).steepest == 1e-2
    for damage, reason in [({"lrs": [1e-3, -1.0]}, "lrs holds '-1.0', not a positive finite number"),
                           ({"losses": "2.3"}, "losses is not a list"),
                           ({"smoothed": [2.3]}, "differ in length"),
                           ({"steepest": "1e-2"}, "steepest is '1e-2', not a learning rate"),
                           ({"notes": [{"x": 1}]}, "notes is not a short list of sentences")]:
        result.write_text(json.dumps({**good, **damage}))
        with pytest.raises(runs.RunError, match=f"The result of range test {test.run_id} cannot be read: "
                                                f".*{reason}"):
            range_tests.read_result(test)
    result.write_text("{" + " " * range_tests.MAX_RESULT_BYTES)
    with pytest.raises(runs.RunError, match="cannot be read: lr_range_test.json is too large"):
        range_tests.read_result(test)
    result.write_text("not json")
    with pytest.raises(runs.RunError, match="cannot be read: lr_range_test.json is not readable JSON"):
        range_tests.read_result(test)
    # A folder whose kind cannot be read is damaged (a worker would not know what to run); one without job.json,
    # as every folder made before kinds existed, is a training run.
    (test.path / runs.JOB_FILE).write_text(json.dumps({"kind": "mine", "num_batches": 30}))
    (damaged,) = runs.list_damaged(tmp_path)
    assert damaged.reason == "job.json: unknown kind 'mine' (known: train, lr_range_test)"
    (test.path / runs.JOB_FILE).unlink()
    assert runs.load_run(test.run_id, tmp_path).kind == runs.TRAIN


def test_the_command_line_prints_the_suggestions_and_refuses_in_one_line(tmp_path, capsys, monkeypatch):
    from vision_core import cli

    monkeypatch.chdir(tmp_path)
    code = cli.main(["lr-find", "--dataset", "digits", "--model", "lenet", "--batch-size", "32", "--batches", "30",
                     "--accelerator", "cpu"])
    out = capsys.readouterr().out
    direct = lr_range_test(SETUP, num_batches=30)
    assert code == 0
    assert f"steepest      {direct.steepest:.2g}" in out and f"minimum / 10  {direct.min_tenth:.2g}" in out
    assert list(tmp_path.iterdir()) == []  # nothing written
    code = cli.main(["lr-find", "--batches", "5000"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "num_batches must be a whole number from 20 to 300, got 5000" in err
