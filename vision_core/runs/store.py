"""Run folders on disk: every run the CLI or the dashboard starts lives in ``runs/<run_id>/``.

The folder is the source of truth after a server restart (see docs/ARCHITECTURE.md for its files).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vision_core.config import RunConfig

if TYPE_CHECKING:  # torch is imported where weights are read: every page's sidebar lists runs
    import torch

ACTIVE_STATUSES = ("queued", "starting", "running", "paused")
# Every word status.json may hold; anything else makes the folder damaged.
KNOWN_STATUSES = ACTIVE_STATUSES + ("testing", "finished", "stopped", "failed", "interrupted")
CHECKPOINTS = ("best", "last")
# What a run folder's job computes. ``job.json`` ({"kind": ..., options}) is written once, before config.json, for
# every kind but a training run: a folder without it (every folder made before kinds existed) is a training run.
TRAIN, LR_RANGE_TEST = "train", "lr_range_test"
KINDS = (TRAIN, LR_RANGE_TEST)
JOB_FILE = "job.json"
MAX_JOB_BATCHES = 1000  # a range test's num_batches read from job.json (training.lr_finder checks its own bound)

# A run id is a folder name we made (see new_run_id) or the CLI was given: no dots, no slashes, no spaces,
# so it can never name ``..``, a hidden file or a path. Checked everywhere an id comes in (URL, API, CLI).
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
_OWNER_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a dataset or model name in config.json
# Text fields of summary.json / status.json other than the message: device names and the like. Nothing that
# could make a link, an image or HTML when a page writes it in Markdown.
_TEXT_RE = re.compile(r"^[^\[\]<>`!\\\x00-\x1f]{0,120}$")
MAX_NAME_CHARS = 80

# Liveness: a training process touches <run>/heartbeat every HEARTBEAT_SECONDS; a run whose heartbeat is
# older than HEARTBEAT_TIMEOUT_S is not running any more, whatever its status.json says. (A pid alone is
# not enough: pids are reused, and a worker may run on after the server that started it restarted.)
HEARTBEAT_SECONDS = 1.0
HEARTBEAT_TIMEOUT_S = 20
STARTING_GRACE_S = 90  # a "starting" worker imports torch and loads data before its first heartbeat
_NEW_FOLDER_GRACE_S = 60  # a folder without config.json younger than this is still being created
INTERRUPTED_MESSAGE = "The training process stopped without finishing; what it saved is kept."


class RunError(ValueError):
    """A run folder or checkpoint that cannot be used; the message says why and what to do."""


def runs_root(root: str | os.PathLike | None = None) -> Path:
    """Where run folders live: ``root``, else ``$VISION_CORE_RUNS``, else ``./runs``."""
    return Path(root or os.environ.get("VISION_CORE_RUNS", "runs")).resolve()


def validate_run_id(run_id: Any) -> str:
    """``run_id`` itself when it is a valid run id, else RunError saying what an id may hold.

    Example: ``validate_run_id("20261122-112233-lenet-digits-3fa1")``; ``validate_run_id("../x")`` raises.
    """
    if isinstance(run_id, str) and RUN_ID_RE.match(run_id):
        return run_id
    shown = repr(run_id if not isinstance(run_id, str) else run_id[:60] + ("…" if len(run_id) > 60 else ""))
    raise RunError(f"{shown} is not a valid run id: up to 100 letters, digits, '-' or '_', "
                   "starting with a letter or a digit.")


def run_dir(run_id: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of ``run_id`` inside the runs folder (it may not exist yet); RunError for anything else.

    The id is validated and the path resolved: a symlink, or anything that lands outside the runs
    folder, is refused.
    """
    base = runs_root(root)
    path = base / validate_run_id(run_id)
    if path.is_symlink() or path.resolve().parent != base:
        raise RunError(f"Run {run_id} is a link, not a run folder; it is not opened.")
    return path


