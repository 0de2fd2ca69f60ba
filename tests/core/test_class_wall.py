"""The class wall's view model (vision_core/classroom/wall.py): thirty runs in, one row each with the right status,
diagnosis, person and sparklines out."""

from __future__ import annotations

import json
import math
import os
import time

from vision_core.classroom import names, wall
from vision_core.config import RunConfig
from vision_core.figures.wall import sparkline_svg
from vision_core.runs import store as runs
from vision_core.runs.live_files import write_json_atomic


def learning(steps: int = 120) -> dict:
    return {"steps": [[s, 2.3 * math.exp(-s / 40) + 0.05, min(0.1 + s / 130, 0.98)] for s in range(steps)],
            "epochs": [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.1 / e, "val_acc": 0.6 + 0.1 * e}
                       for e in (1, 2, 3)]}


def at_chance(steps: int = 120) -> dict:
    return {"steps": [[s, 2.302 + 0.001 * (s % 3), 0.1] for s in range(steps)],
            "epochs": [{"epoch": 1, "train_loss": 2.302, "val_loss": 2.303, "val_acc": 0.1}]}


def fake_run(root, owner: str | None, status: str = "running", history: dict | None = None, *,
             live_status: str | None = None, updated: float | None = None, challenge: str = "", **fields):
    """A run folder as the scheduler and a worker leave it: status, heartbeat, live.json."""
    config = RunConfig(dataset="digits", model="lenet", epochs=10, optimizer="sgd", lr=0.05, challenge=challenge)
    run = runs.create_run(config, root, owner=owner)
    runs.write_status(run, status, fields.pop("message", ""), **fields)
    if updated is not None:
        data = json.loads((run.path / "status.json").read_text())
        (run.path / "status.json").write_text(json.dumps({**data, "updated": updated}))
    if history is not None:
        write_json_atomic(run.path / "live.json", {
            "version": 7, "status": live_status or status, "epoch": len(history["epochs"]), "total_epochs": 10,
            "progress": 0.3, "samples_per_sec": 1500.0, "lr": 0.05, **history})
    return run


def class_of_thirty(root) -> dict[str, list]:
    """20 learning, 4 stuck at chance, 2 paused, 2 queued, 1 diverged, 1 just finished; + 2 not on the wall."""
    made: dict[str, list] = {k: [] for k in ("training", "stuck", "paused", "queued", "diverged", "finished", "off")}
    for i in range(20):
        made["training"].append(fake_run(root, f"student{i:02d}", "running", learning()))
    for i in range(4):
        made["stuck"].append(fake_run(root, f"stuck{i}", "running", at_chance()))
    for i in range(2):
        made["paused"].append(fake_run(root, f"pauser{i}", "running", learning(), live_status="paused"))
    for i in range(2):
        made["queued"].append(fake_run(root, f"waiter{i}", "queued"))
    made["diverged"].append(fake_run(root, "blowup", "failed", learning(), diverged=True,
                                     message="The loss became NaN at step 40."))
    made["finished"].append(fake_run(root, None, "finished", learning()))
    made["off"].append(fake_run(root, "old", "finished", learning(), updated=time.time() - 3600))
    dead = fake_run(root, "gone", "running", learning(), updated=time.time() - 3600)
    os.utime(dead.path / "heartbeat", (time.time() - 3600,) * 2)  # its worker died an hour ago
    made["off"].append(dead)
    # Their workers beat now: making 32 folders took longer than a heartbeat's timeout beside a CPU hog, and the
    # first runs then read as interrupted (29 rows instead of 30).
    for kind in ("training", "stuck", "paused", "queued"):
        for run in made[kind]:
            runs.touch_heartbeat(run)
    return made


def test_thirty_runs_become_thirty_rows_with_the_right_status_and_diagnosis(tmp_path):
    made = class_of_thirty(tmp_path)
    names.book(tmp_path).set_name("student00", "Ada")
    view = wall.class_view(tmp_path)
    rows = {r.run_id: r for r in view.rows}
    assert len(rows) == 30
    expect = {"training": "training", "stuck": wall.STUCK, "paused": "paused", "queued": "queued",
              "diverged": wall.DIVERGED, "finished": "finished"}
    for kind, status in expect.items():
        assert {rows[r.run_id].status for r in made[kind]} == {status}, kind
    assert not any(r.run_id in rows for r in made["off"])  # ended an hour ago / its worker died an hour ago
    stuck = rows[made["stuck"][0].run_id]
    assert "not learning" in stuck.advice and "10.0%" in stuck.advice
    assert rows[made["training"][1].run_id].advice is None
    assert rows[made["diverged"][0].run_id].advice == "The loss became NaN at step 40."
    # Who: the chosen name, else the pseudonym; a CLI run is the teacher's.
    assert rows[made["training"][0].run_id].person == "Ada"
    assert rows[made["training"][1].run_id].person == names.pseudonym("student01")
    assert rows[made["finished"][0].run_id].person == names.COMMAND_LINE
    # Active runs first, oldest first (a row keeps its place); the ended ones after.
    order = [r.status for r in view.rows]
    assert order[-2:] in (["finished", wall.DIVERGED], [wall.DIVERGED, "finished"])
    assert [r.run_id for r in view.rows[:28]] == sorted(r.run_id for r in view.rows[:28])
    assert wall.counts(view.rows) == {wall.STUCK: 4, wall.DIVERGED: 1, "training": 20, "paused": 2, "queued": 2,
                                      "finished": 1}


