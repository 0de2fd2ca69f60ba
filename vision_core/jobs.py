"""Process-wide job registry: training runs in worker threads, outside any page script.

A Streamlit rerun, a refresh or a closed tab never touches a job; pages look it up by id
(the run id, kept in the URL) and read its LiveState. Concurrency is bounded per device
(default: one job per GPU, one on the CPU); the rest wait in a FIFO queue.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from vision_core import runs
from vision_core.config import RunConfig
from vision_core.engine import TrainingError, resolve_accelerator, train
from vision_core.live import JobControl, LiveState

PAUSED_JOB_TIMEOUT_S = 30 * 60  # a paused job nobody has looked at for this long is stopped (frees memory)


def default_limits() -> dict[str, int]:
    """Concurrent jobs per device kind; override with VISION_CORE_MAX_JOBS_CPU / _GPU."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return {
        "cpu": int(os.environ.get("VISION_CORE_MAX_JOBS_CPU", "1")),
        "gpu": int(os.environ.get("VISION_CORE_MAX_JOBS_GPU", str(max(gpus, 1)))),
    }


@dataclass
class Job:
    run: runs.RunRecord
    config: RunConfig
    device: str  # "cpu" or "gpu": which queue it waits in
    state: LiveState
    control: JobControl = field(default_factory=JobControl)
    submitted: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.time)
    summary: dict[str, Any] | None = None
    error: str | None = None
    thread: threading.Thread | None = None

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def done(self) -> bool:
        return self.state.status in ("finished", "stopped", "failed")


class JobManager:
    """Starts, queues and tracks training jobs. Thread-safe; one per process (``manager()``)."""

    def __init__(self, limits: dict[str, int] | None = None, root=None) -> None:
        self.limits = limits or default_limits()
        self.root = root
        self._lock = threading.Condition()
        self._jobs: dict[str, Job] = {}
        self._waiting: list[str] = []  # run ids in queue order
        self._active: dict[str, int] = {"cpu": 0, "gpu": 0}

    def submit(self, config: RunConfig, trainer_options: dict[str, Any] | None = None,
               start_paused: bool = False) -> Job:
        """Create the run folder at once (so a refresh finds it), then train when a slot is free."""
        device = resolve_accelerator(config.accelerator)
        run = runs.create_run(config, self.root)
        job = Job(run=run, config=config, device=device, state=LiveState(total_epochs=config.epochs))
        if start_paused:
            job.control.pause()
        with self._lock:
            self._jobs[job.run_id] = job
            self._waiting.append(job.run_id)
        job.thread = threading.Thread(target=self._work, args=(job, trainer_options),
                                      name=f"train-{job.run_id}", daemon=True)
        job.thread.start()
        return job

    def _work(self, job: Job, trainer_options: dict[str, Any] | None) -> None:
        with self._lock:
            while (self._waiting[0] != job.run_id
                   or self._active[job.device] >= self.limits[job.device]) and not job.control.stop_requested:
                self._lock.wait(timeout=0.5)
            self._waiting.remove(job.run_id)
            if job.control.stop_requested:  # cancelled while queued
                job.state.update(status="stopped", message="Cancelled before it started.")
                runs.write_status(job.run, "stopped", "Cancelled before it started.")
                self._lock.notify_all()
                return
            self._active[job.device] += 1
        try:
            job.summary = train(job.config, run=job.run, state=job.state, control=job.control,
                                trainer_options=trainer_options)
        except TrainingError as exc:
            job.error = str(exc)
        except Exception as exc:  # noqa: BLE001 — a bug must not take the server down; the run says what happened
            job.error = f"Training stopped with an unexpected error: {type(exc).__name__}: {exc}"
            job.state.update(status="failed", message=job.error)
            runs.write_status(job.run, "failed", job.error)
        finally:
            with self._lock:
                self._active[job.device] -= 1
                self._lock.notify_all()
            self._release_memory()

    @staticmethod
    def _release_memory() -> None:
        # The trainer, module and loaders go out of scope with train(); give their memory back now.
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def get(self, run_id: str | None) -> Job | None:
        """The live job for a run id (None when it is not running in this process). Marks it as seen."""
        if not run_id:
            return None
        with self._lock:
            job = self._jobs.get(run_id)
        if job:
            job.last_seen = time.time()
            self._stop_if_abandoned()
        return job

    def jobs(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.submitted)

    def active_jobs(self) -> list[Job]:
        return [j for j in self.jobs() if not j.done]

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next job to start; None when it is not waiting."""
        with self._lock:
            if run_id in self._waiting:
                return self._waiting.index(run_id) + 1
        return None

    def _stop_if_abandoned(self) -> None:
        now = time.time()
        for job in self.active_jobs():
            if job.control.paused and now - job.last_seen > PAUSED_JOB_TIMEOUT_S:
                job.control.stop()

    def wait(self, run_id: str, timeout: float | None = None) -> Job:
        """Block until a job ends (tests and the CLI)."""
        job = self._jobs[run_id]
        job.thread.join(timeout)
        return job


_manager: JobManager | None = None
_manager_lock = threading.Lock()


def manager() -> JobManager:
    """The process-wide JobManager (every browser session of the dashboard shares it)."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = JobManager()
        return _manager
