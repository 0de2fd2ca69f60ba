"""The class wall's view model: every active run of the class (and the recently ended ones) as one row each.

A row says whose run it is (the owner's display name, vision_core/classroom/names.py), what it trains, how far it
is, how fast, and a status a teacher can act on: queued, starting, training, paused, testing, **stuck at chance**
(training_advice fires: the run trains but does not learn), **diverged** (the store's flag: the loss became NaN or
the run ended at chance), and the endings. Two short curves (loss and accuracy, at most SPARK_POINTS points each)
are kept for the sparklines.

Built from the run folders once per refresh and shared by every viewer (ui/class_wall.py caches it by time
bucket). A run's live facts come from the small summary its worker writes beside live.json
(vision_core/runs/live_summary.py); its whole live.json is read only to diagnose a run that may be stuck, once
per epoch. Everything read from a folder is checked (``runs.scan`` the run files, ``live_summary.checked`` the
summary). Pure: no Streamlit, no torch.

Example: ``rows = class_view(runs_root()).rows``; ``select(rows, {"stuck at chance"})``.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vision_core.classroom import names as class_names
from vision_core.runs import store as runs
from vision_core.runs.live_files import read_live
from vision_core.runs.live_summary import (
    SPARK_POINTS,  # noqa: F401 — the wall's sparkline length, named here for its readers
    checked,
    epoch_records,
    number,
    read_live_summary,
    step_points,
)
from vision_core.training.diagnosis import may_need_advice, training_advice

RECENT_S = 15 * 60  # an ended run stays on the wall this long after its last status change
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


_advice_cache: OrderedDict = OrderedDict()
_advice_lock = threading.Lock()


def _advice(run: runs.RunRecord, summary: dict[str, Any]) -> str | None:
    """training_advice, once per (run, epochs ended, learning rate): its verdict is about the latest epoch, so the
    wall asks again when an epoch ends or the rate changes (the live panel asks every second). The run's whole
    live.json is read only when the summary says the run may be stuck (most runs learn: then it is never read)."""
    classes = len((run.data_info or {}).get("classes") or []) or 10
    if not may_need_advice(summary["latest_epoch"], summary["recent_loss"], summary["recent_acc"], classes):
        return None
    lr = summary.get("lr") or run.config.lr
    key = (run.run_id, summary["epochs_seen"], lr)
    with _advice_lock:
        if key in _advice_cache:
            return _advice_cache[key]
    snap = read_live(run.path) or {}
    advice = training_advice(epoch_records(snap), step_points(snap), classes, lr, run.config.optimizer,
                             run.config.momentum)
    with _advice_lock:
        _advice_cache[key] = advice
        while len(_advice_cache) > 512:
            _advice_cache.popitem(last=False)
    return advice


def _status(run: runs.RunRecord, summary: dict[str, Any], advice: str | None) -> str:
    state = run.state
    if state in ("running", "paused") and summary["status"] in ("running", "paused", "testing"):
        state = summary["status"]
    if run.diverged:
        return DIVERGED
    if state == "running":
        return STUCK if advice else "training"
    if state == "paused" and advice:
        return STUCK
    return state if state in STATUSES else "interrupted"


def row_of(run: runs.RunRecord, summary: dict[str, Any] | None, person: str) -> WallRow:
    """One run as a wall row, from its (checked) record and its checked live summary (None: nothing published
    yet)."""
    summary = summary if summary is not None else checked({})
    advice = _advice(run, summary) if run.state in ("running", "paused") and summary["version"] is not None else None
    status = _status(run, summary, advice)
    if status == DIVERGED:
        advice = str(run.status.get("message") or "") or advice
    accuracy = summary["accuracy"]
    if status in ENDED and number((run.summary or {}).get("test_acc")) is not None:
        accuracy = number(run.summary["test_acc"])
    epoch, speed, memory = summary["epoch"], summary["samples_per_sec"], summary["gpu_memory_mb"]
    return WallRow(
        run_id=run.run_id, owner=run.owner, person=person, label=run.label, model=run.config.model,
        dataset=run.config.dataset, status=status, epoch=int(epoch) if epoch is not None else 0,
        epochs=int(summary["total_epochs"] or run.config.epochs),
        progress=min(max(summary["progress"] or 0.0, 0.0), 1.0),
        samples_per_sec=speed if speed and speed > 0 and status not in ("queued", "starting") else None,
        accuracy=accuracy, loss=summary["last_loss"], loss_curve=summary["loss_curve"],
        acc_curve=summary["acc_curve"], advice=advice, gpu_memory_mb=memory if memory and memory > 0 else None,
        device=str(run.status.get("kind") or run.status.get("device") or run.config.accelerator or ""),
        updated=number(run.status.get("updated")) or 0.0, challenge=run.config.challenge,
    )


def on_the_wall(run: runs.RunRecord, now: float, recent_s: float = RECENT_S) -> bool:
    """Active runs, and runs that ended within ``recent_s`` seconds."""
    if run.state in runs.ACTIVE_STATUSES + ("testing",):
        return True
    updated = number(run.status.get("updated"))
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


_RUN_FILES = ("status.json", "name.json", "summary.json", "config.json", "owner.json", "dataset.json", runs.JOB_FILE)
_read_runs: dict[Path, tuple[tuple, runs.RunRecord]] = {}  # a run's folder read once, kept while its files are
_read_runs_lock = threading.Lock()


def _files_key(path: Path) -> tuple:
    key, folder = [], os.fspath(path)
    for name in _RUN_FILES:
        try:  # a string path: pathlib's joining cost more than the stat itself (30 runs × 7 files every refresh)
            stat = os.stat(f"{folder}/{name}", follow_symlinks=False)
            key.append((stat.st_ino, stat.st_mtime_ns, stat.st_size))
        except OSError:
            key.append(None)
    return tuple(key)


def _records(base: Path) -> tuple[list[runs.RunRecord], int]:
    """Every readable run of the folder, and how many are damaged (as ``runs.scan``), reading again only what may
    have changed: a run costs seven stats while its files are the same (a class's earlier runs pile up during a
    lesson; thirty active ones were most of a refresh), plus a heartbeat's age while it says it is active (its
    liveness depends on the clock: a run whose worker died is read again, and then says interrupted)."""
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
        with _read_runs_lock:
            cached = _read_runs.get(path)
        if cached is not None and cached[0] == key and runs.still_alive(cached[1]):
            good.append(cached[1])
            continue
        try:
            record = runs.load_run(path.name, base)
        except runs.RunError:
            damaged += key[_RUN_FILES.index("config.json")] is not None  # no config yet: still being made
            continue
        except Exception:  # noqa: BLE001 — a folder on disk must never break the wall
            damaged += 1
            continue
        with _read_runs_lock:
            _read_runs[path] = (key, record)
            if len(_read_runs) > 20_000:
                _read_runs.clear()
        good.append(record)
    return good, damaged


def class_view(root: str | os.PathLike | None = None, now: float | None = None) -> WallView:
    """The wall of the runs folder ``root`` now: one pass over the run folders, live files parsed once per change."""
    base = runs.runs_root(root)
    records, damaged = _records(base)
    book = class_names.book(base)
    return WallView(rows=wall_rows(records, read_live_summary, book.display, now), damaged=damaged,
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
