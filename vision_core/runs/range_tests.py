"""A learning-rate range test's folder: its result file, read back as untrusted, and finding a finished one again.

A range test is a job like a training run (vision_core/training/lr_finder.py computes it, a worker runs it): its
folder holds ``job.json`` (``{"kind": "lr_range_test", "num_batches": N}``), the set-up it tests in config.json,
and, once finished, ``lr_range_test.json``: the curve (lrs, raw and smoothed losses), the two suggestions and the
notes. That file is read like every run-folder file: sized first, every value's type and range checked, and a
damaged file is one RunError sentence. Imports no torch: the Train page reads results without it.

Example::

    test = read_result(runs.load_run(run_id))
    test.steepest, test.min_tenth       # e.g. 2.5e-3, 1.6e-3
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field

from vision_core.config import RunConfig
from vision_core.runs import store as runs

RESULT_FILE = "lr_range_test.json"
MAX_RESULT_BYTES = 200_000  # 1,000 points × 3 numbers is ~70 KB; anything bigger was not written by a worker
MAX_POINTS = runs.MAX_JOB_BATCHES
MAX_NOTES, MAX_NOTE_CHARS = 5, 300


@dataclass
class RangeTest:
    lrs: list[float]
    losses: list[float]  # raw loss of each batch
    smoothed: list[float]  # debiased exponential moving average
    steepest: float | None  # lr where the smoothed loss falls fastest; None when the curve is too short
    min_tenth: float | None  # a tenth of the lr at the lowest smoothed loss
    stopped_early: bool = False  # the loss diverged before the last batch
    notes: list[str] = field(default_factory=list)


def write_result(run: runs.RunRecord, result: RangeTest) -> None:
    """Write the result into the test's folder (write then rename: a reader never sees half a file)."""
    runs.write_file(run, RESULT_FILE, asdict(result))


def read_result(run: runs.RunRecord) -> RangeTest:
    """The test's result, every value checked; RunError (one sentence) when it is missing or damaged."""
    if run.kind != runs.LR_RANGE_TEST:
        raise runs.RunError(f"Run {run.run_id} is not a learning-rate range test.")
    try:
        data = runs.read_file(run, RESULT_FILE, MAX_RESULT_BYTES)
    except runs.RunError as exc:  # a link, too large, or not JSON
        raise runs.RunError(f"The result of range test {run.run_id} cannot be read: {exc}.") from None
    if data is None:
        raise runs.RunError(f"Range test {run.run_id} has no result yet (it is {run.state}).")
    try:
        if not isinstance(data, dict):
            raise ValueError(f"{RESULT_FILE} is not an object")  # noqa: TRY004 — one type for "damaged", as above
        lrs, losses, smoothed = _numbers(data, "lrs", positive=True), _numbers(data, "losses"), \
            _numbers(data, "smoothed")
        if not len(lrs) == len(losses) == len(smoothed):
            raise ValueError("lrs, losses and smoothed differ in length")
        stopped = data.get("stopped_early", False)
        return RangeTest(lrs, losses, smoothed, _rate(data, "steepest"), _rate(data, "min_tenth"),
                         stopped if isinstance(stopped, bool) else False, _notes(data))
    except ValueError as exc:  # the file parsed, but a value is not what a worker writes
        raise runs.RunError(f"The result of range test {run.run_id} cannot be read: {exc}.") from None


def _numbers(data: dict, key: str, positive: bool = False) -> list[float]:
    values = data.get(key)
    if not isinstance(values, list) or len(values) > MAX_POINTS:
        raise ValueError(f"{key} is not a list of at most {MAX_POINTS} numbers")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or (positive and value <= 0):
            raise ValueError(f"{key} holds {str(value)[:20]!r}, not a {'positive ' if positive else ''}finite number")
    return [float(v) for v in values]


def _rate(data: dict, key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{key} is {str(value)[:20]!r}, not a learning rate")
    return float(value)


def _notes(data: dict) -> list[str]:
    notes = data.get("notes", [])
    if not isinstance(notes, list) or len(notes) > MAX_NOTES or not all(isinstance(n, str) for n in notes):
        raise ValueError("notes is not a short list of sentences")
    return [runs.clean_name(n)[:MAX_NOTE_CHARS] for n in notes]  # printable text; pages escape it as well


# --- Finding a test again ----------------------------------------------------------------------------------


def tested_setup(config: RunConfig) -> RunConfig:
    """The part of a set-up a range test depends on: everything but what the test replaces or never uses (the
    learning rate and its schedule, the epochs, early stopping, snapshots, the name). Two set-ups that differ only
    there get the same curve, so they share one test.

    Example: ``tested_setup(config.replace(lr=0.1, epochs=9)) == tested_setup(config)``.
    """
    neutral = RunConfig()
    return config.replace(name="", epochs=1, lr=neutral.lr, scheduler="none", early_stopping_patience=0,
                          snapshot_every=0)


def same_setup(run: runs.RunRecord, setup: RunConfig, num_batches: int) -> bool:
    """Whether the test in ``run`` tests ``setup`` over ``num_batches`` batches."""
    # Compared as JSON, as config.json holds it (a tuple in an option and its list read back are the same set-up).
    return run.job.get("num_batches") == num_batches and run.config.to_json() == tested_setup(setup).to_json()


def finished_result(setup: RunConfig, num_batches: int, root: str | os.PathLike | None = None
                    ) -> tuple[runs.RunRecord, RangeTest] | None:
    """The newest finished test of this set-up whose result reads well, whoever ran it (the test is a pure function
    of the set-up and its seed), with its result; None when there is none."""
    for run in runs.list_jobs(runs.LR_RANGE_TEST, root):
        if run.state == "finished" and same_setup(run, setup, num_batches):
            try:
                return run, read_result(run)
            except runs.RunError:
                continue  # a damaged one is not reused; its own page says why
    return None


def latest(setup: RunConfig, num_batches: int, owner: str | None, root: str | os.PathLike | None = None
           ) -> runs.RunRecord | None:
    """This person's newest test of this set-up, in any state (what a refreshed page shows again); None if none."""
    if owner is None:
        return None
    return next((run for run in runs.list_jobs(runs.LR_RANGE_TEST, root)
                 if run.owner == owner and same_setup(run, setup, num_batches)), None)