@dataclass
class RunRecord:
    """What the Runs page and the evaluation pages know about one run folder (every field validated)."""

    run_id: str
    path: Path
    config: RunConfig
    status: dict[str, Any]
    summary: dict[str, Any] | None
    data_info: dict[str, Any] | None  # classes, channels, image_size, mean, std of the data it trained on
    owner: str | None = None  # identity.owner_id of whoever started it; None: the CLI (teacher only)
    name: str = ""  # the display name its owner chose (name.json), "" when none
    problems: list[str] = field(default_factory=list)  # bad values that were dropped while reading
    kind: str = TRAIN  # what the job computes (job.json): a training run, or a learning-rate range test
    job: dict[str, Any] = field(default_factory=dict)  # the job's own options, e.g. {"num_batches": 100}

    @property
    def state(self) -> str:
        """queued / starting / running / paused / testing / finished / stopped / failed / interrupted."""
        return self.status.get("status", "unknown")

    @property
    def diverged(self) -> bool:
        """Training went wrong without an error: the loss became NaN, or the run ended still at chance."""
        return self.status.get("diverged") is True

    @property
    def label(self) -> str:
        """The chosen name, else the config's name, else a readable default: ``lenet · digits · 14:03:12``."""
        return self.name or self.config.name or default_name(self)

    @property
    def short_id(self) -> str:
        return short_id(self.run_id)

    @cached_property
    def started(self) -> datetime | None:
        """When the run was created, by the server's clock: from its id (see new_run_id), else from its
        config.json (written once, when the folder is made); None when neither can tell."""
        when = started_at(self.run_id)
        if when is None:
            try:
                when = datetime.fromtimestamp((self.path / "config.json").stat().st_mtime)
            except (OSError, ValueError, OverflowError):
                return None
        return when

    def checkpoint(self, which: str = "best") -> Path | None:
        """Path of the best or last checkpoint, falling back to the other one; None when there is none."""
        if which not in CHECKPOINTS:
            raise ValueError(f"which must be one of {CHECKPOINTS}, got {which!r}")
        other = "last" if which == "best" else "best"
        for name in (which, other):
            path = self.path / "checkpoints" / f"{name}.ckpt"
            if path.is_file() and not path.is_symlink():  # a link could point at any file on the server
                return path
        return None


@dataclass
class DamagedRun:
    """A run folder that cannot be read as a run: listed with the reason so its owner can delete it."""

    run_id: str
    reason: str
    owner: str | None = None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def new_run_id(config: RunConfig) -> str:
    """A sortable, readable, unique id: ``20261122-112233-lenet-digits-3fa1``."""
    label = _slug(config.name) or f"{_slug(config.model)}-{_slug(config.dataset)}"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{label}-{secrets.token_hex(2)}"


_ID_TIME = re.compile(r"^(\d{8}-\d{6})-")  # new_run_id's start: the server's local time
_ID_TOKEN = re.compile(r"-([0-9a-f]{4})$")  # new_run_id's end: 2 random bytes


def started_at(run_id: str) -> datetime | None:
    """The server's local time a run was created, read from an id made by ``new_run_id``; None for other ids.

    Example: ``started_at("20261122-112233-lenet-digits-3fa1")`` → ``datetime(2026, 11, 22, 11, 22, 33)``.
    """
    match = _ID_TIME.match(run_id)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d-%H%M%S")
    except ValueError:
        return None


def short_id(run_id: str) -> str:
    """What tells one run id from another at a glance: new_run_id's random ending (``3fa1``), else the id's end."""
    match = _ID_TOKEN.search(run_id)
    return match.group(1) if match else run_id[-8:]


def default_name(run: RunRecord) -> str:
    """A run's name until its owner gives it one: model · dataset · the time it started (server's clock)."""
    when = run.started
    return f"{run.config.model} · {run.config.dataset} · " + (when.strftime("%H:%M:%S") if when else run.short_id)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    # Write then rename, so a reader (another tab, the Runs page) never sees half a file; the temporary name is
    # this thread's own (the scheduler's thread and the pages' sessions write status files at the same time).
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.unlink(missing_ok=True)  # never write through a link left at that name
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


_MAX_JSON_BYTES = 1_000_000  # run files are small; a huge one is not ours and is not read into memory


def _read_json(path: Path) -> Any:
    """The parsed file; None when it is missing; RunError when it is unreadable, a link or not JSON."""
    if path.is_symlink():
        raise RunError(f"{path.name} is a link")
    if not path.exists():
        return None
    try:
        if path.stat().st_size > _MAX_JSON_BYTES:
            raise RunError(f"{path.name} is too large")
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunError(f"{path.name} is not readable JSON") from exc


def write_file(run: RunRecord, name: str, data: dict[str, Any]) -> None:
    """Write one small JSON file of a run folder (a job's result), atomically."""
    _write_json(run.path / name, data)


def read_file(run: RunRecord, name: str, max_bytes: int = _MAX_JSON_BYTES) -> Any:
    """One small JSON file of a run folder, parsed; None when missing; RunError when it is a link, larger than
    ``max_bytes`` or not JSON. The caller checks every value (the file is untrusted)."""
    path = run.path / name
    if not path.is_symlink() and path.is_file() and path.stat().st_size > max_bytes:
        raise RunError(f"{name} is too large")
    return _read_json(path)


def clean_name(name: Any) -> str:
    """A display name as stored: a string without control characters, at most MAX_NAME_CHARS long."""
    if not isinstance(name, str):
        return ""
    return "".join(ch for ch in name if ch.isprintable()).strip()[:MAX_NAME_CHARS]


