"""Live state of a training run, and how the pages talk to it across the process boundary.

Training runs in its own worker process (vision_core/classroom/worker.py). The training loop writes a
``LiveState`` through ``LiveCallback`` (a Lightning callback); a ``LivePublisher`` thread in the
worker writes it to ``live.json`` in the run folder when it changed (at most a few times a second)
and touches the run's heartbeat. Pages only read that file. Pause / resume / single step / stop are
cooperative: the page writes ``control.json`` (``RemoteControl``), the worker's ``FileControl``
reads it between batches, never in the middle of one. ``JobControl`` is the same protocol in one
process (the CLI and the tests).
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch

# The page side (control.json, live.json readers) lives in live_files, which imports no torch: every page's
# sidebar uses it. Re-exported here for the worker, the engine and the tests.
from vision_core.runs.live_files import CONTROL_FILE, LIVE_FILE, MAX_LR, RemoteControl, check_lr, read_live  # noqa: F401
from vision_core.runs.live_files import read_json_object as _read_json
from vision_core.runs.live_summary import write_live_snapshot

MAX_STEP_POINTS = 2000  # beyond this the step history is halved, so the live file stays small
PUBLISH_SECONDS = 0.25  # live.json is rewritten at most this often (curves reach the page within ~1 s)
FLUSH_SECONDS = 0.25  # the training loop syncs its per-step numbers from the device this often
CONTROL_POLL_SECONDS = 0.1  # how often the worker looks at control.json


class DivergedError(RuntimeError):
    """The loss became NaN or infinite."""


def pause_limit_message(max_pause_s: float) -> str:
    return (f"Paused for longer than the class allows ({max_pause_s / 60:g} min), so it was stopped and its "
            "compute and memory went to others. The last checkpoint holds its weights: continue it from the Runs "
            "page.")


class JobControl:
    """Flags the training loop obeys between batches.

    ``max_pause_s``: a pause longer than this stops the run (with a checkpoint, as any stop), so a forgotten
    paused run does not hold its memory all day (the teacher's ``max_pause_minutes``); None: no limit.
    """

    def __init__(self, max_pause_s: float | None = None) -> None:
        self._lock = threading.Condition()
        self._stop = False
        self._allowed_steps: int | None = None  # None: run freely; n: run n more batches then wait
        self.requested_lr: float | None = None  # a learning rate asked for while training (None: as planned)
        self.max_pause_s = max_pause_s
        self.stop_reason = ""  # why the run stopped when it was not asked to ("" for a stop by hand)

    def _stop_if_paused_too_long(self, paused_since: float) -> None:
        """Called while waiting in a pause (lock held or not: it only sets flags)."""
        if self.max_pause_s is not None and time.monotonic() - paused_since >= self.max_pause_s and not self._stop:
            self.stop_reason = pause_limit_message(self.max_pause_s)
            self._stop = True

    @property
    def stop_requested(self) -> bool:
        return self._stop

    def set_lr(self, lr: float) -> None:
        self.requested_lr = check_lr(lr)

    @property
    def paused(self) -> bool:
        return self._allowed_steps == 0

    def stop(self) -> None:
        with self._lock:
            self._stop = True
            self._lock.notify_all()

    def pause(self) -> None:
        with self._lock:
            self._allowed_steps = 0

    def resume(self) -> None:
        with self._lock:
            self._allowed_steps = None
            self._lock.notify_all()

    def step(self, n: int = 1) -> None:
        """Single-step mode: run ``n`` more batches, then pause again."""
        with self._lock:
            self._allowed_steps = (self._allowed_steps or 0) + n
            self._lock.notify_all()

    def wait_for_turn(self, on_wait=None) -> None:
        """Block while paused (called by the training thread before each batch)."""
        paused_since = time.monotonic()  # each step granted ends a pause: the clock starts again
        with self._lock:
            while self._allowed_steps == 0 and not self._stop:
                if on_wait:
                    on_wait()
                self._lock.wait(timeout=0.2)
                self._stop_if_paused_too_long(paused_since)
            if self._allowed_steps is not None and not self._stop:
                self._allowed_steps -= 1


class LiveState:
    """Thread-safe metric history of one run. ``version`` grows on every change."""

    def __init__(self, total_epochs: int = 0) -> None:
        self._lock = threading.Lock()
        self.version = 0
        self.status = "queued"
        self.message = ""
        self.epoch = 0
        self.total_epochs = total_epochs
        self.step = 0
        self.steps_per_epoch = 0
        self.stride = 1  # every ``stride``-th step is kept once the history was compacted
        self.steps: list[tuple[int, float, float]] = []  # (step, loss, accuracy)
        self.epochs: list[dict[str, Any]] = []  # per-epoch train / val metrics, lr, time
        self.samples_per_sec = 0.0
        self.epoch_seconds: list[float] = []
        self.started = time.time()
        self.first_step = 0  # the step this process started at (a continued run goes on from its checkpoint's)
        self.gpu_memory_mb: float | None = None
        self.lr: float | None = None  # the learning rate in use now
        self.lr_history: list[tuple[int, float]] = []  # (step, lr) at every change: schedule or by hand
        self.test_metrics: dict[str, float] = {}

    def update(self, **fields: Any) -> None:
        with self._lock:
            for key, value in fields.items():
                setattr(self, key, value)
            self.version += 1

    def add_steps(self, points: list[tuple[int, float, float]]) -> None:
        """(step, loss, accuracy) of several steps, in order, under one lock."""
        if not points:
            return
        with self._lock:
            for point in points:
                if point[0] % self.stride == 0:
                    self.steps.append(point)
                    if len(self.steps) > MAX_STEP_POINTS:
                        # Keep every other point: the curve's shape survives, the chart stays light.
                        self.stride *= 2
                        self.steps = [p for p in self.steps if p[0] % self.stride == 0]
            self.step = points[-1][0]
            self.version += 1

    def set_lr(self, step: int, lr: float) -> None:
        with self._lock:
            if self.lr != lr:
                self.lr = lr
                self.lr_history.append((int(step), float(lr)))
                self.version += 1

    def add_epoch(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.epochs.append(record)
            self.version += 1

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy for a page to draw."""
        with self._lock:
            total_steps = self.steps_per_epoch * self.total_epochs
            elapsed = time.time() - self.started
            eta = None
            done = self.step - self.first_step  # steps trained since ``started``
            if done > 0 and total_steps and self.status == "running":
                eta = elapsed / done * max(total_steps - self.step, 0)
            return {
                "version": self.version,
                "status": self.status,
                "message": self.message,
                "epoch": self.epoch,
                "total_epochs": self.total_epochs,
                "step": self.step,
                "total_steps": total_steps,
                "steps_per_epoch": self.steps_per_epoch,
                "progress": min(self.step / total_steps, 1.0) if total_steps else 0.0,
                "steps": list(self.steps),
                "epochs": [dict(e) for e in self.epochs],
                "samples_per_sec": self.samples_per_sec,
                "epoch_seconds": list(self.epoch_seconds),
                "elapsed": elapsed,
                "eta": eta,
                "gpu_memory_mb": self.gpu_memory_mb,
                "lr": self.lr,
                "lr_history": list(self.lr_history),
                "test_metrics": dict(self.test_metrics),
            }


def _numbers(values: Any, width: int, limit: int) -> list[tuple] | None:
    """``values`` as tuples of ``width`` numbers (None kept), at most ``limit`` of them; None if anything else."""
    if not isinstance(values, list) or len(values) > limit:
        return None
    rows = []
    for row in values:
        if not (isinstance(row, list) and len(row) == width and all(
                v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in row)):
            return None
        rows.append(tuple(row))
    return rows


def continued_state(run_path: Path, total_epochs: int) -> LiveState:
    """A LiveState that goes on from the history in a stopped run's ``live.json``, so the curves of a continued
    run are one line. The file comes from a run folder: anything that is not the shape we write is left out."""
    state = LiveState(total_epochs=total_epochs)
    snap = read_live(run_path) or {}
    steps = _numbers(snap.get("steps"), 3, 4 * MAX_STEP_POINTS)
    lrs = _numbers(snap.get("lr_history"), 2, 100_000)
    epochs = snap.get("epochs")
    if isinstance(epochs, list) and len(epochs) <= 100_000 and all(
            isinstance(e, dict) and all(isinstance(k, str) and (v is None or (isinstance(v, (int, float))
                                        and not isinstance(v, bool))) for k, v in e.items()) for e in epochs):
        state.epochs = [dict(e) for e in epochs]
        state.epoch_seconds = [float(e["seconds"]) for e in epochs if isinstance(e.get("seconds"), (int, float))]
    if steps:
        # Stride 1 again: the next compaction thins the new points and keeps the old ones (multiples of 2^k).
        state.steps = [(int(s), loss, acc) for s, loss, acc in steps]
        state.step = state.first_step = state.steps[-1][0]
    if lrs:
        state.lr_history = [(int(step), float(lr)) for step, lr in lrs if lr is not None]
    return state


def _metric(trainer, name: str) -> float | None:
    value = trainer.callback_metrics.get(name)
    return None if value is None else float(value)


def write_live(run_path: Path, state: LiveState) -> None:
    """Write a run's LiveState snapshot to its ``live.json`` (and the summary the queue reads) now."""
    write_live_snapshot(Path(run_path), state.snapshot())


class FileControl(JobControl):
    """JobControl driven by ``control.json``, written by the page in the server process.

    The file holds ``{"paused": bool, "step_grants": int, "stop": bool}``. ``step_grants`` only
    grows: each "step one batch" adds one. While paused, the worker runs one batch per grant it has
    not used yet; while running it absorbs the grants (a step pressed while running pauses after one
    more batch, because the page also sets ``paused``).
    """

    def __init__(self, path: Path, max_pause_s: float | None = None) -> None:
        super().__init__(max_pause_s)
        self.path = Path(path)
        self._seen_mtime = None
        self._checked = 0.0
        self._used_grants = 0
        self._file_paused = False

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < CONTROL_POLL_SECONDS:
            return
        self._checked = now
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            return
        if mtime == self._seen_mtime:
            return
        self._seen_mtime = mtime
        data = _read_json(self.path) or {}
        grants = data.get("step_grants", 0)
        grants = grants if isinstance(grants, int) and grants >= 0 else 0
        try:
            if data.get("lr") is not None:  # no key: the rate asked for before stays asked for
                self.requested_lr = check_lr(data["lr"])
        except ValueError:
            pass  # a bad value in the file changes nothing
        with self._lock:
            if data.get("stop") is True:
                self._stop = True
            self._file_paused = data.get("paused") is True
            if not self._file_paused:
                self._allowed_steps = None
                self._used_grants = grants
            else:
                new = max(grants - self._used_grants, 0)
                self._used_grants = max(self._used_grants, grants)
                self._allowed_steps = new if self._allowed_steps is None else self._allowed_steps + new
            self._lock.notify_all()

    @property
    def stop_requested(self) -> bool:
        self.refresh()
        return self._stop

    @property
    def paused(self) -> bool:
        return self._allowed_steps == 0

    def wait_for_turn(self, on_wait=None) -> None:
        self.refresh()
        paused_since = time.monotonic()
        while True:
            with self._lock:
                self._stop_if_paused_too_long(paused_since)
                if self._stop or self._allowed_steps != 0:
                    if self._allowed_steps is not None and not self._stop:
                        self._allowed_steps -= 1
                    return
            if on_wait:
                on_wait()
            time.sleep(CONTROL_POLL_SECONDS)
            self.refresh(force=True)


class LivePublisher:
    """A worker-side thread: writes ``live.json`` when the state changed, and beats the heartbeat.

    Runs beside the training loop, so the loop itself never does file I/O for the live view, and
    the heartbeat keeps beating through a long batch or a pause.
    """

    def __init__(self, state: LiveState, run_path: Path, heartbeat=None) -> None:
        self.state = state
        self.path = Path(run_path) / LIVE_FILE
        self.heartbeat = heartbeat  # callable, e.g. runs.touch_heartbeat bound to the run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="live-publisher", daemon=True)
        self._written = -1
        # One publish at a time: close() publishes the last state itself when the thread did not stop within its
        # join timeout (a loaded machine), and two interleaved publishes left the older summary after the newer
        # live.json (tests/core/test_jobs.py saw a finished run whose summary said an earlier step).
        self._publishing = threading.Lock()

    def start(self) -> LivePublisher:
        self.publish()
        self._thread.start()
        return self

    def publish(self) -> None:
        with self._publishing:
            version = self.state.version
            if version != self._written:
                write_live(self.path.parent, self.state)
                self._written = version

    def _loop(self) -> None:
        last_beat = 0.0
        while not self._stop.wait(PUBLISH_SECONDS):
            try:
                self.publish()
                if self.heartbeat and time.monotonic() - last_beat >= 1.0:
                    self.heartbeat()
                    last_beat = time.monotonic()
            except OSError:
                pass  # a full disk or a deleted folder must not kill training; the next beat retries

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.publish()
        except OSError:
            pass


class LiveCallback(L.Callback):
    """Publishes metrics to a LiveState and obeys a JobControl between batches.

    O(1) per step: the step's loss, logits and labels stay on the device in a short list; every
    ``FLUSH_SECONDS`` (and at pauses and epoch ends) a few tensor operations count every step's correct
    answers at once and one host sync turns them all into numbers. On a GPU a per-step ``.item()``
    would stall the pipeline; this keeps every step on the chart.
    """

    def __init__(self, state: LiveState, control: JobControl, on_status=None) -> None:
        self.state = state
        self.control = control
        # Called with "paused" / "running" when a pause starts or ends (the engine writes status.json, so the
        # scheduler gives a paused run's compute slot to the queue and the sidebar says "paused").
        self.on_status = on_status
        self._pending: list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (step, loss, logits, y)
        self._applied_lr: float | None = None
        self._last_flush = 0.0
        self._epoch_start = 0.0
        self._window_start = 0.0
        self._window_samples = 0

    def on_train_start(self, trainer, pl_module) -> None:
        self.state.update(status="running", steps_per_epoch=int(trainer.num_training_batches),
                          total_epochs=trainer.max_epochs, started=time.time(), first_step=trainer.global_step)
        self._last_flush = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_start = self._window_start = time.perf_counter()
        self._window_samples = 0
        self.state.update(epoch=trainer.current_epoch + 1)
        if trainer.optimizers:  # the schedule may have moved it
            self.state.set_lr(trainer.global_step, float(trainer.optimizers[0].param_groups[0]["lr"]))

    def _apply_requested_lr(self, trainer) -> None:
        """A learning rate set by hand while training: every parameter group, from the next batch on."""
        lr = self.control.requested_lr
        if lr is None or lr == self._applied_lr or not trainer.optimizers:
            return
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = lr
        self._applied_lr = lr
        self.state.set_lr(trainer.global_step, lr)
        if trainer.logger is not None:  # metrics.csv records where it changed (the Runs page shows it)
            trainer.logger.log_metrics({"lr": lr}, step=trainer.global_step)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        def mark_paused():
            if self._pending:
                self._flush(trainer, pl_module)
            if self.state.status != "paused":
                if self.on_status:  # status.json first: whoever sees the state paused can rely on the file
                    self.on_status("paused")
                self.state.update(status="paused")

        self.control.wait_for_turn(on_wait=mark_paused)
        self._apply_requested_lr(trainer)  # a rate set while paused applies from this batch on
        if self.state.status == "paused":
            self.state.update(status="running")
            if self.on_status and not self.control.stop_requested:  # a stop while paused goes on to "stopped"
                self.on_status("running")
            self._window_start = time.perf_counter()  # time spent paused is not training time
            self._window_samples = 0
        if self.control.stop_requested:
            trainer.should_stop = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        y = batch[1]
        self._pending.append((trainer.global_step, outputs["loss"], outputs["logits"], y))
        self._window_samples += y.shape[0]
        if time.perf_counter() - self._last_flush >= FLUSH_SECONDS or self.control.paused:
            self._flush(trainer, pl_module)
        if self.control.stop_requested:
            trainer.should_stop = True

    def _flush(self, trainer, pl_module) -> None:
        """One host sync for every step since the last flush; raises DivergedError on NaN/inf."""
        pending, self._pending = self._pending, []
        self._last_flush = time.perf_counter()
        if not pending:
            return
        losses = torch.stack([p[1] for p in pending]).float().tolist()
        right = pl_module.correct_mask(torch.cat([p[2] for p in pending]), torch.cat([p[3] for p in pending]))
        sizes = [p[3].shape[0] for p in pending]
        # Per step: the running count of right answers at each step's last sample, minus the one before.
        ends = torch.tensor(sizes).cumsum(0).sub_(1).to(right.device)
        totals = right.float().cumsum(0)[ends]
        corrects = torch.diff(totals, prepend=totals.new_zeros(1)).tolist()
        points = []
        for (step, _, _, _), size, loss, correct in zip(pending, sizes, losses, corrects):
            if not math.isfinite(loss):
                self.state.add_steps(points)  # the curve up to the last finite step
                raise DivergedError(
                    f"The loss became {loss} at step {step} (epoch {trainer.current_epoch + 1}): "
                    f"training diverged. Try a smaller learning rate (now {pl_module.config.lr:g}), "
                    "a smaller batch, or Adam instead of SGD."
                )
            points.append((step, loss, correct / size))
        self.state.add_steps(points)
        if time.perf_counter() - self._window_start > 0.5:
            self._publish_speed(pl_module)

    def _publish_speed(self, pl_module) -> None:
        """Samples/s over the last window (about half a second), and the GPU memory in use."""
        elapsed = time.perf_counter() - self._window_start
        if not self._window_samples or elapsed <= 0:
            return
        memory = None
        if torch.cuda.is_available() and pl_module.device.type == "cuda":
            memory = torch.cuda.max_memory_allocated(pl_module.device) / 2**20
        self.state.update(samples_per_sec=self._window_samples / elapsed, gpu_memory_mb=memory)
        self._window_start, self._window_samples = time.perf_counter(), 0

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        # Samples/s is the training speed: its window closes before validation and reopens after it
        # (a window spanning validation showed 107 samples/s for a run training 1,000 a second).
        self._publish_speed(pl_module)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        self._window_start, self._window_samples = time.perf_counter(), 0
        self.state.add_epoch({
            "epoch": trainer.current_epoch + 1,
            "val_loss": _metric(trainer, "val_loss"),
            "val_acc": _metric(trainer, "val_acc"),
            "lr": trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None,
        })

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._flush(trainer, pl_module)
        seconds = time.perf_counter() - self._epoch_start
        self._publish_speed(pl_module)  # short epochs never fill a window
        with self.state._lock:
            epoch = trainer.current_epoch + 1
            if not self.state.epochs or self.state.epochs[-1]["epoch"] != epoch:
                self.state.epochs.append({"epoch": epoch})  # no validation this epoch
            self.state.epochs[-1].update(
                train_loss=_metric(trainer, "train_loss_epoch"),
                train_acc=_metric(trainer, "train_acc"),
                seconds=seconds,
            )
            self.state.epoch_seconds.append(seconds)
            self.state.version += 1

    def on_train_end(self, trainer, pl_module) -> None:
        self._flush(trainer, pl_module)
