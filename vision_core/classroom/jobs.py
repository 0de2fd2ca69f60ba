"""The classroom's job queue: training runs in worker processes, started by one scheduler thread.

A page submits a run: its folder is written at once with status ``queued`` (so a refresh, another
tab or a restarted server finds it). The scheduler thread of the server process looks at the run
folders twice a second, starts a worker process (vision_core/classroom/worker.py) for the next queued run
when its device has room, reaps workers that died and says why in their run folder. Workers run in
their own session: they outlive a server restart, and the next server's scheduler counts them by
their heartbeat. Pages never touch a worker: they read ``live.json`` and write ``control.json``
(vision_core/training/live.py), and they read the queue from the scheduler's last look (``Scheduler.view``),
so thirty viewers cost one scan.

One scheduler leads per runs folder: the one holding an OS lock (``fcntl.flock``) on the folder's
``.scheduler.lock`` for its process's lifetime. Only the leader starts workers and reaps them; the others
(a second dashboard on the same folder, several server processes behind a proxy) only read the queue, and
one of them takes over when the leader's process ends, since the OS drops its lock then. Starting a run is
also claimed per run (``runs.claim_training``, an O_EXCL file): a run the command line trains is claimed
by it from the start, so no scheduler ever starts a worker for it, and even two leaders could not start
one run twice. Submitting is atomic per runs folder (a thread lock and an OS lock around count + create).

Room on a device: on the CPU a number of concurrent jobs (``VISION_CORE_MAX_JOBS_CPU``, default one
per two cores); on a GPU, jobs fit side by side while their memory estimates add up to at most the
teacher's share of the GPU memory, and at most ``VISION_CORE_MAX_JOBS_GPU`` (default 8) of them. The
queue is fair: people take turns (round robin by owner, FIFO within one person), each person has
at most ``max_jobs_per_person`` runs queued or training, and the whole class at most ``max_queued_runs``
runs waiting.

A paused run gives its compute slot back: it is not counted against the CPU or GPU job slots, so the next queued
run starts, but its memory estimate still counts against the teacher's GPU share (it keeps its memory). When it
resumes while every slot is taken, it resumes at once rather than waiting: it already holds its memory, a class
pauses to look at filters or to step one batch and expects Resume to answer, and the scheduler starts no new run
until the count is back under the slots. A pause longer than the teacher's ``max_pause_minutes`` stops the run
with a checkpoint (the worker does it, vision_core/training/live.py); its owner can continue it later
(``Scheduler.continue_run``: same run id, same folder, the curves and metrics.csv go on).

This module imports no torch at import time: the sidebar's queue strip on every page uses it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vision_core.runs import store as runs
from vision_core.runs.live_files import RemoteControl
from vision_core.runs.live_summary import read_live_summary

TICK_SECONDS = 0.5
DEFAULT_EPOCH_SECONDS = 15.0  # wait estimate for a model/dataset nobody has trained here yet
RUNNING = ("starting", "running", "paused")
# Statuses of a run that may be continued from its last checkpoint (a stop by hand or by the pause limit, or a
# worker that died): it goes back into the queue under the same id.
CONTINUABLE = ("stopped", "interrupted")
LEADER_LOCK = ".scheduler.lock"  # held (flock) by the one scheduler that starts workers for this runs folder
SUBMIT_LOCK = ".submit.lock"  # held (flock) while a submission counts the queue and makes its run folder


class QueueError(ValueError):
    """A submission the queue refuses (per-person cap, bad config); the message is for the student."""


def _int_env(name: str, default: int) -> int:
    try:
        return max(int(os.environ.get(name, default)), 1)
    except ValueError:
        return default


def _warm_workers() -> int:
    """How many warm workers a server keeps waiting (``VISION_CORE_WARM_WORKERS``, default 1; 0 turns it off)."""
    value = os.environ.get("VISION_CORE_WARM_WORKERS", "1")
    return min(int(value), 8) if value.isdigit() else 1


def _limits():
    """The teacher's classroom limits (vision_core.limits), or defaults when it is not there."""
    try:
        from vision_core import limits
    except ImportError:
        return None
    return limits.load_limits()


def _limit(name: str, default):
    limits = _limits()
    return getattr(limits, name, default) if limits is not None else default