# Two small files, so a rename never rewrites (or races with) who owns the run:
# owner.json {"owner": identity.owner_id or null} written once by create_run; name.json {"name": ...}.
def _write_owner(path: Path, owner: str | None) -> None:
    _write_json(path / "owner.json", {"owner": owner})


def _write_name(path: Path, name: str) -> None:
    _write_json(path / "name.json", {"name": name})


# Who trains a run: ``trainer.json`` {"by": "cli" | "python" | "scheduler", "pid", "at"}, made with O_CREAT | O_EXCL, so
# exactly one process ever holds the right to train an attempt. The command line takes it when it makes its
# folder (a dashboard's scheduler then never starts a worker for that run); a scheduler takes it just before
# it starts a worker, so two schedulers, or a scheduler and the command line, can never both train one run.
TRAINER_FILE = "trainer.json"


def claim_training(path: str | os.PathLike, by: str) -> bool:
    """Take the right to train the run in ``path`` for ``by``: True for exactly one caller, False once taken."""
    try:
        fd = os.open(Path(path) / TRAINER_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as file:
        json.dump({"by": by, "pid": os.getpid(), "at": time.time()}, file)
    return True


def training_claim(path: str | os.PathLike) -> dict[str, Any] | None:
    """``{"by", "pid", "at"}`` of whoever holds the right to train this run; None when nobody does.

    A claim being written right now (or damaged) reads as ``{"by": "?"}``: taken, by someone unknown.
    """
    file = Path(path) / TRAINER_FILE
    if not os.path.lexists(file):
        return None
    try:
        data = _read_json(file)
    except RunError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("by"), str):
        return {"by": "?"}
    return data


def release_training_claim(path: str | os.PathLike) -> None:
    """Give the right to train back, so a scheduler may start the run again (e.g. when it is queued again)."""
    (Path(path) / TRAINER_FILE).unlink(missing_ok=True)


def create_run(config: RunConfig, root: str | os.PathLike | None = None, run_id: str | None = None,
               owner: str | None = None, trained_by: str | None = None, job: dict[str, Any] | None = None
               ) -> RunRecord:
    """Make the run folder and write its config; status starts as ``queued``.

    ``job`` (``{"kind": "lr_range_test", "num_batches": 100}``) makes it a job of another kind than training; it is
    checked as a reader would check it, and written to ``job.json`` before config.json completes the folder.

    ``owner`` (identity.owner_id of the person who started it, None from the command line) goes in
    ``owner.json``, the display name (``config.name`` at first) in ``name.json``. ``trained_by`` (the
    command line: ``"cli"``; ``engine.train`` making its own run: ``"python"``) claims the run for the process that makes it before any scheduler can see
    it (``claim_training``); its status then starts as ``starting``: it never waits in a queue.
    """
    kind, options = _job(job) if job is not None else (TRAIN, {})
    run_id = validate_run_id(run_id) if run_id is not None else new_run_id(config)
    if owner is not None and not (isinstance(owner, str) and _OWNER_RE.match(owner)):
        raise RunError(f"owner must be up to 64 letters, digits, '-' or '_', got {owner!r}")
    path = run_dir(run_id, root)
    (path / "checkpoints").mkdir(parents=True, exist_ok=True)
    if trained_by is not None and not claim_training(path, trained_by):
        raise RunError(f"Run {run_id} is already being trained by another process.")
    _write_owner(path, owner)
    _write_name(path, clean_name(config.name))
    status = {"status": "starting" if trained_by else "queued", "message": "", "pid": os.getpid(),
              "updated": time.time()}
    _write_json(path / "status.json", status)
    if kind != TRAIN:
        _write_json(path / JOB_FILE, {"kind": kind, **options})
    _write_json(path / "config.json", config.to_dict())  # last: config.json marks a complete folder
    return RunRecord(run_id, path, config, status, None, None, owner=owner, name=clean_name(config.name),
                     kind=kind, job=options)


def rename_run(run: RunRecord | str, name: str, root: str | os.PathLike | None = None) -> RunRecord:
    """Give a run a display name (its id, and so its folder, never change). An empty name clears it."""
    record = run if isinstance(run, RunRecord) else load_run(run, root)
    record.name = clean_name(name)
    _write_name(record.path, record.name)
    return record


def _heartbeat_file(run_or_path: RunRecord | str | os.PathLike) -> Path:
    base = run_or_path.path if isinstance(run_or_path, RunRecord) else Path(run_or_path)
    return base / "heartbeat"


