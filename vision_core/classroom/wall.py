"""The class wall's view model: every active run of the class (and the recently ended ones) as one row each.

A row says whose run it is (the owner's display name, vision_core/classroom/names.py), what it trains, how far it
is, how fast, and a status a teacher can act on: queued, starting, training, paused, testing, **stuck at chance**
(training_advice fires: the run trains but does not learn), **diverged** (the store's flag: the loss became NaN or
the run ended at chance), and the endings. Two short curves (loss and accuracy, at most SPARK_POINTS points each)
are kept for the sparklines.

Built from the run folders once per refresh and shared by every viewer (ui/class_wall.py caches it by time
bucket); everything read from a folder is checked (``runs.scan`` checks the run files, ``_numbers`` the live
file's history). Pure: no Streamlit, no torch.

Example: ``rows = class_view(runs_root()).rows``; ``select(rows, {"stuck at chance"})``.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vision_core.classroom import names as class_names
from vision_core.runs import store as runs
from vision_core.runs.live_files import read_live
from vision_core.training.diagnosis import training_advice

RECENT_S = 15 * 60  # an ended run stays on the wall this long after its last status change
SPARK_POINTS = 40  # per sparkline: enough for its shape, a few hundred bytes per run
STUCK, DIVERGED = "stuck at chance", "diverged"
ENDED = ("finished", "stopped", "failed", "interrupted")
# What the wall's status filter offers, in the order a teacher reads a class: who needs help first.
STATUSES = (STUCK, DIVERGED, "training", "paused", "testing", "starting", "queued") + ENDED
ACTIVE = ("queued", "starting", "training", "paused", "testing", STUCK)


@dataclass(frozen=True)
class WallRow:
    """One run on the wall; every value is checked (numbers finite, text from validated run files)."""

    run_id: str
    owner: str | None
    person: str  # the owner's display name or pseudonym (names.NameBook.display)
    label: str  # the run's own name (runs.RunRecord.label)
    model: str
    dataset: str
    status: str  # one of STATUSES
    epoch: int
    epochs: int
    progress: float  # 0..1
    samples_per_sec: float | None
    accuracy: float | None  # latest validation accuracy, else the latest training accuracy
    loss: float | None  # latest training loss
    loss_curve: tuple[float, ...] = ()
    acc_curve: tuple[float, ...] = ()
    advice: str | None = None  # why it is stuck or diverged (diagnosis), for the teacher
    gpu_memory_mb: float | None = None
    device: str = ""
    updated: float = 0.0  # status.json's last change
    challenge: str = ""  # the challenge the run is for ("" none): the Class page filters by it

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@dataclass
class WallView:
    """The wall at one moment: rows in display order, and the folders it could not read (for the teacher)."""

    rows: list[WallRow] = field(default_factory=list)
    damaged: int = 0
    built: float = 0.0


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _thin(values: Sequence[float], points: int = SPARK_POINTS) -> tuple[float, ...]:
    """At most ``points`` values: the means of equal slices (smooths the noise of single batches)."""
    if len(values) <= points:
        return tuple(values)
    edges = [round(i * len(values) / points) for i in range(points + 1)]
    return tuple(sum(values[a:b]) / (b - a) for a, b in itertools.pairwise(edges) if b > a)


def _step_points(snap: dict[str, Any]) -> list[tuple[float, float, float | None]]:
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
            step, loss, acc = (_number(v) for v in item)
            if step is not None and loss is not None:
                points.append((step, loss, acc))
    return points


def _epoch_records(snap: dict[str, Any]) -> list[dict[str, float]]:
    epochs = snap.get("epochs")
    records = []
    for item in epochs if isinstance(epochs, list) else []:
        if isinstance(item, dict):
            records.append({k: v for k in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")
                            if (v := _number(item.get(k))) is not None})
    return records


def curves(snap: dict[str, Any], points: list | None = None,
           epochs: list | None = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The loss sparkline (step losses) and the accuracy sparkline (validation accuracy per epoch once there are
    two epochs of it, else the step accuracies) of a live snapshot (``points`` / ``epochs``: already read)."""
    points = _step_points(snap) if points is None else points
    epochs = _epoch_records(snap) if epochs is None else epochs
    loss = _thin([p[1] for p in points])
    val = [e["val_acc"] for e in epochs if "val_acc" in e]
    acc = _thin(val) if len(val) >= 2 else _thin([p[2] for p in points if p[2] is not None])
    return loss, acc


