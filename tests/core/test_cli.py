"""The console script: a real training from the command line, and a DDP run on the CPU with two processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vision_core import cli
from vision_core.runs import store as runs

ROOT = Path(__file__).resolve().parents[2]


def test_cli_trains_and_prints_test_metrics(tmp_path, capsys):
    code = cli.main(["train", "--dataset", "digits", "--model", "linear", "--epochs", "1", "--no-progress",
                     "--runs-dir", str(tmp_path), "--limit-train-batches", "5"])
    out = capsys.readouterr().out
    assert code == 0
    assert "test accuracy" in out
    assert runs.list_runs(tmp_path)[0].state == "finished"


def test_cli_reports_a_missing_dataset_without_a_traceback(tmp_path, capsys):
    code = cli.main(["train", "--dataset", "mnist", "--dataset-option", f"root={tmp_path / 'none'}",
                     "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "error:" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []  # nothing left behind


def test_ddp_on_cpu_with_two_processes(tmp_path):
    env = {**os.environ, "VISION_CORE_RUNS": str(tmp_path)}
    env.pop(cli.RUN_ID_ENV, None)
    result = subprocess.run(
        [sys.executable, "-m", "vision_core.cli", "train", "--dataset", "digits", "--model", "lenet",
         "--epochs", "2", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp",
         "--limit-train-batches", "4", "--no-progress"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    folders = list(tmp_path.iterdir())
    assert len(folders) == 1  # both processes wrote one run folder
    summary = json.loads((folders[0] / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert summary["steps"] == 8  # 4 batches × 2 epochs, each process on its half of the data
    assert 0.0 <= summary["test_acc"] <= 1.0


def run_cli(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exc:  # argparse's own errors exit from inside parse_args
        return exc.code


TRAIN = ["train", "--dataset", "digits", "--model", "linear", "--epochs", "1", "--no-progress"]


@pytest.mark.parametrize(("extra", "allowed"), [
    (["--devices", "abc"], "'auto', a number of devices ≥ 1 or device indices"),
    (["--devices", "0"], "'auto', a number of devices ≥ 1"),
    (["--devices", "-1"], "'auto', a number of devices ≥ 1"),
    (["--accelerator", "tpu"], "choose from 'auto', 'cpu', 'gpu', 'mps'"),
    (["--strategy", "bogus"], "choose from 'auto', 'ddp'"),
    (["--num-nodes", "0"], "whole number ≥ 1"),
    (["--num-nodes", "two"], "whole number ≥ 1"),
    (["--augment", "nosuch=true"], "known: ['hflip'"),
    (["--augment", "hflip"], "expects KEY=VALUE"),
    (["--augment", "rotation=999"], "must be between"),
    (["--model-option", "bogus=1"], "allowed:"),
    (["--dataset-option", "colour=1"], "it takes"),
    (["--dataset", "nosuch"], "known datasets"),
    (["--model", "nosuch"], "known models"),
    (["--optimizer", "rmsprop"], "choose from 'sgd', 'adam', 'adamw'"),
    (["--lr", "nan"], "must be a number"),
    (["--lr", "-1"], "lr must be > 0"),
    (["--epochs", "0"], "epochs must be ≥ 1"),
    (["--batch-size", "0"], "batch_size must be ≥ 1"),
    (["--limit-train-batches", "0"], "a fraction in (0, 1]"),
])
def test_every_bad_argument_is_one_line_and_exit_2_with_no_run_folder(tmp_path, capsys, extra, allowed):
    runs_dir = tmp_path / "runs"
    code = run_cli([*TRAIN, "--runs-dir", str(runs_dir), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert allowed in err and "Traceback" not in err
    assert not runs_dir.exists() or list(runs_dir.iterdir()) == []


def test_an_unwritable_runs_dir_is_refused_before_training(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # a path under a file cannot be written, even by root
    code = run_cli([*TRAIN, "--runs-dir", str(blocker / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--runs-dir: cannot write run folders" in err and "give a folder you can write to" in err


def test_a_gpu_the_machine_lacks_is_refused(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = run_cli([*TRAIN, "--runs-dir", str(tmp_path), "--accelerator", "gpu"])
    err = capsys.readouterr().err
    assert code == 2 and "no GPU" in err and "allowed here: auto, cpu" in err
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    code = run_cli([*TRAIN, "--runs-dir", str(tmp_path), "--accelerator", "gpu", "--devices", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "this machine has 2 GPU(s); allowed: auto, 1..2 or indices 0..1" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", ["../escape", "a/b", ".hidden", "x" * 101])
def test_a_bad_run_id_from_the_environment_is_refused(tmp_path, capsys, monkeypatch, bad):
    monkeypatch.setenv(cli.RUN_ID_ENV, bad)
    code = run_cli([*TRAIN, "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "is not a valid run id" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "escape").exists()
    assert list((tmp_path / "runs").iterdir()) == []


def test_devices_accepts_counts_indices_and_auto():
    parse = cli.build_parser().parse_args
    assert parse(["train", "--devices", "2"]).devices == 2
    assert parse(["train", "--devices", "0,1"]).devices == [0, 1]
    assert parse(["train"]).devices == "auto"


def test_runs_lists_damaged_folders_too(tmp_path, capsys):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{")
    assert cli.main(["runs", "--runs-dir", str(tmp_path)]) == 0
    assert "broken" in capsys.readouterr().out


@pytest.mark.parametrize(("extra", "named"), [
    (["--batch-size", "100000"], "Batch size 100,000 is above this classroom's limit of 1,024"),
    (["--epochs", "100000"], "100,000 epochs is above this classroom's limit of 200"),
    (["--dataset-option", "image_size=384"], "the classroom allows 256 pixels per side (max_image_size)"),
    (["--model", "custom", "--model-option", "pool=null", "--model-option", "hidden_units=32768"],
     "This model has 537,"),
])
def test_a_run_over_a_classroom_limit_is_one_line_exit_2_and_leaves_no_folder(tmp_path, capsys, extra, named):
    runs_dir = tmp_path / "runs"
    code = run_cli([*TRAIN, "--runs-dir", str(runs_dir), *extra])
    out, err = capsys.readouterr()
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and out == "", err
    assert named in err and ("this classroom's limit" in err or "the classroom allows" in err)
    assert str(tmp_path) not in err  # no absolute path: the limit, the value and the fix only
    assert not runs_dir.exists() or list(runs_dir.iterdir()) == []


def test_a_cli_run_is_claimed_by_the_command_line_and_beats_a_heartbeat(tmp_path, monkeypatch):
    monkeypatch.setenv(cli.RUN_ID_ENV, "")  # the CLI sets it for DDP; restored after the test
    assert cli.main([*TRAIN, "--runs-dir", str(tmp_path), "--limit-train-batches", "5"]) == 0
    [run] = runs.list_runs(tmp_path)
    assert runs.training_claim(run.path)["by"] == "cli"
    assert not runs.claim_training(run.path, "scheduler")  # no scheduler can take it
    assert runs.heartbeat_age(run) is not None and (run.path / "live.json").is_file()