@dataclass
class Entry:
    """What the scheduler knows about one active run (queued, starting, running or paused)."""

    run_id: str
    status: str
    owner: str | None
    device: str
    submitted: float
    estimate_mb: float
    epochs: int
    model: str
    dataset: str
    batch_size: int
    gpu: int = 0  # which GPU (CUDA index) it was started on
    position: int | None = None  # 1 = next to start
    wait_s: float | None = None  # estimated seconds until it starts
    progress: float = 0.0
    epoch: int = 0
    val_acc: float | None = None


@dataclass
class QueueView:
    """The scheduler's last look, shared by every page: active runs in display order."""

    entries: list[Entry] = field(default_factory=list)
    updated: float = 0.0

    def get(self, run_id: str) -> Entry | None:
        return next((e for e in self.entries if e.run_id == run_id), None)

    def owned_by(self, owner: str | None) -> list[Entry]:
        return [e for e in self.entries if owner is not None and e.owner == owner]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _word(value) -> str:
    """A name from a run folder, safe to show anywhere (pages render these in markdown)."""
    text = "".join(ch for ch in str(value or "") if ch.isalnum() or ch in "_-")[:40]
    return text or "?"


def _number(value, default: float = 0.0) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _fork_server_wanted() -> bool:
    """Workers are forked from one process that imported everything (``VISION_CORE_FORK_SERVER``, default 1 where
    the OS can fork; 0: every run starts a fresh Python, or takes a warm one)."""
    return hasattr(os, "fork") and os.environ.get("VISION_CORE_FORK_SERVER", "1") != "0"


class ForkServer:
    """The server's side of ``python -m vision_core.classroom.worker --fork-server``: one process per server
    process that imported torch, Lightning and the engine once and forks a worker per run (a run's first batch
    follows in well under a second, and thirty runs cost one import, not thirty). Shared by every scheduler of the
    process (``shared()``). A thread reads what it reports: the pid of each worker, its exit code."""

    _shared: ForkServer | None = None
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vision_core.classroom.worker", "--fork-server"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True, cwd=os.getcwd(),
        )
        self._lock = threading.Lock()
        self.pids: dict[str, int] = {}
        self.exits: dict[str, int] = {}
        self.refused: set[str] = set()
        self._sent: set[str] = set()
        self.started = time.time()
        threading.Thread(target=self._read, name="fork-server", daemon=True).start()

    @classmethod
    def shared(cls) -> ForkServer:
        """The process's fork server. One that died is started again at most once a minute: a fork server that
        cannot import (a broken install) must not cost ~10 s of CPU every tick; meanwhile runs start cold."""
        with cls._shared_lock:
            if cls._shared is None or (not cls._shared.alive() and time.time() - cls._shared.started > 60):
                cls._shared = cls()
            return cls._shared

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, run_id: str, assignment: dict) -> bool:
        """Hand a run over (it is forked once the imports are done); False when the fork server is gone."""
        try:
            with self._lock:
                self.process.stdin.write((json.dumps(assignment) + "\n").encode())
                self.process.stdin.flush()
                self._sent.add(run_id)
            return True
        except (OSError, ValueError):
            return False

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                event = json.loads(line)
                run_id = str(event["run_id"])
            except (ValueError, KeyError, TypeError):
                continue
            with self._lock:
                if "pid" in event:
                    self.pids[run_id] = int(event["pid"])
                elif "exit" in event:
                    self.exits[run_id] = int(event["exit"])
                elif "refused" in event:
                    self.refused.add(run_id)
        with self._lock:  # it ended: a run handed over but never forked will not start
            for run_id in self._sent - set(self.pids) - set(self.exits) - self.refused:
                self.exits[run_id] = 1

    def take_exit(self, run_id: str) -> int | None:
        with self._lock:
            return self.exits.pop(run_id, None)

    def take_refused(self, run_id: str) -> bool:
        with self._lock:
            if run_id in self.refused:
                self.refused.discard(run_id)
                return True
            return False


