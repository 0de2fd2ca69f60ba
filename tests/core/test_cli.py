"""The console script: a real training from the command line, and a DDP run on the CPU with two processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from vision_core import cli, runs

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