@dataclass(frozen=True)
class _LiveFacts:
    """What the wall reads from one version of a run's live file (computed once per version, for every viewer)."""

    loss_curve: tuple[float, ...]
    acc_curve: tuple[float, ...]
    last_loss: float | None
    accuracy: float | None
    advice: str | None


_facts: OrderedDict = OrderedDict()
_facts_lock = threading.Lock()


_advice_cache: OrderedDict = OrderedDict()


def _advice(run: runs.RunRecord, snap: dict[str, Any], epochs: list[dict[str, float]],
            points: list[tuple[float, float, float | None]]) -> str | None:
    """training_advice, once per (run, epochs ended, learning rate): its verdict is about the latest epoch, so the
    wall asks again when an epoch ends or the rate changes, not at every step (the live panel asks every second)."""
    lr = _number(snap.get("lr")) or run.config.lr
    key = (run.run_id, len(epochs), lr)
    with _facts_lock:
        if key in _advice_cache:
            return _advice_cache[key]
    classes = len((run.data_info or {}).get("classes") or []) or 10
    advice = training_advice(epochs, points, classes, lr, run.config.optimizer, run.config.momentum)
    with _facts_lock:
        _advice_cache[key] = advice
        while len(_advice_cache) > 512:
            _advice_cache.popitem(last=False)
    return advice


def _live_facts(run: runs.RunRecord, snap: dict[str, Any]) -> _LiveFacts:
    """Curves, latest loss and accuracy, and training_advice of a live snapshot, once per (run, live version)."""
    key = (run.run_id, snap.get("version"), len(snap.get("steps") or []), len(snap.get("epochs") or []))
    with _facts_lock:
        if key in _facts:
            return _facts[key]
    points = _step_points(snap)
    epochs = _epoch_records(snap)
    loss_curve, acc_curve = curves(snap, points, epochs)
    accuracy = next((e.get("val_acc", e.get("train_acc")) for e in reversed(epochs)
                     if "val_acc" in e or "train_acc" in e), None)
    advice = _advice(run, snap, epochs, points)
    facts = _LiveFacts(loss_curve, acc_curve, points[-1][1] if points else None,
                       accuracy if accuracy is not None else (acc_curve[-1] if acc_curve else None), advice)
    with _facts_lock:
        _facts[key] = facts
        while len(_facts) > 512:
            _facts.popitem(last=False)
    return facts


def _status(run: runs.RunRecord, snap: dict[str, Any], advice: str | None) -> str:
    state = run.state
    if state in ("running", "paused") and snap.get("status") in ("running", "paused", "testing"):
        state = snap["status"]
    if run.diverged:
        return DIVERGED
    if state == "running":
        return STUCK if advice else "training"
    if state == "paused" and advice:
        return STUCK
    return state if state in STATUSES else "interrupted"


def row_of(run: runs.RunRecord, snap: dict[str, Any] | None, person: str) -> WallRow:
    """One run as a wall row, from its (checked) record and its live snapshot (None: nothing published yet)."""
    snap = snap if isinstance(snap, dict) else {}
    facts = _live_facts(run, snap)
    advice = facts.advice if run.state in ("running", "paused") else None
    status = _status(run, snap, advice)
    if status == DIVERGED:
        advice = str(run.status.get("message") or "") or advice
    accuracy = facts.accuracy
    summary = run.summary or {}
    if status in ENDED and _number(summary.get("test_acc")) is not None:
        accuracy = _number(summary["test_acc"])
    epoch = _number(snap.get("epoch"))
    total = _number(snap.get("total_epochs")) or run.config.epochs
    progress = _number(snap.get("progress"))
    speed = _number(snap.get("samples_per_sec"))
    memory = _number(snap.get("gpu_memory_mb"))
    return WallRow(
        run_id=run.run_id, owner=run.owner, person=person, label=run.label, model=run.config.model,
        dataset=run.config.dataset, status=status, epoch=int(epoch) if epoch is not None else 0,
        epochs=int(total), progress=min(max(progress or 0.0, 0.0), 1.0),
        samples_per_sec=speed if speed and speed > 0 and status not in ("queued", "starting") else None,
        accuracy=accuracy, loss=facts.last_loss, loss_curve=facts.loss_curve, acc_curve=facts.acc_curve,
        advice=advice, gpu_memory_mb=memory if memory and memory > 0 else None,
        device=str(run.status.get("kind") or run.status.get("device") or run.config.accelerator or ""),
        updated=_number(run.status.get("updated")) or 0.0, challenge=run.config.challenge,
    )