class LocalLauncher:
    """Starts a worker as a local process in its own session (it survives the server).

    By default a worker is forked from the shared ``ForkServer`` (``fork=False`` or ``VISION_CORE_FORK_SERVER=0``:
    not). Without it, ``warm`` > 0 keeps that many worker processes waiting that have already imported torch,
    Lightning and the engine (``python -m vision_core.classroom.worker --warm``); a run finds a cold process only
    when no warm one is ready.
    """

    def __init__(self, warm: int = 0, fork: bool | None = None) -> None:
        self.processes: dict[str, subprocess.Popen] = {}
        self.forked: dict[str, tuple[ForkServer, dict]] = {}  # run id -> (the fork server that has it, assignment)
        self.fork = _fork_server_wanted() if fork is None else fork
        self.warm_size = 0 if self.fork else warm
        self._warm: list[subprocess.Popen] = []

    def launch(self, run_id: str, root: Path, env: dict[str, str], memory_mb: int | None) -> None:
        assignment = {"run_id": run_id, "runs_dir": str(root), "memory_mb": int(memory_mb) if memory_mb else None,
                      "env": env}
        if self.fork:
            # The whole environment, as a fresh process started now would get it (a test or the teacher may have
            # changed a setting since the fork server started).
            full = {**assignment, "env": {**os.environ, **env}, "cwd": os.getcwd()}
            server = ForkServer.shared()
            if server.send(run_id, full):
                self.forked[run_id] = (server, assignment)
                return
        process = self._take_warm()
        if process is not None:
            try:
                process.stdin.write((json.dumps(assignment) + "\n").encode())
                process.stdin.close()  # one run per process, as for a cold one
                self.processes[run_id] = process
                return
            except OSError:  # it died between the check and the write: start a cold one
                process.kill()
        self._start_cold(run_id, root, env, memory_mb)

    def _start_cold(self, run_id: str, root: Path, env: dict[str, str], memory_mb: int | None) -> None:
        log = open(root / run_id / "worker.log", "ab")  # noqa: SIM115 — the child keeps its own descriptor
        command = [sys.executable, "-m", "vision_core.classroom.worker", run_id, "--runs-dir", str(root)]
        if memory_mb:
            command += ["--memory-mb", str(int(memory_mb))]
        with log:
            self.processes[run_id] = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **env}, start_new_session=True, cwd=os.getcwd(),
            )

    def keep_warm(self) -> None:
        """Have the fork server start (its imports then never compete with a run's own start), or start warm
        workers until ``warm`` of them wait (the scheduler calls it when no run is starting)."""
        if self.fork:
            ForkServer.shared()
            return
        self._warm = [p for p in self._warm if p.poll() is None]
        while len(self._warm) < self.warm_size:
            # Its output goes to the run's worker.log once it has one; until then there is nothing to say.
            self._warm.append(subprocess.Popen(
                [sys.executable, "-m", "vision_core.classroom.worker", "--warm"], stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd=os.getcwd(),
            ))

    def _take_warm(self) -> subprocess.Popen | None:
        while self._warm:
            process = self._warm.pop(0)
            if process.poll() is None:
                return process
        return None

    def finished(self) -> dict[str, int]:
        """Workers of ours that ended since the last call: run id → exit code (reaped, no zombies)."""
        done = {}
        for run_id, process in list(self.processes.items()):
            code = process.poll()
            if code is not None:
                done[run_id] = code
                del self.processes[run_id]
        for run_id, (server, assignment) in list(self.forked.items()):
            if server.take_refused(run_id):  # it could not fork this one: a fresh process instead
                del self.forked[run_id]
                self._start_cold(run_id, Path(assignment["runs_dir"]), assignment["env"],
                                 assignment["memory_mb"])
            elif (code := server.take_exit(run_id)) is not None:
                done[run_id] = code
                del self.forked[run_id]
        return done


def oom_kills() -> int | None:
    """Processes the kernel's OOM killer has killed so far: in this process's memory cgroup (which its workers
    share), else on the whole machine; None where the kernel does not say (not Linux)."""
    counters = []  # (file, line prefix), most precise first
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, group = line.split(":", 2)
            if controllers == "":  # cgroup v2: memory.events counts kills of this cgroup's processes, any cause
                counters.append((Path("/sys/fs/cgroup", group.lstrip("/"), "memory.events"), "oom_kill "))
            elif "memory" in controllers.split(","):  # cgroup v1
                counters.append((Path("/sys/fs/cgroup/memory", group.lstrip("/"), "memory.oom_control"), "oom_kill "))
    for file, prefix in [*counters, (Path("/proc/vmstat"), "oom_kill ")]:
        with contextlib.suppress(OSError, ValueError, IndexError, StopIteration):
            return int(next(row.split()[1] for row in file.read_text().splitlines() if row.startswith(prefix)))
    return None


def _signal_of(code: int) -> int | None:
    """The signal that ended a process: Popen says -N; a shell or a cluster says 128 + N."""
    number = -code if code < 0 else code - 128 if 128 < code <= 128 + 64 else None
    return number if number in signal.valid_signals() else None


