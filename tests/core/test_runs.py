"""Run folders on disk: create, list, interrupted runs, safe checkpoint loading, CLI parsing."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime

import pytest
import torch

from vision_core import cli
from vision_core.config import RunConfig
from vision_core.runs import store as runs


def test_config_validates_with_the_allowed_values():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        RunConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="lr must be > 0"):
        RunConfig(lr=0)
    config = RunConfig(model="tinyvgg", model_options={"hidden_units": 8})
    assert RunConfig.from_dict({**config.to_dict(), "unknown_future_field": 1}) == config


def test_create_list_and_delete(tmp_path):
    run = runs.create_run(RunConfig(name="My first run!"), tmp_path, owner="abc123")
    assert "my-first-run" in run.run_id
    listed = runs.list_runs(tmp_path)
    assert [r.run_id for r in listed] == [run.run_id]
    assert listed[0].state == "queued"  # waiting for a worker
    assert (listed[0].owner, listed[0].name) == ("abc123", "My first run!")
    with pytest.raises(runs.RunError, match="stop it before deleting"):
        runs.delete_run(run.run_id, tmp_path)
    runs.write_status(run, "finished")
    runs.delete_run(run.run_id, tmp_path)
    assert runs.list_runs(tmp_path) == []


def age_heartbeat(run, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(run.path / "heartbeat", (then, then))


def test_liveness_is_the_heartbeat_not_the_pid(tmp_path):
    run = runs.create_run(RunConfig(), tmp_path)
    runs.write_status(run, "running")  # this process's pid, alive: the reused-pid case below
    assert runs.heartbeat_age(run.path) < 5
    assert runs.load_run(run.run_id, tmp_path).state == "running"
    age_heartbeat(run, runs.HEARTBEAT_TIMEOUT_S + 1)
    interrupted = runs.load_run(run.run_id, tmp_path)
    assert interrupted.state == "interrupted"  # the pid is alive (it is ours), the heartbeat says no
    assert "stopped without finishing" in interrupted.status["message"]
    runs.touch_heartbeat(run)
    assert runs.load_run(run.run_id, tmp_path).state == "running"
    with pytest.raises(runs.RunError, match="still running"):
        runs.delete_run(run.run_id, tmp_path)
    (run.path / "heartbeat").unlink()
    assert runs.heartbeat_age(run.path) is None
    assert runs.load_run(run.run_id, tmp_path).state == "interrupted"
    runs.delete_run(run.run_id, tmp_path)  # an interrupted run can go


def test_starting_has_a_grace_period_and_queued_stays_queued(tmp_path):
    run = runs.create_run(RunConfig(), tmp_path)
    runs.write_status(run, "starting")
    (run.path / "heartbeat").unlink()
    assert runs.load_run(run.run_id, tmp_path).state == "starting"
    status = json.loads((run.path / "status.json").read_text())
    (run.path / "status.json").write_text(json.dumps({**status, "updated": time.time() - runs.STARTING_GRACE_S - 1}))
    assert runs.load_run(run.run_id, tmp_path).state == "interrupted"
    queued = runs.create_run(RunConfig(), tmp_path, run_id="waiting")
    assert runs.load_run(queued.run_id, tmp_path).state == "queued"


@pytest.mark.parametrize("bad", ["../x/y", "..", ".hidden", "a/b", "/etc", "a b", "", "x" * 101, "ü", 5, None,
                                 "a.b", "-lead"])
def test_invalid_run_ids_are_refused_everywhere(tmp_path, bad):
    with pytest.raises(runs.RunError, match="not a valid run id"):
        runs.validate_run_id(bad)
    for call in (lambda: runs.load_run(bad, tmp_path), lambda: runs.delete_run(bad, tmp_path),
                 lambda: runs.run_dir(bad, tmp_path)):
        with pytest.raises(runs.RunError, match="not a valid run id"):
            call()
    if bad is not None:  # None asks create_run to make a fresh id
        with pytest.raises(runs.RunError, match="not a valid run id"):
            runs.create_run(RunConfig(), tmp_path, run_id=bad)
    assert list(tmp_path.iterdir()) == []


def test_traversal_never_deletes_outside_the_runs_folder(tmp_path):
    root, outside = tmp_path / "runs", tmp_path / "x" / "y"
    outside.mkdir(parents=True)
    (outside / "config.json").write_text(RunConfig().to_json())
    root.mkdir()
    with pytest.raises(runs.RunError):
        runs.delete_run("../x/y", root)
    assert outside.is_dir()


def test_a_symlink_out_of_the_runs_folder_is_never_followed(tmp_path):
    root, secret = tmp_path / "runs", tmp_path / "secret"
    root.mkdir()
    real = runs.create_run(RunConfig(), tmp_path, run_id="secret")
    runs.write_status(real, "finished")
    (root / "escape").symlink_to(secret, target_is_directory=True)
    assert runs.list_runs(root) == []
    assert [(d.run_id, "link" in d.reason) for d in runs.list_damaged(root)] == [("escape", True)]
    for call in (lambda: runs.load_run("escape", root), lambda: runs.run_dir("escape", root)):
        with pytest.raises(runs.RunError, match="link"):
            call()
    runs.delete_run("escape", root)  # removes the link itself ...
    assert not (root / "escape").exists()
    assert (secret / "config.json").is_file()  # ... never what it pointed at
    # A checkpoint that is a link to a file elsewhere is not offered either.
    run = runs.create_run(RunConfig(), root, run_id="r1")
    (run.path / "checkpoints" / "best.ckpt").symlink_to(secret / "config.json")
    assert run.checkpoint("best") is None


def test_unreadable_folders_are_listed_as_damaged(tmp_path):
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "config.json").write_text("{not json")
    assert runs.list_runs(tmp_path) == []
    (damaged,) = runs.list_damaged(tmp_path)
    assert damaged.run_id == "garbage" and "config.json" in damaged.reason
    with pytest.raises(runs.RunError, match="No run named"):
        runs.load_run("nope", tmp_path)
    with pytest.raises(runs.RunError, match="damaged"):
        runs.load_run("garbage", tmp_path)
    runs.delete_run("garbage", tmp_path)
    assert runs.list_damaged(tmp_path) == []


def write_finished(root, run_id: str, owner: str | None = "p1") -> runs.RunRecord:
    run = runs.create_run(RunConfig(), root, run_id=run_id, owner=owner)
    runs.write_status(run, "finished", epoch=1)
    runs.write_summary(run, {"test_acc": 0.9, "device": "CPU", "parameters": 10})
    (run.path / "metrics.csv").write_text("epoch,step,train_loss_step,val_acc\n0,0,1.5,\n0,1,1.2,0.5\n")
    return run


def patch_json(path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_damaged_folders_of_every_kind(tmp_path):
    for run_id in ("bad-optimizer", "bad-pid", "bad-metrics", "bad-summary", "bad-lr", "bad-status", "bad-options"):
        write_finished(tmp_path, run_id)
    patch_json(tmp_path / "bad-optimizer" / "config.json", optimizer="bogus")
    patch_json(tmp_path / "bad-lr" / "config.json", lr="fast")
    patch_json(tmp_path / "bad-options" / "config.json", model_options="x")
    patch_json(tmp_path / "bad-status" / "status.json", status="exploded")
    patch_json(tmp_path / "bad-pid" / "status.json", pid="abc", epoch=[1])
    patch_json(tmp_path / "bad-summary" / "summary.json", test_acc="ninety", parameters={"a": 1})
    with open(tmp_path / "bad-metrics" / "metrics.csv", "a") as f:
        f.write("zero,two,lots,high\n0,3,0.9,oops\n")

    good = {r.run_id: r for r in runs.list_runs(tmp_path)}
    damaged = {d.run_id: d for d in runs.list_damaged(tmp_path)}
    assert set(good) == {"bad-pid", "bad-metrics", "bad-summary"}
    assert set(damaged) == {"bad-optimizer", "bad-lr", "bad-status", "bad-options"}
    assert "optimizer must be one of" in damaged["bad-optimizer"].reason
    assert "lr" in damaged["bad-lr"].reason and "exploded" in damaged["bad-status"].reason
    assert damaged["bad-optimizer"].owner == "p1"  # so its owner may delete it

    assert "pid" not in good["bad-pid"].status and "epoch" not in good["bad-pid"].status
    assert any("pid" in p for p in good["bad-pid"].problems)
    assert good["bad-summary"].summary == {"device": "CPU"}
    df = runs.read_metrics(good["bad-metrics"])
    assert df["step"].tolist() == [0, 1, 3]  # the row with a non-numeric step is gone
    assert df["val_acc"].isna().tolist() == [True, False, True]  # "oops" reads as NaN
    history = runs.metrics_history(good["bad-metrics"])
    assert [s for s, _, _ in history["steps"]] == [0, 1, 3]
    runs.touch_heartbeat(tmp_path / "bad-status")
    with pytest.raises(runs.RunError, match="still running"):
        runs.delete_run("bad-status", tmp_path)  # its heartbeat is fresh: a process may still write there
    os.utime(tmp_path / "bad-status" / "heartbeat", (0, 0))
    for run_id in damaged:
        runs.delete_run(run_id, tmp_path)
    assert runs.list_damaged(tmp_path) == []


def test_rename_keeps_the_id_and_the_owner(tmp_path):
    run = write_finished(tmp_path, "r1", owner="p1")
    runs.rename_run("r1", "  Adam, lr 0.01\x1b[31m  ", tmp_path)
    again = runs.load_run("r1", tmp_path)
    assert (again.run_id, again.owner, again.name, again.label) == ("r1", "p1", "Adam, lr 0.01[31m", again.name)
    runs.rename_run(run, "", tmp_path)
    unnamed = runs.load_run("r1", tmp_path)
    # No name: model · dataset · the time its folder was made (an id without new_run_id's time says nothing).
    assert unnamed.label == f"{unnamed.config.model} · {unnamed.config.dataset} · {unnamed.started:%H:%M:%S}"


def test_a_run_id_made_here_says_when_the_run_started_and_its_short_id():
    assert runs.started_at("20261122-112233-lenet-digits-3fa1") == datetime(2026, 11, 22, 11, 22, 33)
    assert runs.short_id("20261122-112233-lenet-digits-3fa1") == "3fa1"
    assert runs.started_at("my-own-run") is None and runs.short_id("my-own-run") == "-own-run"
    assert runs.started_at("20261399-112233-x-3fa1") is None  # looks like a time, is none
    made = runs.new_run_id(RunConfig(model="lenet", dataset="digits"))
    assert abs((runs.started_at(made) - datetime.now()).total_seconds()) < 5
    assert runs.short_id(made) == made[-4:]


class Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/vision_core_pwned",))


def test_checkpoints_never_unpickle_arbitrary_objects(tmp_path):
    marker = "/tmp/vision_core_pwned"
    if os.path.exists(marker):
        os.remove(marker)
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": Boom()}, evil)
    with pytest.raises(runs.RunError, match="not a checkpoint we can read safely"):
        runs.load_state_dict(evil)
    assert not os.path.exists(marker)

    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(os.urandom(512))
    with pytest.raises(runs.RunError, match="corrupt"):
        runs.load_state_dict(garbage)

    plain = tmp_path / "plain.pt"
    torch.save({"state_dict": "not tensors"}, plain)
    with pytest.raises(runs.RunError, match="no model weights"):
        runs.load_state_dict(plain)


def test_lightning_prefix_is_stripped(tmp_path):
    path = tmp_path / "x.ckpt"
    torch.save({"state_dict": {"model.fc.weight": torch.ones(2, 2)}, "epoch": 3}, path)
    assert list(runs.load_state_dict(path)) == ["fc.weight"]
    assert runs.checkpoint_epoch(path) == 3
    for bad in ("![x](http://x.invalid/x.png)", -1, True, 2.5):
        torch.save({"state_dict": {"model.fc.weight": torch.ones(2, 2)}, "epoch": bad}, path)
        assert runs.checkpoint_epoch(path) is None


def test_cli_turns_options_into_a_config():
    args = cli.build_parser().parse_args([
        "train", "--dataset", "shapes", "--model", "custom", "--epochs", "2", "--lr", "0.01",
        "--model-option", "channels=[8,16]", "--model-option", "batchnorm=true",
        "--dataset-option", "difficulty=0.5", "--augment", "hflip=true", "--accelerator", "cpu",
    ])
    config = cli.config_from_args(args)
    assert (config.dataset, config.model, config.epochs, config.lr) == ("shapes", "custom", 2, 0.01)
    assert config.model_options == {"channels": [8, 16], "batchnorm": True}
    assert config.dataset_options == {"difficulty": 0.5}
    assert config.augment == {"hflip": True}
    assert config.accelerator == "cpu"


def test_cli_preset_keeps_the_recipe_and_takes_overrides():
    args = cli.build_parser().parse_args(["train", "--preset", "tinyvgg_fashion", "--epochs", "1"])
    config = cli.config_from_args(args)
    assert (config.model, config.optimizer, config.lr, config.batch_size, config.epochs) == (
        "tinyvgg", "sgd", 0.1, 32, 1)


def test_strings_that_could_render_as_links_are_refused(tmp_path):
    write_finished(tmp_path, "evil-model")
    patch_json(tmp_path / "evil-model" / "config.json", model="[x](http://x.invalid)")
    write_finished(tmp_path, "evil-device")
    patch_json(tmp_path / "evil-device" / "summary.json", device="![i](http://x.invalid/i.png)")
    patch_json(tmp_path / "evil-device" / "status.json", device="<img src=x>")
    assert [d.run_id for d in runs.list_damaged(tmp_path)] == ["evil-model"]
    (run,) = runs.list_runs(tmp_path)
    assert "device" not in run.summary and "device" not in run.status


def test_default_run_is_this_persons_best_finished_run(tmp_path):
    def make(run_id, owner, acc, state="finished", checkpoint=True):
        run = write_finished(tmp_path, run_id, owner)
        runs.write_summary(run, {"test_acc": acc})
        runs.write_status(run, state)
        if checkpoint:
            (run.path / "checkpoints" / "best.ckpt").write_bytes(b"x")
        return run

    make("a-mine-old", "me", 0.8)
    make("b-mine-best", "me", 0.9)
    make("c-mine-diverged", "me", float("nan"))
    make("d-mine-running", "me", 0.99, state="running")
    make("e-mine-no-ckpt", "me", 0.99, checkpoint=False)
    make("f-theirs", "you", 0.95)
    records = runs.list_runs(tmp_path)
    assert runs.default_run(records, "me").run_id == "b-mine-best"
    assert runs.default_run(records, "nobody").run_id == "f-theirs"
    assert runs.default_run(records, None).run_id == "f-theirs"
    make("g-mine-tie", "me", 0.9)
    assert runs.default_run(runs.list_runs(tmp_path), "me").run_id == "g-mine-tie"  # the newest on a tie
    only_running = [r for r in records if r.run_id == "d-mine-running"]
    assert runs.default_run(only_running, "me").run_id == "d-mine-running"  # nothing better: it still opens
    assert runs.default_run([], "me") is None