def touch_heartbeat(run_or_path: RunRecord | str | os.PathLike) -> None:
    """Say "this run's process is alive": update the mtime of ``<run>/heartbeat`` (made if missing)."""
    path = _heartbeat_file(run_or_path)
    try:
        os.utime(path, follow_symlinks=False)  # a link planted in a run folder never touches a file elsewhere
    except FileNotFoundError:
        path.touch()


def heartbeat_age(run_or_path: RunRecord | str | os.PathLike) -> float | None:
    """Seconds since the run's process last touched its heartbeat; None when it never did."""
    try:
        return max(0.0, time.time() - _heartbeat_file(run_or_path).stat().st_mtime)
    except OSError:
        return None


def write_status(run: RunRecord, status: str, message: str = "", **fields: Any) -> None:
    """Record the run's state on disk (and on the record). Writing an active status is also a sign of life."""
    if status not in KNOWN_STATUSES:
        raise ValueError(f"status must be one of {KNOWN_STATUSES}, got {status!r}")
    run.status = {**run.status, **fields, "status": status, "message": message,
                  "pid": os.getpid(), "updated": time.time()}
    _write_json(run.path / "status.json", run.status)
    if status in ACTIVE_STATUSES + ("testing",):
        touch_heartbeat(run)


def write_summary(run: RunRecord, summary: dict[str, Any]) -> None:
    run.summary = summary
    _write_json(run.path / "summary.json", summary)


def write_data_info(run: RunRecord, data_info: dict[str, Any]) -> None:
    run.data_info = data_info
    _write_json(run.path / "dataset.json", data_info)


# --- Reading a run folder: every value is checked, a bad one is dropped or makes the run damaged ---------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _config(data: Any) -> RunConfig:
    """RunConfig from config.json, refusing values of the wrong type (RunConfig checks the ranges)."""
    if not isinstance(data, dict):
        raise RunError("config.json is not an object")
    defaults = RunConfig()
    for f in dataclasses.fields(RunConfig):
        if f.name not in data:
            continue
        value, default = data[f.name], getattr(defaults, f.name)
        if default is None:  # an optional setting: any plain JSON scalar, RunConfig checks the rest
            ok = value is None or isinstance(value, (str, int, float, bool))
        elif isinstance(default, (list, tuple)):
            ok = isinstance(value, list)
        elif isinstance(default, dict):
            ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
        elif isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = _is_number(value) and math.isfinite(value)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise RunError(f"config.json: {f.name} has a value of the wrong type ({type(value).__name__})")
    for key in ("dataset", "model"):  # names of registry entries: shown on pages, so nothing that renders
        if key in data and not _NAME_RE.match(data[key]):
            raise RunError(f"config.json: {key} is not a dataset or model name")
    try:
        return RunConfig.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise RunError(f"config.json: {exc}") from None


_STATUS_NUMBERS = ("pid", "updated", "epoch", "step")


def _status(data: Any, problems: list[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise RunError("status.json is missing or not an object")
    if data.get("status") not in KNOWN_STATUSES:
        raise RunError(f"status.json: unknown status {str(data.get('status'))[:40]!r}")
    status: dict[str, Any] = {"status": data["status"]}
    message = data.get("message", "")
    status["message"] = message if isinstance(message, str) else ""
    if not isinstance(message, str):
        problems.append("status.json: message is not text (ignored)")
    for key, value in data.items():
        if key in ("status", "message"):
            continue
        if key in _STATUS_NUMBERS and not (_is_number(value) and math.isfinite(value)):
            problems.append(f"status.json: {key} is not a number (ignored)")
        elif not ((isinstance(value, str) and _TEXT_RE.match(value)) or value is None or isinstance(value, bool)
                  or (_is_number(value) and math.isfinite(value))):
            problems.append(f"status.json: {key} is not text or a number (ignored)")
        else:
            status[key] = value
    return status


_SUMMARY_TEXT = ("status", "device", "accelerator", "tested_checkpoint")


def _summary(data: Any, problems: list[str]) -> dict[str, Any] | None:
    """Numbers (or None) only, except the few text fields the engine writes."""
    if data is None:
        return None
    if not isinstance(data, dict):
        problems.append("summary.json is not an object (ignored)")
        return None
    summary = {}
    for key, value in data.items():
        if value is None or _is_number(value) or (
                key in _SUMMARY_TEXT and isinstance(value, str) and _TEXT_RE.match(value)):
            summary[key] = value
        else:
            problems.append(f"summary.json: {str(key)[:40]} is not a number (ignored)")
    return summary


def _data_info(data: Any, problems: list[str]) -> dict[str, Any] | None:
    """classes (text), channels, image_size [H, W], mean / std (numbers, one per channel)."""
    if data is None:
        return None
    try:
        classes, channels, size = data["classes"], data["channels"], data["image_size"]
        assert isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)
        assert isinstance(channels, int) and not isinstance(channels, bool) and 1 <= channels <= 64
        assert isinstance(size, list) and len(size) == 2
        assert all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 4096 for s in size)
        for key in ("mean", "std"):
            values = data.get(key, [0.0])
            assert isinstance(values, list) and all(_is_number(v) and math.isfinite(v) for v in values)
    except (AssertionError, KeyError, TypeError):
        problems.append("dataset.json is damaged (the run cannot be evaluated)")
        return None
    return data


