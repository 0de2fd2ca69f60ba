"""The small summary beside live.json that the queue (twice a second) and the class wall (every refresh) read."""

from __future__ import annotations

import json
import os

from vision_core.runs.live_files import LIVE_FILE, write_json_atomic
from vision_core.runs.live_summary import (
    LIVE_SUMMARY_FILE,
    SPARK_POINTS,
    SUMMARY_LAG_S,
    read_live_summary,
    summarise_live,
    write_live_snapshot,
)

SNAPSHOT = {"version": 7, "status": "running", "epoch": 3, "total_epochs": 10, "progress": 0.3, "eta": 12.5,
            "samples_per_sec": 1500.0, "lr": 0.05, "gpu_memory_mb": None,
            "steps": [[s, 2.0 - s / 1000, 0.5] for s in range(1000)],
            "epochs": [{"epoch": 1, "val_acc": 0.5}, {"epoch": 2, "val_acc": 0.75}, {"epoch": 3, "train_acc": 0.8}]}


def test_the_summary_holds_what_the_queue_and_the_wall_show(tmp_path):
    write_live_snapshot(tmp_path, SNAPSHOT)
    assert json.loads((tmp_path / LIVE_FILE).read_text()) == SNAPSHOT
    summary = read_live_summary(tmp_path)
    assert {k: summary[k] for k in ("version", "status", "progress", "epoch", "total_epochs", "eta", "lr",
                                    "samples_per_sec", "gpu_memory_mb", "epochs_seen")} == \
        {"version": 7, "status": "running", "progress": 0.3, "epoch": 3, "total_epochs": 10, "eta": 12.5, "lr": 0.05,
         "samples_per_sec": 1500.0, "gpu_memory_mb": None, "epochs_seen": 3}
    assert summary["val_acc"] == 0.75  # the last epoch that has one
    assert summary["accuracy"] == 0.8  # the latest epoch's, validation else training
    assert summary["last_loss"] == 2.0 - 999 / 1000
    assert len(summary["loss_curve"]) == SPARK_POINTS and summary["loss_curve"][0] > summary["loss_curve"][-1]
    assert summary["acc_curve"] == (0.5, 0.75)  # validation accuracy per epoch once there are two
    assert summary == summarise_live(SNAPSHOT)
    assert len((tmp_path / LIVE_SUMMARY_FILE).read_bytes()) < 2_000  # vs ~20 KB of live.json: cheap every tick
    assert len((tmp_path / LIVE_FILE).read_bytes()) > 10 * len((tmp_path / LIVE_SUMMARY_FILE).read_bytes())


def test_a_live_file_newer_than_its_summary_is_read_itself(tmp_path):
    write_live_snapshot(tmp_path, SNAPSHOT)
    # Another writer (an older worker, a tool) replaced live.json alone, later: its facts win.
    write_json_atomic(tmp_path / LIVE_FILE, {**SNAPSHOT, "version": 8, "progress": 0.9, "epochs": []})
    # Within SUMMARY_LAG_S: a reader between a worker's two writes, served the previous summary.
    summary_mtime = (tmp_path / LIVE_SUMMARY_FILE).stat().st_mtime_ns
    os.utime(tmp_path / LIVE_FILE, ns=(summary_mtime + 10**9,) * 2)
    assert read_live_summary(tmp_path)["version"] == 7
    later = summary_mtime + int(SUMMARY_LAG_S * 1e9) + 10**9
    os.utime(tmp_path / LIVE_FILE, ns=(later, later))
    summary = read_live_summary(tmp_path)
    assert (summary["version"], summary["progress"], summary["val_acc"], summary["epochs_seen"]) == (8, 0.9, None, 0)


def test_no_live_file_no_summary_and_a_damaged_summary_falls_back(tmp_path):
    assert read_live_summary(tmp_path) is None
    write_live_snapshot(tmp_path, SNAPSHOT)
    (tmp_path / LIVE_SUMMARY_FILE).write_text("{not json")
    assert read_live_summary(tmp_path) == summarise_live(SNAPSHOT)


def test_a_hostile_summary_is_checked_like_any_file_of_a_run_folder(tmp_path):
    write_live_snapshot(tmp_path, SNAPSHOT)
    write_json_atomic(tmp_path / LIVE_SUMMARY_FILE, {
        "version": True, "status": "x" * 10_000, "progress": "0.5", "epoch": float("inf"), "epochs_seen": -3,
        "loss_curve": [1.0, "a", None, 2.0] + [0.5] * 10_000, "acc_curve": {"a": 1}, "extra": "ignored"})
    summary = read_live_summary(tmp_path)
    assert summary["version"] is None and summary["status"] is None and summary["progress"] is None
    assert summary["epoch"] is None and summary["epochs_seen"] == 0 and "extra" not in summary
    assert len(summary["loss_curve"]) <= SPARK_POINTS and summary["loss_curve"][:2] == (1.0, 2.0)
    assert summary["acc_curve"] == ()


def test_publishes_never_overlap_so_the_last_summary_is_of_the_last_state(tmp_path, monkeypatch):
    """close() publishes the last state itself when the publisher thread outlived its join timeout (a loaded
    machine); the two publishes must not interleave, or the older summary lands after the newer live.json."""
    import threading
    import time

    from vision_core.runs.live_summary import read_live_summary
    from vision_core.training import live

    state = live.LiveState(total_epochs=1)
    publisher = live.LivePublisher(state, tmp_path)
    inside, most = [0], [0]
    real = live.write_live

    def slow_write(path, shown_state):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.05)  # a slow disk: the other publish comes meanwhile
        real(path, shown_state)
        inside[0] -= 1

    monkeypatch.setattr(live, "write_live", slow_write)
    threads = []
    for step in range(8):
        state.update(status="running" if step % 2 else "paused", step=step)
        threads.append(threading.Thread(target=publisher.publish))
        threads[-1].start()
    for thread in threads:
        thread.join()
    publisher.publish()
    assert most[0] == 1
    assert read_live_summary(tmp_path)["version"] == state.version
