"""Live state of a training run, shared between the training thread and the pages that poll it.

The training thread writes through ``LiveCallback`` (a Lightning callback); pages only read
``LiveState.snapshot()``. Pause / resume / single step / stop are cooperative: ``JobControl``
flags checked between batches, never in the middle of one.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import lightning as L
import torch

MAX_STEP_POINTS = 2000  # beyond this the step history is halved, so charts stay fast for long runs


class DivergedError(RuntimeError):
    """The loss became NaN or infinite."""


class JobControl:
    """Flags the training loop obeys between batches."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._stop = False
        self._allowed_steps: int | None = None  # None: run freely; n: run n more batches then wait

    @property
    def stop_requested(self) -> bool:
        return self._stop

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
        with self._lock:
            while self._allowed_steps == 0 and not self._stop:
                if on_wait:
                    on_wait()
                self._lock.wait(timeout=0.2)
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
        self.gpu_memory_mb: float | None = None
        self.test_metrics: dict[str, float] = {}

    def update(self, **fields: Any) -> None:
        with self._lock:
            for key, value in fields.items():
                setattr(self, key, value)
            self.version += 1

    def add_step(self, step: int, loss: float, acc: float) -> None:
        with self._lock:
            self.step = step
            if step % self.stride == 0:
                self.steps.append((step, loss, acc))
                if len(self.steps) > MAX_STEP_POINTS:
                    # Keep every other point: the curve's shape survives, the chart stays light.
                    self.stride *= 2
                    self.steps = [p for p in self.steps if p[0] % self.stride == 0]
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
            if self.step and total_steps and self.status == "running":
                eta = elapsed / self.step * max(total_steps - self.step, 0)
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
                "test_metrics": dict(self.test_metrics),
            }


def _metric(trainer: L.Trainer, name: str) -> float | None:
    value = trainer.callback_metrics.get(name)
    return None if value is None else float(value)


class LiveCallback(L.Callback):
    """Publishes metrics to a LiveState after every batch and obeys a JobControl between batches."""

    def __init__(self, state: LiveState, control: JobControl) -> None:
        self.state = state
        self.control = control
        self._epoch_start = 0.0
        self._window_start = 0.0
        self._window_samples = 0

    def on_train_start(self, trainer, pl_module) -> None:
        self.state.update(status="running", steps_per_epoch=int(trainer.num_training_batches),
                          total_epochs=trainer.max_epochs, started=time.time())

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_start = self._window_start = time.perf_counter()
        self._window_samples = 0
        self.state.update(epoch=trainer.current_epoch + 1)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        def mark_paused():
            if self.state.status != "paused":
                self.state.update(status="paused")

        self.control.wait_for_turn(on_wait=mark_paused)
        if self.state.status == "paused":
            self.state.update(status="running")
            self._window_start = time.perf_counter()  # time spent paused is not training time
            self._window_samples = 0
        if self.control.stop_requested:
            trainer.should_stop = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # One host sync per step for both numbers (the chart needs them anyway).
        loss, correct = torch.stack([outputs["loss"].detach().float(), outputs["correct"].float()]).tolist()
        size = int(batch[1].shape[0])
        if not math.isfinite(loss):
            raise DivergedError(
                f"The loss became {loss} at step {trainer.global_step} (epoch {trainer.current_epoch + 1}): "
                f"training diverged. Try a smaller learning rate (now {pl_module.config.lr:g}), "
                "a smaller batch, or Adam instead of SGD."
            )
        self.state.add_step(trainer.global_step, loss, correct / size)
        self._window_samples += size
        if time.perf_counter() - self._window_start > 0.5:
            self._publish_speed(pl_module)
        if self.control.stop_requested:
            trainer.should_stop = True

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

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        self.state.add_epoch({
            "epoch": trainer.current_epoch + 1,
            "val_loss": _metric(trainer, "val_loss"),
            "val_acc": _metric(trainer, "val_acc"),
            "lr": trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None,
        })

    def on_train_epoch_end(self, trainer, pl_module) -> None:
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
