"""The learning-rate range test (Lightning's Tuner ``lr_find``, fastai's ``lr_find``), on a run's own set-up.

Train from the run's initial weights for a few hundred batches at most, raising the learning rate
exponentially from ``start_lr`` to ``end_lr``; record the loss at each step. Too small a rate and the loss
barely moves; too large and it shoots up. Two suggestions read off the smoothed curve:

- *steepest*: where the loss falls fastest per decade of lr (Lightning's ``suggestion()``);
- *minimum / 10*: a tenth of the rate at the lowest loss (fastai's rule of thumb: the minimum itself is
  already at the edge of diverging).

The run's model, data, optimiser, batch size and augmentation are used as they are, and the teacher's limits
are checked before anything is allocated (the gate from the options, then ``guards.check``), as for a run. Cost:
at most ``MAX_BATCHES`` forward and backward passes, with no validation; ``lr_range_test`` itself writes nothing.

In the classroom the test is a queued job like a run (issue 22): the Train page submits a folder of kind
``lr_range_test`` (``Scheduler.submit(..., job=job(num_batches))``), a worker process runs ``run_job`` on it, which
writes the curve into the folder (vision_core/runs/range_tests.py); the server process never trains. The command
line (``vision-core lr-find``) calls ``lr_range_test`` directly, as ``vision-core train`` trains in its process.

Example::

    result = lr_range_test(RunConfig(dataset="digits", model="lenet"))
    result.steepest, result.min_tenth       # e.g. 2.5e-3, 1.6e-3
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.data.loader import BatchLoader
from vision_core.limits import Limits
from vision_core.runs import store as runs
from vision_core.runs.range_tests import RangeTest, tested_setup, write_result  # noqa: F401 — RangeTest lived here
from vision_core.training import guards

MAX_BATCHES = 300  # the "a few hundred batches": seconds for a small CNN
DEFAULT_BATCHES = 100  # Lightning's default num_training
START_LR, END_LR = 1e-7, 1.0  # eight decades: Adam and SGD recipes both fall inside
BETA = 0.98  # smoothing of the loss curve (fastai, Lightning)
DIVERGED = 4.0  # stop once the smoothed loss is this many times its lowest value (Lightning's threshold)
SKIP_BEGIN, SKIP_END = 10, 1  # the first steps' curve is mostly noise of the smoothing's start


def lr_at(step: int, steps: int, start_lr: float, end_lr: float) -> float:
    """The exponential schedule: ``start_lr`` at step 0, ``end_lr`` at step ``steps - 1``."""
    return start_lr * (end_lr / start_lr) ** (step / max(steps - 1, 1))


def smooth(losses: list[float], beta: float = BETA) -> list[float]:
    """Debiased exponential moving average (as fastai and Lightning smooth the curve)."""
    average, out = 0.0, []
    for i, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta ** (i + 1)))
    return out


def suggest(lrs: list[float], smoothed: list[float]) -> tuple[float | None, float | None]:
    """(steepest, minimum / 10) read off a smoothed curve; None where there are too few points."""
    min_tenth = lrs[int(np.argmin(smoothed))] / 10 if smoothed else None
    window = smoothed[SKIP_BEGIN:len(smoothed) - SKIP_END]
    if len(window) < 3:
        return None, min_tenth
    slope = np.gradient(np.asarray(window))  # per step, and each step is the same factor of lr
    return lrs[SKIP_BEGIN + int(np.argmin(slope))], min_tenth


def _check(num_batches: int, start_lr: float, end_lr: float) -> None:
    if isinstance(num_batches, bool) or not isinstance(num_batches, int) or not 20 <= num_batches <= MAX_BATCHES:
        raise ValueError(f"num_batches must be a whole number from 20 to {MAX_BATCHES}, got {num_batches!r}")
    if not (0 < start_lr < end_lr <= 10 and math.isfinite(start_lr)):
        raise ValueError(f"the lr range must satisfy 0 < start_lr < end_lr ≤ 10, got {start_lr:g} → {end_lr:g}")


def lr_range_test(config: RunConfig, dataset: datasets.ImageDataset | None = None, *,
                  num_batches: int = DEFAULT_BATCHES, start_lr: float = START_LR, end_lr: float = END_LR,
                  limits: Limits | None = None, device: str = "cpu",
                  on_batch: Callable[[int, float, float], None] | None = None) -> RangeTest:
    """Run the range test on ``config``'s model and data (see the module's docstring).

    Raises ValueError (GuardError, ShapeMismatchError…) for a set-up over the teacher's limits or that cannot
    be built, like a run; the schedule's own arguments are checked first. ``on_batch(batches_done, lr, loss)`` is
    called after each batch (a job's progress; it may raise to cancel the test).
    """
    _check(num_batches, start_lr, end_lr)
    if dataset is None:
        guards.gate(config, limits)  # sized from the options before one image is read or generated
        dataset = datasets.load(config.dataset, **config.dataset_options)
    guards.check(config, dataset.input_shape, len(dataset.classes), limits)
    # Lightning comes with these: imported here, so the Train page that shows this section imports no Lightning.
    from vision_core.training.engine import prepare
    from vision_core.training.lightning_module import ClassifierModule, make_optimizer

    dataset, model = prepare(config, dataset)  # seeded as the run would be: the run's initial weights
    module = ClassifierModule(model, config.replace(fast=False, compile=False), num_classes=len(dataset.classes))
    module.to(device)
    module.prepare(torch.device(device).type)
    module.init_from_data(dataset)
    module.train()
    optimizer = make_optimizer(config, module.parameters())
    loader = BatchLoader(dataset.train, dataset, config.batch_size, shuffle=True, device=device,
                         augment=config.augment or None, seed=config.seed)
    lrs: list[float] = []
    losses: list[float] = []
    best = math.inf
    stopped = False
    while len(losses) < num_batches and not stopped:
        for batch in loader:
            lr = lr_at(len(losses), num_batches, start_lr, end_lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            loss, _ = module.train_step(batch, module.forward, torch.Tensor.backward)
            optimizer.step()
            lrs.append(lr)
            losses.append(float(loss))
            if on_batch is not None:
                on_batch(len(losses), lr, losses[-1])
            current = smooth(losses)[-1]
            best = min(best, current)
            if not math.isfinite(current) or current > DIVERGED * best:
                stopped = True
                break
            if len(losses) == num_batches:
                break
    finite = [i for i, v in enumerate(losses) if math.isfinite(v)]
    lrs, losses = [lrs[i] for i in finite], [losses[i] for i in finite]
    smoothed = smooth(losses)
    steepest, min_tenth = suggest(lrs, smoothed)
    notes = []
    if stopped:
        notes.append(f"The loss shot up at lr {lrs[-1]:.2g}, so the test stopped there, after {len(losses)} of "
                     f"{num_batches} batches.")
    if steepest is None:
        notes.append("Too few batches before the loss diverged to find the steepest descent; raise start_lr "
                     "or lower end_lr.")
    return RangeTest(lrs, losses, smoothed, steepest, min_tenth, stopped, notes)


# --- The range test as a queued job ------------------------------------------------------------------------


class Cancelled(Exception):  # what happened, not a fault: its owner or the teacher cancelled the test
    """Raised between two batches when the job's control says stop."""


def job(num_batches: int = DEFAULT_BATCHES) -> dict[str, Any]:
    """The ``job`` of a range-test folder (``Scheduler.submit(..., job=job(100))``); ValueError for a bad count."""
    _check(num_batches, START_LR, END_LR)
    return {"kind": runs.LR_RANGE_TEST, "num_batches": num_batches}


def run_job(run: runs.RunRecord, state, control) -> RangeTest | None:
    """Run the range test of ``run`` (a folder of kind ``lr_range_test``) in this process: a worker's part.

    Progress goes to ``state`` (a LiveState: the worker's publisher writes it to live.json, the queue shows it);
    ``control`` (a FileControl) is read between batches, so Stop cancels the test. The result goes to the folder
    and status.json says ``finished``; a set-up that cannot run says ``failed`` with the reason and raises
    TrainingError, as a run does. Returns None when cancelled.
    """
    from vision_core.training.engine import TrainingError, device_name, resolve_accelerator

    num_batches = int(run.job["num_batches"])
    try:
        accelerator = resolve_accelerator(run.config.accelerator)
    except TrainingError as exc:
        runs.write_status(run, "failed", str(exc))
        raise
    runs.write_status(run, "running", f"Raising the learning rate over {num_batches} batches…",
                      device=device_name(accelerator), accelerator=accelerator)
    state.update(status="running", total_epochs=1, steps_per_epoch=num_batches)

    def progress(done: int, lr: float, loss: float) -> None:
        state.add_steps([(done, loss, float("nan"))])
        state.set_lr(done, lr)
        if control.stop_requested:
            raise Cancelled

    try:
        result = lr_range_test(run.config, num_batches=num_batches, device="cuda" if accelerator == "gpu" else "cpu",
                               on_batch=progress)
    except Cancelled:
        state.update(status="stopped", message="Cancelled.")
        runs.write_status(run, "stopped", "Cancelled before it finished.")
        return None
    except (ValueError, TypeError, FileNotFoundError) as exc:  # over a limit, a shape that does not fit, no data
        state.update(status="failed", message=str(exc))
        runs.write_status(run, "failed", str(exc))
        raise TrainingError(str(exc)) from exc
    write_result(run, result)
    state.update(status="finished", message="")
    runs.write_status(run, "finished", "", step=len(result.losses))
    return result