def test_a_row_has_short_curves_speed_and_epoch(tmp_path):
    run = fake_run(tmp_path, "s1", "running", learning(steps=2000))
    row = wall.class_view(tmp_path).rows[0]
    assert row.run_id == run.run_id and row.model == "lenet" and row.dataset == "digits"
    assert len(row.loss_curve) == wall.SPARK_POINTS and row.loss_curve[0] > row.loss_curve[-1]
    assert row.acc_curve == (0.7, 0.8, 0.9)  # validation accuracy per epoch once there are two epochs
    assert (row.epoch, row.epochs, row.samples_per_sec, row.accuracy) == (3, 10, 1500.0, 0.9)
    assert row.progress == 0.3


def test_a_damaged_live_file_gives_a_row_without_curves(tmp_path):
    run = fake_run(tmp_path, "s1", "running", learning())
    write_json_atomic(run.path / "live.json", {
        "version": 1, "status": "running", "steps": [["x", 1, 2], [1, float("nan"), 0.1], "y", [2, 0.5]],
        "epochs": [{"val_acc": "high"}, 3], "samples_per_sec": "fast", "progress": 7, "epoch": -1e400})
    fake_run(tmp_path, "s2", "running", learning())
    rows = {r.run_id: r for r in wall.class_view(tmp_path).rows}
    assert len(rows) == 2
    row = rows[run.run_id]
    assert row.loss_curve == () and row.acc_curve == () and row.samples_per_sec is None
    assert row.progress == 1.0 and row.status == "training"


def test_filters_by_status_and_by_any_other_predicate(tmp_path):
    made = class_of_thirty(tmp_path)
    rows = wall.class_view(tmp_path).rows
    assert len(wall.select(rows)) == 30
    assert len(wall.select(rows, {wall.STUCK, wall.DIVERGED})) == 5
    chosen = {made["training"][0].run_id, made["stuck"][0].run_id}  # e.g. one challenge's runs
    assert {r.run_id for r in wall.select(rows, keep=lambda r: r.run_id in chosen)} == chosen
    assert [r.run_id for r in wall.select(rows, {wall.STUCK}, keep=lambda r: r.run_id in chosen)] == \
        [made["stuck"][0].run_id]


def test_a_sparkline_is_a_small_svg_line_scaled_to_its_range():
    svg = sparkline_svg([1.0, 0.5, 0.25], width=100, height=20)
    assert svg.startswith("<svg") and svg.count("<polyline") == 1 and "nan" not in svg
    points = svg.split("points='")[1].split("'")[0].split()
    assert len(points) == 3
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[0] < ys[1] < ys[2]  # a falling loss goes down the picture
    assert sparkline_svg([0.5]) == "" and sparkline_svg([float("nan"), 1.0]) == ""
    flat = sparkline_svg([0.5, 0.5], low=0.0, high=1.0, height=20)
    assert {float(p.split(",")[1]) for p in flat.split("points='")[1].split("'")[0].split()} == {10.0}


def test_an_ended_run_read_once_is_read_again_when_its_files_change(tmp_path):
    run = fake_run(tmp_path, "s1", "finished", learning())
    assert wall.class_view(tmp_path).rows[0].label == run.label
    runs.rename_run(run, "Adam with flips")
    assert wall.class_view(tmp_path).rows[0].label == "Adam with flips"
    runs.delete_run(run.run_id, tmp_path)
    assert wall.class_view(tmp_path).rows == []


def test_a_run_kept_from_an_earlier_refresh_says_interrupted_once_its_worker_stops_beating(tmp_path):
    run = fake_run(tmp_path, "s1", "running", learning())
    runs.touch_heartbeat(run)
    assert [r.status for r in wall.class_view(tmp_path).rows] == ["training"]
    os.utime(run.path / "heartbeat", (time.time() - 3600,) * 2)  # its worker died; no file of the run changed
    assert [r.status for r in wall.class_view(tmp_path).rows] == ["interrupted"]
