"""The small summary a worker writes beside ``live.json``: what the queue and the class wall read of every run.

``live.json`` holds a run's whole history (tens of KB after a few hundred steps) and is rewritten up to four times
a second. The scheduler reads every running run twice a second and the Class page every run every refresh;
parsing thirty whole histories that often was most of the server's CPU for a class (benchmarks/classroom_load.py
``--class-wall``). So each publish also writes ``live_summary.json`` (a few hundred bytes): progress, epoch, time
left, speed, the latest accuracy and loss, and two sparklines of at most SPARK_POINTS points.

The summary is read unless ``live.json`` is newer by more than SUMMARY_LAG_S (then, e.g. a live.json written by an
older worker or a tool, it is computed from live.json itself), and everything read is checked as any file of a run
folder is: numbers finite, curves short lists of numbers. Imports no torch.

Example: ``write_live_snapshot(run.path, state.snapshot())`` (worker); ``read_live_summary(run.path)["progress"]``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vision_core.runs.live_files import LIVE_FILE, read_json_object, read_live, write_json_atomic

LIVE_SUMMARY_FILE = "live_summary.json"
SUMMARY_LAG_S = 2.0  # a summary this much older than live.json is still the run's (see read_live_summary)
SPARK_POINTS = 40  # per sparkline: enough for its shape, a few hundred bytes per run
_NUMBERS = ("progress", "epoch", "total_epochs", "eta", "samples_per_sec", "gpu_memory_mb", "lr", "val_acc",
            "last_loss", "accuracy", "recent_loss", "recent_acc")
_EPOCH_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")


def number(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def thin(values: Sequence[float], points: int = SPARK_POINTS) -> tuple[float, ...]:
    """At most ``points`` values: the means of equal slices (smooths the noise of single batches)."""
    if len(values) <= points:
        return tuple(values)
    edges = [round(i * len(values) / points) for i in range(points + 1)]
    return tuple(sum(values[a:b]) / (b - a) for a, b in itertools.pairwise(edges) if b > a)


def step_points(snap: dict[str, Any]) -> list[tuple[float, float, float | None]]:
    """(step, loss, accuracy) of the live file's history, only where step and loss are finite numbers.

    A well-formed history (a list of three numbers or nulls per step, what a worker writes) is converted by numpy in
    one go (a number written as text, "1.5", reads as that number); anything else item by item, dropping what is not
    a number.
    """
    import numpy as np

    steps = snap.get("steps")
    if not isinstance(steps, list):
        return []
    try:
        array = np.array(steps, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        array = None
    if array is not None and array.ndim == 2 and array.shape[1] == 3:
        array = array[np.isfinite(array[:, 0]) & np.isfinite(array[:, 1])]
        accuracy = [None if not math.isfinite(a) else a for a in array[:, 2].tolist()]
        return list(zip(array[:, 0].tolist(), array[:, 1].tolist(), accuracy))
    points = []
    for item in steps:
        if isinstance(item, (list, tuple)) and len(item) == 3:
            step, loss, acc = (number(v) for v in item)
            if step is not None and loss is not None:
                points.append((step, loss, acc))
    return points


def epoch_records(snap: dict[str, Any]) -> list[dict[str, float]]:
    """The live file's per-epoch records, keeping only the known keys whose values are finite numbers."""
    epochs = snap.get("epochs")
    records = []
    for item in epochs if isinstance(epochs, list) else []:
        if isinstance(item, dict):
            records.append({k: v for k in _EPOCH_KEYS if (v := number(item.get(k))) is not None})
    return records


def curves(points: list, epochs: list) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The loss sparkline (step losses) and the accuracy sparkline (validation accuracy per epoch once there are
    two epochs of it, else the step accuracies) of a live snapshot's ``step_points`` and ``epoch_records``."""
    loss = thin([p[1] for p in points])
    val = [e["val_acc"] for e in epochs if "val_acc" in e]
    acc = thin(val) if len(val) >= 2 else thin([p[2] for p in points if p[2] is not None])
    return loss, acc


