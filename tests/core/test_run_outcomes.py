"""How a run ends, as status.json and the pages read it: a quiet divergence is said (issue 16 item 8), and
reading metrics.csv is bounded whatever its size."""

from __future__ import annotations

import time

from vision_core.config import RunConfig
from vision_core.runs import store as runs
from vision_core.training import engine


def test_sgd_at_learning_rate_10_on_the_digits_ends_saying_it_diverged(tmp_path):
    config = RunConfig(dataset="digits", model="lenet", epochs=1, optimizer="sgd", lr=10.0, snapshot_every=0)
    summary = engine.train(config, root=tmp_path)
    run = runs.list_runs(tmp_path)[0]
    assert summary["test_acc"] < 0.15  # no NaN, just at chance: before, this ended "finished" without a word
    assert run.state == "finished" and run.diverged and run.status["diverged"] is True
    message = run.status["message"]
    assert message.startswith("Diverged:") and f"{summary['test_acc']:.1%}" in message and "too high for SGD" in message


def test_a_healthy_run_is_not_called_diverged(tmp_path):
    engine.train(RunConfig(dataset="digits", model="lenet", epochs=1, lr=2e-3, snapshot_every=0),
                 root=tmp_path, trainer_options={"limit_val_batches": 2})
    run = runs.list_runs(tmp_path)[0]
    assert run.state == "finished" and not run.diverged and run.status["message"] == ""


HEADER = "epoch,lr,step,test_acc,train_acc,train_loss_epoch,train_loss_step,val_acc,val_loss\n"


def test_a_200_mb_metrics_csv_is_read_from_its_end_within_the_row_cap(tmp_path):
    run = runs.create_run(RunConfig(), tmp_path, run_id="big")
    block = "".join(f"{i // 100},,{i},,,,0.5,,\n" if i % 100 else f"{i // 100},0.001,{i},,0.9,0.3,,0.8,0.4\n"
                    for i in range(10_000)).encode()
    with (run.path / "metrics.csv").open("wb") as file:
        file.write(HEADER.encode())
        for _ in range(200 * 2**20 // len(block) + 1):
            file.write(block)
        file.write(b"777,,123456789,,,,0.25,,\n")
    assert (run.path / "metrics.csv").stat().st_size > 200 * 2**20
    started = time.perf_counter()
    df = runs.read_metrics(run)
    seconds = time.perf_counter() - started
    assert 1000 < len(df) <= runs.MAX_METRICS_ROWS
    assert df["step"].iloc[-1] == 123456789 and df["train_loss_step"].iloc[-1] == 0.25  # the last row is there
    assert df["val_acc"].notna().sum() >= 0.9 * len(df) // 100  # the epoch rows survive the thinning
    assert seconds < 15, seconds  # reading it whole took 37-62 s and 2-4 GB


def test_a_small_metrics_csv_is_read_whole_and_bad_cells_are_nan(tmp_path):
    run = runs.create_run(RunConfig(), tmp_path, run_id="small")
    (run.path / "metrics.csv").write_text(HEADER + "0,,0,,,,2.3,,\n0,,1,,,,oops,,\n0,0.001,2,,True,1.2,,0.5,0.4\n")
    df = runs.read_metrics(run)
    assert df["step"].tolist() == [0, 1, 2]
    assert df["train_loss_step"].isna().tolist() == [False, True, True] and df["train_acc"].isna().all()