def on_the_wall(run: runs.RunRecord, now: float, recent_s: float = RECENT_S) -> bool:
    """Active runs, and runs that ended within ``recent_s`` seconds."""
    if run.state in runs.ACTIVE_STATUSES + ("testing",):
        return True
    updated = _number(run.status.get("updated"))
    return updated is not None and now - updated <= recent_s


def wall_rows(records: Iterable[runs.RunRecord], live: Callable[[Path], dict[str, Any] | None],
              display: Callable[[str | None], str], now: float | None = None,
              recent_s: float = RECENT_S) -> list[WallRow]:
    """The rows of the wall, active runs first (oldest first: a row keeps its place while it trains), then the
    runs that ended within ``recent_s`` (latest first)."""
    now = time.time() if now is None else now
    shown = [r for r in records if on_the_wall(r, now, recent_s)]
    rows = [row_of(r, live(r.path), display(r.owner)) for r in shown]
    active = sorted((r for r in rows if r.active), key=lambda r: r.run_id)
    ended = sorted((r for r in rows if not r.active), key=lambda r: (-r.updated, r.run_id))
    return active + ended


_ENDED_FILES = ("status.json", "name.json", "summary.json", "config.json", "owner.json", "dataset.json")
_ended: dict[Path, tuple[tuple, runs.RunRecord]] = {}  # an ended run's folder read once, kept while its files are
_ended_lock = threading.Lock()


def _files_key(path: Path) -> tuple:
    key = []
    for name in _ENDED_FILES:
        try:
            stat = os.stat(path / name, follow_symlinks=False)
            key.append((stat.st_ino, stat.st_mtime_ns, stat.st_size))
        except OSError:
            key.append(None)
    return tuple(key)


def _records(base: Path) -> tuple[list[runs.RunRecord], int]:
    """Every readable run of the folder, and how many are damaged (as ``runs.scan``), reading again only what may
    have changed: an ended run (a class's earlier runs pile up during a lesson) costs six stats while its files are
    the same; an active one is read every time (its liveness depends on the clock)."""
    good, damaged = [], 0
    try:
        entries = [p for p in base.iterdir() if runs.RUN_ID_RE.match(p.name)]
    except OSError:
        return [], 0
    for path in entries:
        if path.is_symlink():
            damaged += 1
            continue
        if not path.is_dir():
            continue
        key = _files_key(path)
        with _ended_lock:
            cached = _ended.get(path)
        if cached is not None and cached[0] == key:
            good.append(cached[1])
            continue
        try:
            record = runs.load_run(path.name, base)
        except runs.RunError:
            damaged += key[_ENDED_FILES.index("config.json")] is not None  # no config yet: still being made
            continue
        except Exception:  # noqa: BLE001 — a folder on disk must never break the wall
            damaged += 1
            continue
        if record.state in ENDED:
            with _ended_lock:
                _ended[path] = (key, record)
                if len(_ended) > 20_000:
                    _ended.clear()
        good.append(record)
    return good, damaged


def class_view(root: str | os.PathLike | None = None, now: float | None = None) -> WallView:
    """The wall of the runs folder ``root`` now: one pass over the run folders, live files parsed once per change."""
    base = runs.runs_root(root)
    records, damaged = _records(base)
    book = class_names.book(base)
    return WallView(rows=wall_rows(records, read_live, book.display, now), damaged=damaged,
                    built=time.time() if now is None else now)


def select(rows: Iterable[WallRow], statuses: Collection[str] = (),
           keep: Callable[[WallRow], bool] | None = None) -> list[WallRow]:
    """The rows whose status is in ``statuses`` (all when empty) and that ``keep`` accepts (all when None).

    ``keep`` is where another filter plugs in (a challenge's runs: ``keep=lambda row: row.run_id in ids``).
    """
    wanted = set(statuses)
    return [r for r in rows if (not wanted or r.status in wanted) and (keep is None or keep(r))]


def counts(rows: Iterable[WallRow]) -> dict[str, int]:
    """How many rows have each status, in STATUSES order, only the statuses present."""
    seen: dict[str, int] = {}
    for row in rows:
        seen[row.status] = seen.get(row.status, 0) + 1
    return {s: seen[s] for s in STATUSES if s in seen}