def recent_means(points: Sequence[tuple[float, float, float | None]]) -> tuple[float | None, float | None]:
    """The mean loss and the mean accuracy of the last fifth of the steps (the accuracy only when every one of them
    has one): what ``diagnosis.training_advice`` judges when an epoch has no validation figures."""
    recent = points[-max(1, len(points) // 5):]
    if not recent:
        return None, None
    loss = sum(p[1] for p in recent) / len(recent)
    acc = sum(p[2] for p in recent) / len(recent) if all(p[2] is not None for p in recent) else None
    return loss, acc


def latest_finished_epoch(epochs: list[dict[str, float]]) -> dict[str, float]:
    """The last ``epoch_records`` entry holding a loss or an accuracy ({} before one)."""
    return next((e for e in reversed(epochs) if any(k in e for k in ("train_loss", "train_acc", "val_loss",
                                                                     "val_acc"))), {})


def summarise_live(snap: dict[str, Any]) -> dict[str, Any]:
    """The checked summary of a live snapshot (see the module docstring)."""
    points, epochs = step_points(snap), epoch_records(snap)
    loss_curve, acc_curve = curves(points, epochs)
    accuracy = next((e.get("val_acc", e.get("train_acc")) for e in reversed(epochs)
                     if "val_acc" in e or "train_acc" in e), None)
    return checked({
        **{key: snap.get(key) for key in ("version", "status", "progress", "epoch", "total_epochs", "eta",
                                          "samples_per_sec", "gpu_memory_mb", "lr")},
        "val_acc": next((e["val_acc"] for e in reversed(epochs) if "val_acc" in e), None),
        "epochs_seen": len(epochs),
        "latest_epoch": latest_finished_epoch(epochs),
        **dict(zip(("recent_loss", "recent_acc"), recent_means(points))),
        "last_loss": points[-1][1] if points else None,
        "accuracy": accuracy if accuracy is not None else (acc_curve[-1] if acc_curve else None),
        "loss_curve": list(loss_curve), "acc_curve": list(acc_curve),
    })


def checked(raw: dict[str, Any]) -> dict[str, Any]:
    """A summary as read from a run folder, made safe: known keys only, numbers finite, curves short."""
    def curve(value) -> tuple[float, ...]:
        values = [number(v) for v in value[:SPARK_POINTS]] if isinstance(value, list) else []
        return tuple(v for v in values if v is not None)

    version, status, seen, latest = raw.get("version"), raw.get("status"), raw.get("epochs_seen"), raw.get("latest_epoch")
    return {
        "version": version if isinstance(version, int) and not isinstance(version, bool) else None,
        "status": status if isinstance(status, str) and len(status) <= 32 else None,
        **{key: number(raw.get(key)) for key in _NUMBERS},
        "epochs_seen": seen if isinstance(seen, int) and not isinstance(seen, bool) and seen >= 0 else 0,
        "latest_epoch": epoch_records({"epochs": [latest]})[0] if isinstance(latest, dict) else {},
        "loss_curve": curve(raw.get("loss_curve")), "acc_curve": curve(raw.get("acc_curve")),
    }


def write_live_snapshot(run_path: Path, snapshot: dict[str, Any]) -> None:
    """Publish a run's live snapshot: ``live.json``, then its summary (so a summary is never older than the file
    it sums up)."""
    summary = summarise_live(snapshot)  # first: the two writes follow each other closely
    write_json_atomic(Path(run_path) / LIVE_FILE, snapshot)
    write_json_atomic(Path(run_path) / LIVE_SUMMARY_FILE, summary)  # tuples become JSON lists


def read_live_summary(run_path: Path) -> dict[str, Any] | None:
    """The checked summary of a run's latest live snapshot: from ``live_summary.json`` unless live.json is more
    than SUMMARY_LAG_S newer (then from live.json itself); None before the worker published anything.

    The lag allowed is a reader that comes between the worker's two writes (a busy machine stretches that gap): it
    gets the previous summary, a fraction of a second old, rather than parsing the whole history."""
    run_path = Path(run_path)
    try:
        live_mtime = (run_path / LIVE_FILE).stat().st_mtime_ns
    except OSError:
        return None
    try:
        fresh = (run_path / LIVE_SUMMARY_FILE).stat().st_mtime_ns >= live_mtime - SUMMARY_LAG_S * 1e9
    except OSError:
        fresh = False
    summary = read_json_object(run_path / LIVE_SUMMARY_FILE) if fresh else None
    if summary is not None:
        return checked(summary)
    snapshot = read_live(run_path)
    return None if snapshot is None else summarise_live(snapshot)
