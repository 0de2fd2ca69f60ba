"""Wrong teacher passwords, counted by the server: per browser and for the whole class, with a growing wait.

A count kept in the browser's session is gone after a reload, so a student could guess forever five at a time.
Here the server keeps it (one ``PasswordTries`` per file, shared by every session of the process), optionally in
a small JSON file in the runs folder so a server restart does not forget it either. Nobody waits by sleeping: a
try during a wait is refused with the time left, and the right password waits like a wrong one (a right answer
accepted mid-wait would tell the guesser it was right).

The rules (the defaults): a browser's first ``free_tries`` (5) wrong passwords cost nothing; from then on each
wrong one locks that browser for ``first_wait_s`` (30 s), doubling per further wrong try, at most ``max_wait_s``
(1 h). A student who clears cookies is a new browser, so the class as a whole has a budget too: after
``class_free_tries`` (20) wrong passwords within ``window_s`` (1 h), every browser waits the same growing time
after each further one. A right password clears its browser's count (not the class's: the teacher should still
see that someone was guessing).

Example::

    tries = PasswordTries()
    tries.wait_s("browser-a")          # 0.0: may try
    tries.failed("browser-a")          # after the 5th: 30.0
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = ".teacher-password-tries.json"  # a dot: never a run id, so the run listing ignores it
_MAX_BROWSERS = 10_000  # browsers remembered; a flood of fresh cookies forgets the oldest, the class count stays
_MAX_CLASS_TRIES = 10_000  # class-wide tries remembered: far past the point where every wait is the longest
_MAX_FILE_BYTES = 2_000_000


@dataclass(frozen=True)
class Recent:
    """What the teacher sees: wrong passwords in the last window, from how many browsers, the last one when."""

    count: int
    browsers: int
    last: float | None  # time.time() of the latest wrong try, None when there was none


def _wait(failures: int, free: int, first_wait_s: float, max_wait_s: float) -> float:
    """The wait after ``failures`` wrong tries: 0 up to ``free - 1``, then first_wait_s, doubling, capped."""
    if failures < free:
        return 0.0
    return min(first_wait_s * 2.0 ** min(failures - free, 30), max_wait_s)


class PasswordTries:
    """Thread-safe counts of wrong teacher passwords (per browser key and class-wide); see the module docstring."""

    def __init__(self, path: str | os.PathLike | None = None, *, free_tries: int = 5, first_wait_s: float = 30.0,
                 max_wait_s: float = 3600.0, class_free_tries: int = 20, window_s: float = 3600.0,
                 clock: Callable[[], float] | None = None) -> None:
        for name, value in (("free_tries", free_tries), ("class_free_tries", class_free_tries)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number ≥ 1, got {value!r}")
        if not 0 < first_wait_s <= max_wait_s:
            raise ValueError(f"first_wait_s must be > 0 and ≤ max_wait_s ({max_wait_s}), got {first_wait_s}")
        self.path = Path(path) if path is not None else None
        self.free_tries, self.first_wait_s, self.max_wait_s = free_tries, first_wait_s, max_wait_s
        self.class_free_tries, self.window_s = class_free_tries, window_s
        self.clock = clock or time.time  # a test may set its own
        self._lock = threading.Lock()
        self._browsers: dict[str, list[float]] = {}  # key → [wrong tries in a row, time of the last one]
        self._class: list[tuple[float, str]] = []  # (time, key) of the wrong tries in the window, oldest first
        self._loaded_mtime: float | None = None

    # ------------------------------------------------------------------------------------------ asking

    def wait_s(self, key: str) -> float:
        """Seconds before browser ``key`` may try a password again (0.0: now)."""
        with self._lock:
            self._sync()
            now = self.clock()
            return max(self._until(key, now) - now, 0.0)

    def recent(self) -> Recent:
        """The wrong tries of the last ``window_s`` seconds, for the teacher's eyes."""
        with self._lock:
            self._sync()
            self._forget_old(self.clock())
            return Recent(len(self._class), len({key for _, key in self._class}),
                          self._class[-1][0] if self._class else None)

    # ------------------------------------------------------------------------------------------ telling

    def failed(self, key: str) -> float:
        """Count a wrong password from browser ``key``; returns the wait it now faces."""
        with self._lock, self._file_lock():
            self._sync(force=True)
            now = self.clock()
            count = self._count(key, now) + 1
            self._browsers.pop(key, None)
            self._browsers[key] = [count, now]  # re-inserted: the dict stays oldest-first
            while len(self._browsers) > _MAX_BROWSERS:
                del self._browsers[next(iter(self._browsers))]
            self._class.append((now, key))
            del self._class[:-_MAX_CLASS_TRIES]
            self._forget_old(now)
            self._save()
            return max(self._until(key, now) - now, 0.0)

    def succeeded(self, key: str) -> None:
        """The right password from ``key``: its own count starts again (the class's record stays)."""
        with self._lock, self._file_lock():
            self._sync(force=True)
            if self._browsers.pop(key, None) is not None:
                self._save()

    # ------------------------------------------------------------------------------------------ inside

    def _count(self, key: str, now: float) -> int:
        """Wrong tries in a row from ``key``; a browser quiet for a whole window starts again from 0."""
        count, last = self._browsers.get(key, [0, 0.0])
        return int(count) if now - last <= self.window_s else 0

    def _until(self, key: str, now: float) -> float:
        """When ``key`` may try again: the later of its own wait and the class's."""
        last = self._browsers.get(key, [0, 0.0])[1]
        own = last + _wait(self._count(key, now), self.free_tries, self.first_wait_s, self.max_wait_s)
        return max(own, self._class_until(now))

    def _class_until(self, now: float) -> float:
        self._forget_old(now)
        if not self._class:
            return 0.0
        return self._class[-1][0] + _wait(len(self._class), self.class_free_tries, self.first_wait_s,
                                          self.max_wait_s)

    def _forget_old(self, now: float) -> None:
        start = now - self.window_s
        while self._class and self._class[0][0] < start:
            self._class.pop(0)

    # The file: read again when another process (a second server on the same runs folder) changed it;
    # written whole and renamed into place, so a reader never sees half of it.
    def _sync(self, force: bool = False) -> None:
        if self.path is None:
            return
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            return
        if not force and mtime == self._loaded_mtime:
            return
        self._loaded_mtime = mtime
        try:
            if self.path.is_symlink() or self.path.stat().st_size > _MAX_FILE_BYTES:
                return
            data = json.loads(self.path.read_text())
            browsers = {str(k): [int(v[0]), float(v[1])] for k, v in data["browsers"].items()}
            tries = sorted((float(t), str(k)) for t, k in data["class"])
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            return  # a damaged file: keep what this process counted
        self._browsers, self._class = browsers, tries

    def _save(self) -> None:
        if self.path is None:
            return
        now = self.clock()
        browsers = {k: v for k, v in self._browsers.items() if now - v[1] <= max(self.window_s, self.max_wait_s)}
        data = {"browsers": browsers, "class": self._class}
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.unlink(missing_ok=True)
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self.path)
            self._loaded_mtime = self.path.stat().st_mtime
        except OSError:
            pass  # a read-only runs folder: the counts still hold in this process

    def _file_lock(self):
        """An exclusive lock on ``<file>.lock`` while counting, for servers sharing the runs folder."""
        return _FileLock(self.path.with_name(self.path.name + ".lock") if self.path is not None else None)


class _FileLock:
    def __init__(self, path: Path | None) -> None:
        self.path, self._fd = path, None

    def __enter__(self) -> None:
        if self.path is None:
            return
        try:
            import fcntl

            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except (OSError, ImportError):
            self._fd = None  # no locking here (Windows, read-only folder): one process still counts right

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


_shared: dict[Path, PasswordTries] = {}
_shared_lock = threading.Lock()


def shared(folder: str | os.PathLike) -> PasswordTries:
    """The one ``PasswordTries`` of this process for ``folder`` (the runs folder): every session uses it."""
    path = (Path(folder) / FILE_NAME).resolve()
    with _shared_lock:
        if path not in _shared:
            _shared[path] = PasswordTries(path)
        return _shared[path]
