"""Run folders on disk: create, list, interrupted runs, safe checkpoint loading, CLI parsing."""

from __future__ import annotations

import os

import pytest
import torch

from vision_core import cli, runs
from vision_core.config import RunConfig


def test_config_validates_with_the_allowed_values():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        RunConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="lr must be > 0"):
        RunConfig(lr=0)
    config = RunConfig(model="tinyvgg", model_options={"hidden_units": 8})
    assert RunConfig.from_dict({**config.to_dict(), "unknown_future_field": 1}) == config


def test_create_list_and_delete(tmp_path):
    run = runs.create_run(RunConfig(name="My first run!"), tmp_path)
    assert "my-first-run" in run.run_id
    listed = runs.list_runs(tmp_path)
    assert [r.run_id for r in listed] == [run.run_id]
    assert listed[0].state == "queued"  # this process is alive
    with pytest.raises(runs.RunError, match="stop it before deleting"):
        runs.delete_run(run.run_id, tmp_path)
    runs.write_status(run, "finished")
    runs.delete_run(run.run_id, tmp_path)
    assert runs.list_runs(tmp_path) == []


def test_a_run_whose_process_died_is_interrupted(tmp_path):
    run = runs.create_run(RunConfig(), tmp_path)
    runs.write_status(run, "running")
    status = (run.path / "status.json").read_text().replace(f'"pid": {os.getpid()}', '"pid": 999999999')
    (run.path / "status.json").write_text(status)
    assert runs.load_run(run.run_id, tmp_path).state == "interrupted"


def test_unreadable_folders_are_skipped(tmp_path):
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "config.json").write_text("{not json")
    assert runs.list_runs(tmp_path) == []
    with pytest.raises(runs.RunError, match="No run named"):
        runs.load_run("nope", tmp_path)


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