def _small_file(path: Path, key: str, problems: list[str]) -> Any:
    """``data[key]`` of a small JSON object file; None when missing or unreadable (noted in problems)."""
    try:
        data = _read_json(path)
    except RunError:
        problems.append(f"{path.name} is not readable (ignored)")
        return None
    return data.get(key) if isinstance(data, dict) else None


def read_owner(path: Path, problems: list[str] | None = None) -> str | None:
    """The owner id in ``<run>/owner.json``; None (the teacher's run) when missing or not a valid id."""
    problems = [] if problems is None else problems
    owner = _small_file(path / "owner.json", "owner", problems)
    if owner is not None and not (isinstance(owner, str) and _OWNER_RE.match(owner)):
        problems.append("owner.json: owner is not valid (the teacher manages this run)")
        return None
    return owner


def _job(data: Any) -> tuple[str, dict[str, Any]]:
    """(kind, options) from job.json; a missing file is a training run. RunError when the file cannot be used: the
    kind decides what a worker does with the folder, so a folder whose kind is unknown is damaged."""
    if data is None:
        return TRAIN, {}
    if not isinstance(data, dict) or data.get("kind") not in KINDS:
        kind = data.get("kind") if isinstance(data, dict) else None
        raise RunError(f"job.json: unknown kind {str(kind)[:40]!r} (known: {', '.join(KINDS)})")
    if data["kind"] == TRAIN:
        return TRAIN, {}
    batches = data.get("num_batches")
    if isinstance(batches, bool) or not isinstance(batches, int) or not 1 <= batches <= MAX_JOB_BATCHES:
        raise RunError(f"job.json: num_batches must be a whole number from 1 to {MAX_JOB_BATCHES}")
    return data["kind"], {"num_batches": batches}


def _alive(status: dict[str, Any], path: Path) -> bool:
    """Whether a run that says it is active really is (see HEARTBEAT_TIMEOUT_S)."""
    if status["status"] == "queued":
        return True  # waiting in a server's queue: no process yet
    if status["status"] == "starting" and time.time() - status.get("updated", 0) < STARTING_GRACE_S:
        return True
    age = heartbeat_age(path)
    return age is not None and age < HEARTBEAT_TIMEOUT_S


def still_alive(record: RunRecord) -> bool:
    """Whether a record read earlier may still be used as it was read: it has ended, or it is active and its worker
    still beats (a cached active record whose worker died must be read again, to say interrupted)."""
    return record.state not in ACTIVE_STATUSES or _alive(record.status, record.path)


def _read(path: Path) -> RunRecord:
    """The run in ``path`` (a folder inside the runs folder); RunError with the reason when it is damaged."""
    problems: list[str] = []
    config_data = _read_json(path / "config.json")
    if config_data is None:
        raise RunError("config.json is missing")
    config = _config(config_data)
    status = _status(_read_json(path / "status.json"), problems)
    if status["status"] in ACTIVE_STATUSES and not _alive(status, path):
        status = {**status, "status": "interrupted", "message": INTERRUPTED_MESSAGE}
    kind, job = _job(_read_json(path / JOB_FILE))
    owner = read_owner(path, problems)
    name = clean_name(_small_file(path / "name.json", "name", problems))

    def optional(filename: str) -> Any:
        try:
            return _read_json(path / filename)
        except RunError as exc:
            problems.append(f"{exc} (ignored)")
            return None

    return RunRecord(run_id=path.name, path=path, config=config, status=status,
                     summary=_summary(optional("summary.json"), problems),
                     data_info=_data_info(optional("dataset.json"), problems),
                     owner=owner, name=name, problems=problems, kind=kind, job=job)


def load_run(run_id: str, root: str | os.PathLike | None = None) -> RunRecord:
    """Read one run folder by id. A run that says it is active but whose heartbeat stopped is ``interrupted``.

    RunError (with a plain reason) for an invalid id, a missing run or a damaged folder.
    """
    path = run_dir(run_id, root)
    if not path.is_dir():
        raise RunError(f"No run named {run_id!r}: it may have been deleted.")
    try:
        return _read(path)
    except RunError as exc:
        raise RunError(f"Run {run_id} is damaged: {exc}.") from None


