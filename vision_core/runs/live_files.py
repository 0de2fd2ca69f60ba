"""The page side of a live run: read ``live.json``, write ``control.json``. Imports no torch.

Every page's sidebar strip and the Train page's live panel run in the server process and only read and write
these two files of a run folder; the training side (``LiveState``, ``FileControl``, ``LiveCallback``) is in
vision_core/training/live.py, which needs torch and Lightning. Keeping this part apart lets a cold server draw its
Home page without importing them (issue 9.3); live.py re-exports everything here.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

LIVE_FILE = "live.json"
CONTROL_FILE = "control.json"

MAX_LR = 10.0


def check_lr(lr) -> float:
    """A learning rate a student may set while a run trains: a number in (0, 10]."""
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or not 0 < lr <= MAX_LR:
        raise ValueError(f"The learning rate must be a number above 0 and at most {MAX_LR:g}, got {lr!r}.")
    return float(lr)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    # Write then rename: a reader in another process never sees half a file. The temporary name is this thread's
    # own (a worker's publisher thread and its main thread both write live.json).
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(tmp, path)


def read_json_object(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class RemoteControl:
    """The page's side of ``FileControl``: pause, resume, step and stop a run in another process."""

    _lock = threading.Lock()  # one server process writes control files; its sessions take turns

    def __init__(self, run_path: Path) -> None:
        self.path = Path(run_path) / CONTROL_FILE

    def read(self) -> dict[str, Any]:
        data = read_json_object(self.path) or {}
        grants = data.get("step_grants", 0)
        return {"paused": data.get("paused") is True, "stop": data.get("stop") is True,
                "step_grants": grants if isinstance(grants, int) and grants >= 0 else 0}

    def _change(self, **changes: Any) -> None:
        """Merge ``changes`` into the file: every key it held is kept (a resume must not drop a learning rate
        set while paused), the flags are rewritten in their checked form."""
        with self._lock:
            data = {**(read_json_object(self.path) or {}), **self.read()}
            if "step_grants" in changes:
                changes["step_grants"] = data["step_grants"] + changes["step_grants"]
            write_json_atomic(self.path, {**data, **changes, "updated": time.time()})

    @property
    def paused(self) -> bool:
        return self.read()["paused"]

    @property
    def stop_requested(self) -> bool:
        return self.read()["stop"]

    def pause(self) -> None:
        self._change(paused=True)

    def resume(self) -> None:
        self._change(paused=False)

    def step(self, n: int = 1) -> None:
        self._change(paused=True, step_grants=n)

    def stop(self) -> None:
        self._change(stop=True)

    def rearm(self) -> None:
        """Ready the file for a run that continues: no stop, no pause, no step grants (a new worker counts them
        from 0); a learning rate set by hand is kept, it is the one the run was using."""
        with self._lock:
            data = read_json_object(self.path) or {}
            write_json_atomic(self.path, {**data, "paused": False, "stop": False, "step_grants": 0,
                                          "updated": time.time()})

    def set_lr(self, lr: float) -> None:
        """Change the learning rate of a run while it trains (applied before its next batch, or at the resume
        or step that ends a pause)."""
        self._change(lr=check_lr(lr))

    @property
    def requested_lr(self) -> float | None:
        value = (read_json_object(self.path) or {}).get("lr")
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


_live_cache: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}
_live_cache_lock = threading.Lock()


def read_live(run_path: Path) -> dict[str, Any] | None:
    """The latest published LiveState snapshot of a run (None before the worker wrote one).

    Parsed once per change and shared by every page that asks (thirty viewers, one parse).
    """
    path = Path(run_path) / LIVE_FILE
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (stat.st_mtime_ns, stat.st_size)
    with _live_cache_lock:
        cached = _live_cache.get(path)
        if cached and cached[0] == key:
            return cached[1]
    data = read_json_object(path)
    if data is None or not isinstance(data.get("version"), int):
        return None
    with _live_cache_lock:
        if len(_live_cache) > 256:
            _live_cache.clear()
        _live_cache[path] = (key, data)
    return data