def death_message(code: int, batch_size: int, out_of_memory: bool = False) -> str:
    """Why a worker process ended without writing its own reason.

    Memory is blamed only on evidence: ``out_of_memory`` (the kernel's OOM killer killed a process while this
    worker ran, ``oom_kills``). A SIGKILL alone may as well be someone's ``kill -9``; a worker that hits its
    own heap cap writes "ran out of memory" itself (worker.py).
    """
    number = _signal_of(code)
    if out_of_memory and number == signal.SIGKILL:
        return (f"The training process was killed by the system because the machine ran out of memory at batch "
                f"size {batch_size}. Try batch size {max(batch_size // 4, 1)} or a smaller model; nothing else on "
                "the server was affected.")
    if number is not None:
        return (f"The training process was stopped by a signal ({signal.Signals(number).name}); "
                "what it saved is kept.")
    return f"The training process ended unexpectedly (exit code {code}); what it saved is kept."


class Scheduler:
    """One per server process (``manager()``): submits runs and starts their workers in turn."""

    def __init__(self, root=None, launcher=None, cpu_slots: int | None = None, gpu_slots: int | None = None,
                 tick: float = TICK_SECONDS) -> None:
        self.root = runs.runs_root(root)
        self.launcher = launcher or LocalLauncher()
        self.cpu_slots = cpu_slots or _int_env("VISION_CORE_MAX_JOBS_CPU", max((os.cpu_count() or 2) // 2, 1))
        self.gpu_slots = gpu_slots or _int_env("VISION_CORE_MAX_JOBS_GPU", 8)
        self.tick_seconds = tick
        self.view = QueueView()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._cache: dict[str, tuple[tuple, dict]] = {}  # run id → (status.json inode + mtime, parsed facts)
        self._durations: dict[tuple[str, str, str], float] = {}  # (model, dataset, device) → s/epoch
        self._gpus: list[float] | None = None  # memory (MB) of each GPU, read once in the thread
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._leader_fd: int | None = None  # the flocked .scheduler.lock while this scheduler leads
        self._oom_at_launch: dict[str, int | None] = {}  # run id → oom_kills() when its worker started

    # ---- pages call these ------------------------------------------------------------------
    def start(self) -> Scheduler:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="job-scheduler", daemon=True)
                self._thread.start()
        return self

    def close(self) -> None:
        """Stop the scheduler thread and give up leading (another scheduler on this folder takes over)."""
        self._closed.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        with self._lock:
            if self._leader_fd is not None:
                os.close(self._leader_fd)  # closing the descriptor drops the flock
                self._leader_fd = None

    @property
    def leading(self) -> bool:
        """Whether this scheduler starts the workers of its runs folder (see the module's docstring)."""
        return self._leader_fd is not None

    def submit(self, config, owner: str | None = None, *, estimate_mb: float = 0.0, start_paused: bool = False,
               teacher: bool = False, job: dict | None = None) -> runs.RunRecord:
        """Queue a run; raises QueueError when this person already has their share of the queue, or the class's
        queue is full. Counting and creating happen under one lock, so eight clicks at once still make two runs.

        ``job`` queues another kind of job on the same terms (same caps, turns, slots and ownership), e.g. a
        learning-rate range test: ``submit(setup, owner, job=lr_finder.job(100))``."""
        resolve = getattr(self.launcher, "resolve_accelerator", None)  # Ray: the cluster's GPUs decide
        if resolve is None:
            from vision_core.training.engine import resolve_accelerator as resolve
        device = resolve(config.accelerator)
        if config.challenge:  # its rules again here: a crafted link or a stale form never queues a run that breaks them
            from vision_core.training import guards

            try:
                guards.gate(config, root=self.root)
            except (ValueError, TypeError, OSError) as exc:
                raise QueueError(str(exc)) from None
        with self._submitting():
            if not teacher:
                self._check_room_in_queue(owner)
            run = runs.create_run(config, self.root, owner=owner, job=job)
            if start_paused:
                RemoteControl(run.path).pause()
            runs.write_status(run, "queued", "", submitted=time.time(), kind=device, estimate_mb=float(estimate_mb))
        self.start()
        self._wake.set()
        return run

    def submit_range_test(self, config, num_batches: int, owner: str | None = None, *, teacher: bool = False
                          ) -> tuple[runs.RunRecord, bool]:
        """A learning-rate range test of ``config``'s set-up: ``(its folder, shared)``.

        The test is a pure function of the set-up (its seed included), so a class asking for one set-up shares one
        test: a finished one (whoever ran it) or one already queued or running is returned with ``shared`` True.
        Otherwise a new job is queued for ``owner`` like a run: the gate first (GuardError, a ValueError, for a
        set-up over the limits), then the same caps, turns and slots (QueueError). Example:
        ``test, shared = manager().submit_range_test(config, 100, identity.current_person())``.
        """
        from vision_core.runs import range_tests
        from vision_core.training import guards, lr_finder

        job = lr_finder.job(num_batches)
        setup = range_tests.tested_setup(config)
        found = range_tests.finished_result(setup, num_batches, self.root)
        if found is not None:
            return found[0], True
        active = next((run for run in runs.list_jobs(runs.LR_RANGE_TEST, self.root)
                       if run.state in runs.ACTIVE_STATUSES and range_tests.same_setup(run, setup, num_batches)), None)
        if active is not None:
            return active, active.owner != owner
        estimate = guards.gate(setup)  # refused here, before a folder is made, as the Start button is
        return self.submit(setup, owner, estimate_mb=estimate.total_bytes / 2**20, teacher=teacher, job=job), False

    def continue_run(self, run_id: str, owner: str | None = None, *, teacher: bool = False) -> runs.RunRecord:
        """Put a stopped run back in the queue, to train on from its last checkpoint under the same id (its curves
        and metrics.csv go on; epochs count on from where it stopped). Only its owner or the teacher may; it
        takes a place in the queue like a new run (per-person cap, people take turns).

        Raises QueueError with the reason: not theirs, not stopped, no checkpoint, no epochs left, queue share used.
        Example: ``manager().continue_run(run_id, identity.current_person())``.
        """
        try:
            run = runs.load_run(run_id, self.root)
        except runs.RunError as exc:
            raise QueueError(str(exc)) from None
        if not teacher and (owner is None or run.owner != owner):
            raise QueueError(f"Run {run.run_id} is not yours: only its owner or the teacher can continue it.")
        if run.kind != runs.TRAIN:
            raise QueueError(f"Run {run.run_id} is a learning-rate range test: run the test again instead.")
        if run.state not in CONTINUABLE:
            raise QueueError(f"Run {run.run_id} is {run.state}: only a stopped or interrupted run can be continued.")
        if run.checkpoint("last") is None:
            raise QueueError(f"Run {run.run_id} has no checkpoint to continue from; start a new run instead.")
        done = runs.checkpoint_epochs_done(run.checkpoint("last"))
        if done is not None and done >= run.config.epochs:
            raise QueueError(f"Run {run.run_id} already trained all its {run.config.epochs} epoch(s); start a new "
                             "run with more epochs instead.")
        with self._submitting():  # counted and queued atomically, as a new run is
            if not teacher:
                self._check_room_in_queue(run.owner)
            RemoteControl(run.path).rearm()  # its stop is done with; a rate set by hand stays
            runs.release_training_claim(run.path)  # the scheduler starts it this time, whoever trained it before
            where = f"epoch {done + 1}" if done is not None else "its last checkpoint"
            runs.write_status(run, "queued", f"Continues from {where}.", submitted=time.time(), resume="last",
                              diverged=False)
        self._cache.pop(run.run_id, None)
        self.start()
        self._wake.set()
        return run

    def _check_room_in_queue(self, owner: str | None) -> None:
        entries = self._scan()
        cap = int(_limit("max_jobs_per_person", 2))
        mine = [e for e in entries if owner is not None and e.owner == owner]
        if len(mine) >= cap:
            raise QueueError(f"You already have {len(mine)} run(s) queued or training (the limit is {cap} "
                             "per person, so everyone gets a turn). Stop one, or wait until one finishes.")
        class_cap = int(_limit("max_queued_runs", 60))
        waiting = sum(e.status == "queued" for e in entries)
        if waiting >= class_cap:
            raise QueueError(f"The class queue is full: {waiting} runs are waiting to start (this classroom's "
                             f"limit is {class_cap}). Try again in a few minutes, when some have started.")

    @contextlib.contextmanager
    def _submitting(self):
        """One submission at a time per runs folder: a thread lock in this process, an OS lock across processes."""
        with _submit_lock(self.root):
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / SUBMIT_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing the descriptor drops the flock

    def parallel_runs(self, accelerator: str = "auto") -> int | None:
        """How many runs asking for ``accelerator`` this server trains at the same time (the slots of the device
        they will get, shared by the whole class); None when a Ray cluster decides."""
        if getattr(self.launcher, "manages_capacity", False):
            return None
        gpus = self._gpu_memory() if accelerator != "cpu" else []
        return self.gpu_slots * len(gpus) if gpus else self.cpu_slots

    def control(self, run: runs.RunRecord) -> RemoteControl:
        return RemoteControl(run.path)

    def refresh(self) -> QueueView:
        """Look at the run folders now (tests; pages use ``view``)."""
        self._tick()
        return self.view

    # ---- the scheduler thread --------------------------------------------------------------
    def _loop(self) -> None:
        while not self._closed.is_set():
            try:
                self._tick()
            except Exception:  # noqa: BLE001, S110 — one bad tick (a folder deleted mid-read) must not end the queue
                pass
            self._wake.wait(self.tick_seconds)
            self._wake.clear()

    def _lead(self) -> bool:
        """Lead this runs folder when no other scheduler does (a non-blocking flock, kept while we live)."""
        with self._lock:
            if self._leader_fd is None and not self._closed.is_set():
                try:
                    self.root.mkdir(parents=True, exist_ok=True)
                    fd = os.open(self.root / LEADER_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
                except OSError:
                    return False
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)  # another scheduler leads: we follow, and try again next tick
                    return False
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())  # for a curious teacher: which process leads
                self._leader_fd = fd
            return self._leader_fd is not None

    def _tick(self) -> None:
        leading = self._lead()
        if leading:
            for run_id, code in self.launcher.finished().items():
                self._reap(run_id, code)
        entries = self._scan()
        if leading:
            self._start_queued(entries)
        self._publish([e for e in entries if e.status in runs.ACTIVE_STATUSES])

    def _start_queued(self, entries: list[Entry]) -> None:
        """The leader's part of a tick: drop cancelled runs, start the queued runs that fit, in fair turns."""
        queued = [e for e in entries if e.status == "queued"]
        for entry in queued:
            if RemoteControl(self.root / entry.run_id).stop_requested:
                self._write(entry.run_id, "stopped", "Cancelled before it started.")
                entry.status = "stopped"
        queued = [e for e in queued if e.status == "queued"]
        busy = [e for e in entries if e.status in RUNNING]
        for entry in self._fair_order(queued, busy):
            env = self._room_for(entry, busy)
            if env is None or not self._claim(entry.run_id):
                continue
            gpu = int(env.get("CUDA_VISIBLE_DEVICES", 0))
            self._write(entry.run_id, "starting", "Starting a training process…", kind=entry.device, gpu=gpu,
                        estimate_mb=entry.estimate_mb, submitted=entry.submitted)
            entry.gpu = gpu
            self._oom_at_launch[entry.run_id] = oom_kills()
            self.launcher.launch(entry.run_id, self.root, env, self._memory_cap(entry))
            entry.status = "starting"
            busy.append(entry)
        # A new warm worker only while nothing is starting: its imports never compete with a run's own start.
        if hasattr(self.launcher, "keep_warm") and not any(e.status == "starting" for e in entries):
            self.launcher.keep_warm()

    def _claim(self, run_id: str) -> bool:
        """Take the right to start this queued run; False when the command line or another scheduler has it.

        A scheduler's claim on a run that is still queued long after is stale (its scheduler died between the
        claim and the start, or the run was queued again): it is taken over.
        """
        path = self.root / run_id
        if runs.claim_training(path, "scheduler"):
            return True
        claim = runs.training_claim(path) or {}
        if claim.get("by") == "scheduler" and time.time() - _number(claim.get("at")) > runs.STARTING_GRACE_S:
            runs.release_training_claim(path)
            return runs.claim_training(path, "scheduler")
        return False

    def _scan(self) -> list[Entry]:
        """Active runs on disk (status.json re-read only when it changed)."""
        entries = []
        try:
            names = [p.name for p in self.root.iterdir() if p.is_dir() and not p.is_symlink()]
        except OSError:
            return []
        for name in names:
            path = self.root / name
            try:
                stat = (path / "status.json").stat()
            except OSError:
                continue
            mtime = (stat.st_ino, stat.st_mtime_ns)  # status.json is replaced, never edited: a new inode each write
            cached = self._cache.get(name)
            if cached is None or cached[0] != mtime:
                cached = (mtime, self._facts(path))
                self._cache[name] = cached
            facts = cached[1]
            if not facts:
                continue
            status = facts["status"]
            if status in RUNNING and not self._alive(path, facts):
                continue  # dead without a word: load_run shows it as interrupted
            if status in runs.ACTIVE_STATUSES:
                entries.append(Entry(run_id=name, **{k: v for k, v in facts.items()
                                                     if k not in ("updated", "seconds_per_epoch")}))
            elif status in ("finished", "stopped") and facts.get("seconds_per_epoch"):
                self._durations[(facts["model"], facts["dataset"], facts["device"])] = facts["seconds_per_epoch"]
        return entries

    def _facts(self, path: Path) -> dict | None:
        status = _read_json(path / "status.json")
        config = _read_json(path / "config.json")
        if not isinstance(status, dict) or not isinstance(config, dict):
            return None
        owner = _read_json(path / "owner.json")
        summary = _read_json(path / "summary.json") if status.get("status") in ("finished", "stopped") else None
        seconds = None
        if isinstance(summary, dict) and _number(summary.get("epochs_completed")) > 0:
            seconds = _number(summary.get("train_seconds")) / _number(summary.get("epochs_completed"))
        return {
            "status": str(status.get("status", "")),
            "updated": _number(status.get("updated")),
            "owner": owner.get("owner") if isinstance(owner, dict) and isinstance(owner.get("owner"), str) else None,
            "device": "gpu" if "gpu" in (status.get("kind"), status.get("accelerator"), config.get("accelerator"))
                      else "cpu",
            "gpu": int(_number(status.get("gpu"))),
            "submitted": _number(status.get("submitted"), _number(status.get("updated"))),
            "estimate_mb": _number(status.get("estimate_mb")),
            "epochs": int(_number(config.get("epochs"), 1)),
            "model": _word(config.get("model")),
            "dataset": _word(config.get("dataset")),
            "batch_size": int(_number(config.get("batch_size"), 1)),
            "seconds_per_epoch": seconds,
        }

    def _alive(self, path: Path, facts: dict) -> bool:
        age = runs.heartbeat_age(path)
        if age is not None and age <= runs.HEARTBEAT_TIMEOUT_S:
            return True
        return facts["status"] == "starting" and time.time() - facts["updated"] < runs.STARTING_GRACE_S

    @staticmethod
    def _fair_order(queued: list[Entry], busy: list[Entry] = ()) -> list[Entry]:
        """People take turns: each person's first run, then each person's second, … (FIFO inside).

        A run already training counts as that person's turn taken.
        """
        turn: dict[str | None, int] = {}
        for entry in busy:
            turn[entry.owner] = turn.get(entry.owner, 0) + 1
        ranked = []
        for entry in sorted(queued, key=lambda e: e.submitted):
            rank = turn.get(entry.owner, 0)
            turn[entry.owner] = rank + 1
            ranked.append((rank, entry.submitted, entry))
        return [entry for _, _, entry in sorted(ranked, key=lambda r: (r[0], r[1]))]

    def _gpu_memory(self) -> list[float]:
        if self._gpus is None:
            import torch

            self._gpus = [torch.cuda.get_device_properties(i).total_memory / 2**20
                          for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
        return self._gpus

    def _room_for(self, entry: Entry, busy: list[Entry]) -> dict[str, str] | None:
        """Environment for the worker when the device has room for it now, else None."""
        if getattr(self.launcher, "manages_capacity", False):
            return {}  # a Ray cluster queues runs itself until a node has room (vision_core/classroom/ray_backend.py)
        computing = [e for e in busy if e.status != "paused"]  # a paused run gave its slot back
        if entry.device != "gpu":
            if sum(e.device == "cpu" for e in computing) >= self.cpu_slots:
                return None
            # Each CPU run gets its share of the cores: more threads than cores makes every run crawl.
            return {"VISION_CORE_THREADS": str(max((os.cpu_count() or 1) // self.cpu_slots, 1))}
        gpus = self._gpu_memory()
        if not gpus:
            return {}  # the worker will say there is no GPU
        share = float(_limit("gpu_memory_share", 0.9))
        on_gpu = [e for e in busy if e.device == "gpu"]  # paused ones too: they keep their memory
        if sum(e.status != "paused" for e in on_gpu) >= self.gpu_slots * len(gpus):
            return None
        # The GPU with the most room left; jobs are spread by estimate (a small CNN takes a sliver).
        used = [0.0] * len(gpus)
        for e in on_gpu:
            used[e.gpu % len(gpus)] += e.estimate_mb
        best = max(range(len(gpus)), key=lambda i: gpus[i] * share - used[i])
        if used[best] + entry.estimate_mb > gpus[best] * share and used[best] > 0:
            return None
        return {"CUDA_VISIBLE_DEVICES": str(best)}

    @staticmethod
    def _memory_cap(entry: Entry) -> int | None:
        if entry.device == "gpu":
            return None
        allowed = float(_limit("max_memory_mb", 4096))
        return int(max(allowed, 2 * entry.estimate_mb) + 1024)  # + the dataset and Lightning's own

    def _write(self, run_id: str, status: str, message: str, **fields: Any) -> None:
        try:
            run = runs.load_run(run_id, self.root)
        except (runs.RunError, ValueError):
            return
        runs.write_status(run, status, message, **fields)
        self._cache.pop(run_id, None)

    def _reap(self, run_id: str, code: int) -> None:
        """A worker of ours ended: if it did not write an ending itself, write why."""
        before, after = self._oom_at_launch.pop(run_id, None), oom_kills()
        status = _read_json(self.root / run_id / "status.json")
        if isinstance(status, dict) and status.get("status") in RUNNING + ("queued",):
            config = _read_json(self.root / run_id / "config.json") or {}
            batch = int(_number(config.get("batch_size"), 1))
            out_of_memory = before is not None and after is not None and after > before
            self._write(run_id, "failed", death_message(code, batch, out_of_memory))

    def _publish(self, entries: list[Entry]) -> None:
        """Order, positions and estimated waits, for every page to read without touching the disk."""
        now = time.time()
        running = [e for e in entries if e.status in RUNNING]
        for entry in running:
            live = read_live_summary(self.root / entry.run_id) or {}
            entry.progress = _number(live.get("progress"))
            entry.epoch = int(_number(live.get("epoch")))
            entry.val_acc = live.get("val_acc")  # the summary is checked: a finite number or None
            eta = live.get("eta")
            # A pause has no end: no time left is shown for it, and it holds no slot in the simulation below.
            entry.wait_s = None if entry.status == "paused" else _number(
                eta, self._duration(entry) * (1 - entry.progress))
        queued = self._fair_order([e for e in entries if e.status == "queued"], running)
        # Simulate the slots: each queued run starts when the earliest busy slot of its device frees.
        computing = [e for e in running if e.status != "paused"]
        free_at = {"cpu": sorted(now + (e.wait_s or 0) for e in computing if e.device == "cpu"),
                   "gpu": sorted(now + (e.wait_s or 0) for e in computing if e.device == "gpu")}
        slots = {"cpu": self.cpu_slots, "gpu": self.gpu_slots * max(len(self._gpus or [1]), 1)}
        for position, entry in enumerate(queued, start=1):
            times = free_at[entry.device]
            start = now if len(times) < slots[entry.device] else times.pop(0)
            times.append(start + self._duration(entry))
            times.sort()
            entry.position, entry.wait_s = position, max(start - now, 0.0)
        self.view = QueueView(entries=running + queued, updated=now)

    def _duration(self, entry: Entry) -> float:
        per_epoch = self._durations.get((entry.model, entry.dataset, entry.device), DEFAULT_EPOCH_SECONDS)
        return per_epoch * max(entry.epochs, 1)


_managers: dict[Path, Scheduler] = {}
_managers_lock = threading.Lock()
_submit_locks: dict[Path, threading.Lock] = {}


def _submit_lock(root: Path) -> threading.Lock:
    """The lock of this process's submissions to one runs folder (shared by every Scheduler on it)."""
    with _managers_lock:
        return _submit_locks.setdefault(root, threading.Lock())


def manager(root=None) -> Scheduler:
    """The scheduler of this server process for a runs folder (every browser session shares it)."""
    key = runs.runs_root(root)
    with _managers_lock:
        if key not in _managers:
            from vision_core.classroom.ray_backend import (
                configured_launcher,  # None unless VISION_CORE_RAY_ADDRESS is set
            )

            launcher = configured_launcher() or LocalLauncher(warm=_warm_workers())
            _managers[key] = Scheduler(key, launcher=launcher).start()
        return _managers[key]