def reload(run_path: str | os.PathLike) -> RunRecord:
    """Read again the run at ``RunRecord.path`` (pages cache by path, so runs of two roots never mix).

    Only for paths that came from a RunRecord; anything a user typed goes through load_run(run_id).
    """
    path = Path(run_path)
    return load_run(path.name, path.parent)


def _entries(root: str | os.PathLike | None) -> list[Path]:
    """Folders (and links) in the runs folder whose names are valid run ids, newest first."""
    base = runs_root(root)
    try:
        entries = [p for p in base.iterdir() if RUN_ID_RE.match(p.name)]
    except OSError:
        return []
    return sorted(entries, key=lambda p: p.name, reverse=True)


def scan(root: str | os.PathLike | None = None) -> tuple[list[RunRecord], list[DamagedRun]]:
    """``(list_runs(root), list_damaged(root))`` in one pass over the folders; never raises."""
    good, damaged = [], []
    for path in _entries(root):
        if path.is_symlink():
            damaged.append(DamagedRun(path.name, "it is a link, not a run folder"))
            continue
        if not path.is_dir():
            continue
        try:
            good.append(_read(path))
        except RunError as exc:
            if str(exc) == "config.json is missing" and _younger_than(path, _NEW_FOLDER_GRACE_S):
                continue  # create_run is writing it right now
            damaged.append(DamagedRun(path.name, str(exc), read_owner(path)))
        except Exception as exc:  # noqa: BLE001 — a folder on disk must never break the listing of the others
            damaged.append(DamagedRun(path.name, f"unreadable ({type(exc).__name__})"))
    return good, damaged


def _younger_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime < seconds
    except OSError:
        return False


def list_runs(root: str | os.PathLike | None = None) -> list[RunRecord]:
    """Every readable training run, newest first: what the pickers offer as trained models. Damaged folders are
    left out (see list_damaged), and so are jobs of other kinds (see list_jobs); never raises."""
    return [run for run in scan(root)[0] if run.kind == TRAIN]


def list_jobs(kind: str, root: str | os.PathLike | None = None) -> list[RunRecord]:
    """The readable folders of one kind other than training (e.g. ``LR_RANGE_TEST``), newest first; never raises.

    Only folders with a job.json are read (one stat for each of the others), so looking for a class's range tests
    costs little beside a class's training runs.
    """
    found = []
    for path in _entries(root):
        try:
            if path.is_symlink() or not (path / JOB_FILE).is_file():
                continue
            run = _read(path)
        except Exception:  # noqa: BLE001, S112 — damaged: list_damaged says why, this list leaves it out
            continue
        if run.kind == kind:
            found.append(run)
    return found


def list_damaged(root: str | os.PathLike | None = None) -> list[DamagedRun]:
    """The run folders that cannot be read, each with the reason (and its owner when owner.json says)."""
    return scan(root)[1]


def accuracy(run: RunRecord) -> float | None:
    """The run's test accuracy (else its best validation accuracy) when it is a finite number."""
    summary = run.summary or {}
    for key in ("test_acc", "best_val_acc"):
        value = summary.get(key)
        if _is_number(value) and math.isfinite(value):
            return float(value)
    return None


def default_run(records: list[RunRecord], owner: str | None = None) -> RunRecord | None:
    """The run a page opens when the URL names none.

    This person's finished run with the best accuracy (the newest on a tie), else anyone's; a run
    that diverged (no finite accuracy), is still training or has no checkpoint only when nothing
    better exists. Example: ``default_run(list_runs(), identity.current_person())``.
    """
    done = [r for r in records if r.state not in ACTIVE_STATUSES + ("testing",) and r.checkpoint("best")]
    good = [r for r in done if r.state == "finished" and accuracy(r) is not None]
    any_checkpoint = [r for r in records if r.checkpoint("last")]
    for pool in ([r for r in good if owner and r.owner == owner], good,
                 [r for r in done if owner and r.owner == owner], done, any_checkpoint, records):
        if pool:
            return max(pool, key=lambda r: (accuracy(r) if accuracy(r) is not None else -1.0, r.run_id))
    return None


def delete_run(run_id: str, root: str | os.PathLike | None = None, *, force: bool = False) -> None:
    """Delete the run folder (damaged ones too). Refuses a run that is alive unless ``force``.

    Only the entry named ``run_id`` inside the runs folder is removed: a link is unlinked, never followed.
    """
    base = runs_root(root)
    path = base / validate_run_id(run_id)
    if path.is_symlink():
        path.unlink()
        return
    if not path.is_dir() or path.resolve().parent != base:
        raise RunError(f"No run named {run_id!r}: it may have been deleted already.")
    if not force:
        try:
            state = _read(path).state
        except RunError:
            # Damaged: still refuse while its process beats (it may be about to finish writing).
            age = heartbeat_age(path)
            state = "running" if age is not None and age < HEARTBEAT_TIMEOUT_S else "damaged"
        if state in ACTIVE_STATUSES:
            raise RunError(f"Run {run_id} is still {state}; stop it before deleting it.")
    shutil.rmtree(path)  # rmtree removes links inside the folder without following them


# Reading metrics.csv costs the same whatever the file holds. A 200-epoch run logs about 20,000 rows (~1.5 MB);
# a bigger file (a very long run, or one filled on purpose) is read from its end: its header and its last
# MAX_METRICS_BYTES. Then at most MAX_METRICS_ROWS rows are kept: every epoch, validation and test row, and every
# k-th step row (a 200 MB file took 37–62 s and 2–4 GB to read whole).
MAX_METRICS_BYTES = 4 * 2**20
MAX_METRICS_ROWS = 50_000
_STEP_COLUMNS = ("step", "epoch", "train_loss_step", "train_acc_step")  # what every step row holds


def _metrics_text(path: Path) -> bytes:
    """The header line and the whole lines of the last MAX_METRICS_BYTES of the file."""
    with path.open("rb") as file:
        header = file.readline(64 * 1024)
        size = file.seek(0, os.SEEK_END)
        start = max(len(header), size - MAX_METRICS_BYTES)
        file.seek(start)
        body = file.read(MAX_METRICS_BYTES)
    if start > len(header):  # the read began inside a line: drop that part line
        cut = body.find(b"\n")
        body = body[cut + 1:] if cut >= 0 else b""
    return header + body


def _thin(df, cap: int):
    """At most ``cap`` rows: every row that holds more than a step's numbers, every k-th step row, the last row."""
    import numpy as np

    if len(df) <= cap:
        return df
    other = [c for c in df.columns if c not in _STEP_COLUMNS]
    keep = np.array(df[other].notna().any(axis=1), dtype=bool) if other else np.zeros(len(df), bool)
    stride = -(-len(df) // max(cap - int(keep.sum()), cap // 2))
    keep |= np.arange(len(df)) % stride == 0
    keep[-1] = True
    index = np.flatnonzero(keep)
    if len(index) > cap:  # a file of nothing but epoch rows: a plain stride, still ending with the last row
        index = np.unique(np.append(index[:: -(-len(index) // (cap - 1))], len(df) - 1))
    return df.iloc[index]


def read_metrics(run: RunRecord):
    """The Lightning CSV log as a pandas DataFrame of numbers (empty when nothing was written yet).

    Every cell that is not a number (a damaged or hand-edited file) reads as NaN; rows without a step go.
    Bounded whatever the file's size: a file over MAX_METRICS_BYTES is read from its end, and at most
    MAX_METRICS_ROWS rows come back (every epoch row, every k-th step row and the last row).
    """
    import io

    import pandas as pd

    path = run.path / "metrics.csv"
    if not path.is_file() or path.is_symlink():
        return pd.DataFrame()
    try:
        df = pd.read_csv(io.BytesIO(_metrics_text(path)))
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return pd.DataFrame()
    for column in df.columns:  # a damaged cell made its column text (or True/False): it reads as NaN
        if not pd.api.types.is_numeric_dtype(df[column]) or pd.api.types.is_bool_dtype(df[column]):
            df[column] = pd.to_numeric(df[column].astype(str), errors="coerce")
    if "step" in df.columns:
        df = df[df["step"].between(0, 1e12)].reset_index(drop=True)  # NaN and inf are outside too
    return _thin(df, MAX_METRICS_ROWS).reset_index(drop=True)


def metrics_history(run: RunRecord) -> dict[str, Any]:
    """A finished run's curves from metrics.csv, in the same shape as ``LiveState.snapshot()``."""
    df = read_metrics(run)
    steps, epochs = [], []
    if "step" not in df.columns:
        df = df.iloc[0:0, 0:0]  # no step column: nothing to draw
    if "epoch" in df.columns:
        df = df[df["epoch"].isna() | df["epoch"].between(0, 1e9)]
    if "train_loss_step" in df.columns:
        rows = df.dropna(subset=["train_loss_step"])
        steps = [(int(s), float(v), float("nan")) for s, v in zip(rows["step"], rows["train_loss_step"])]
    if "epoch" in df.columns:
        for epoch, group in df.groupby("epoch"):
            record: dict[str, Any] = {"epoch": int(epoch) + 1}
            for key in ("train_loss_epoch", "train_acc", "val_loss", "val_acc", "lr"):
                if key in group.columns and group[key].notna().any():
                    record["train_loss" if key == "train_loss_epoch" else key] = float(group[key].dropna().iloc[-1])
            if len(record) > 1:
                epochs.append(record)
    steps_per_epoch = 0
    if steps and epochs and "train_loss_epoch" in df.columns:
        ends = df.dropna(subset=["train_loss_epoch"])["step"]
        steps_per_epoch = int(ends.iloc[0]) + 1 if len(ends) else 0
    return {"steps": steps, "epochs": epochs, "steps_per_epoch": steps_per_epoch,
            "status": run.state, "message": run.status.get("message", "")}


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Model weights from a Lightning checkpoint or a plain state_dict file, never unpickling objects.

    ``weights_only=True`` refuses anything but tensors and plain containers, so a tampered file
    cannot run code; every failure becomes a RunError with a plain sentence.
    """
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunError(f"Checkpoint {path} does not exist.") from None
    except Exception as exc:  # noqa: BLE001 — untrusted files fail in many ways: pickle, zip, truncation, globals
        raise RunError(
            f"{Path(path).name} is not a checkpoint we can read safely ({type(exc).__name__}). "
            "It may be corrupt, truncated, or not made by this tool."
        ) from None
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise RunError(f"{Path(path).name} holds no model weights (expected a state_dict of tensors).")
    # Lightning prefixes the wrapped network's keys with "model.".
    if data and all(k.startswith("model.") for k in data):
        data = {k[len("model."):]: v for k, v in data.items()}
    return data


def build_model(run: RunRecord) -> torch.nn.Module:
    """The run's architecture, untrained, built for the data it trained on."""
    from vision_core.models import zoo as models

    info = run.data_info
    if info is None:
        raise RunError(f"Run {run.run_id} has no readable dataset.json (it has not started training, or it is damaged).")
    try:
        return models.build(
            run.config.model,
            in_channels=info["channels"],
            num_classes=len(info["classes"]),
            image_size=tuple(info["image_size"]),
            **run.config.model_options,
        )
    except (ValueError, TypeError) as exc:  # a config edited by hand: unknown model or bad options
        raise RunError(f"Run {run.run_id} cannot rebuild its model: {exc}") from None


def load_weights_into(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """load_state_dict with a message a student can act on when the architecture does not match."""
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1:3]
        raise RunError(
            f"The weights in {source} do not fit this architecture ({'; '.join(s.strip() for s in first)}). "
            "Pick the run that made them, or a checkpoint of the same model."
        ) from None


def load_model(run_id: str | RunRecord, which: str = "best", root: str | os.PathLike | None = None):
    """The trained network of a run, on the CPU in eval mode.

    Example: ``model = load_model("20261122-112233-lenet-digits-3fa1")``.
    """
    run = run_id if isinstance(run_id, RunRecord) else load_run(run_id, root)
    path = run.checkpoint(which)
    if path is None:
        raise RunError(f"Run {run.run_id} has no checkpoint yet: it saves one at the end of each epoch.")
    model = build_model(run)
    load_weights_into(model, load_state_dict(path), path.name)
    return model.eval()


def checkpoint_epochs_done(path: str | os.PathLike) -> int | None:
    """How many epochs a checkpoint's run had ended when it was saved (where a continued run starts); None when
    the file does not say (memory-mapped: the weights are not read)."""
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 — an unreadable checkpoint: continuing it will say so
        return None
    done = data.get("epochs_done") if isinstance(data, dict) else None
    return done if isinstance(done, int) and not isinstance(done, bool) and done >= 0 else None


def initial_model(run_id: str | RunRecord, root: str | os.PathLike | None = None):
    """The run's network as it was before its first step, on the CPU in eval mode: rebuilt from the run's seed
    exactly as the engine built it (``engine.prepare`` seeds, then builds), so no weights need to be saved.

    A model that starts from the data (airbench's whitening convolution) lacks that part. Example:
    ``initial_model(run).conv1.weight`` equals the run's first snapshot of the filters.
    """
    import torch

    run = run_id if isinstance(run_id, RunRecord) else load_run(run_id, root)
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
        torch.manual_seed(run.config.seed)
        model = build_model(run)
    return model.eval()


def checkpoint_epoch(path: str | os.PathLike) -> int | None:
    """The epoch a checkpoint was saved at (to say which epoch a page shows)."""
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 — an unreadable checkpoint simply has no known epoch
        return None
    epoch = data.get("epoch") if isinstance(data, dict) else None
    # Pages write it into a sentence: only a plain non-negative integer is trusted from the file.
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 0 else None
