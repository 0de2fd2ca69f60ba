"""One training run in its own process: ``python -m vision_core.classroom.worker RUN_ID --runs-dir DIR``.

The folder's kind decides the work (``runs.RunRecord.kind``): a training run (``engine.train``), or a learning-rate
range test (``lr_finder.run_job``, a few hundred batches, its result written into the folder); everything around
it (heap cap, OOM score, heartbeat, live.json, stop) is the same for both.

The dashboard's scheduler (vision_core/classroom/jobs.py) starts one of these per run, in a new session, so
a crash, an out-of-memory kill or a server restart ends this run alone (or nothing at all: a worker
outlives the server that started it, and the next server finds it by its heartbeat). Everything
crosses the process boundary through the run folder: ``control.json`` in (pause / step / stop),
``live.json`` and ``heartbeat`` out, plus the usual status, metrics and checkpoints.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import resource
import sys
from pathlib import Path

OOM_SCORE = 1000  # if the machine runs out of memory, the kernel kills a worker, never the server


def _protect_the_server() -> None:
    """Make this process the first the kernel's OOM killer picks (raising it needs no privilege)."""
    try:
        Path("/proc/self/oom_score_adj").write_text(str(OOM_SCORE))
    except OSError:
        pass  # not Linux: the memory cap below still applies


def _data_size() -> int:
    """Bytes of this process's data segment now (what RLIMIT_DATA counts)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _cap_memory(extra_mb: int | None) -> None:
    """Cap this process's heap at what it uses now plus ``extra_mb``: past it, allocations fail here
    (the run says "out of memory"), and the server and the other runs keep their memory."""
    if not extra_mb:
        return
    limit = _data_size() + int(extra_mb) * 2**20
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    except (ValueError, OSError):
        pass


def _out_of_memory_message(batch_size: int) -> str:
    smaller = max(batch_size // 4, 1)
    return (f"The run ran out of memory at batch size {batch_size}. Try batch size {smaller} or a smaller model "
            "(fewer channels or hidden units); the other runs on this server were not affected.")


def _max_pause_minutes() -> float:
    """The teacher's limit on a pause (classroom.toml); its default when the file cannot be read."""
    from vision_core import limits

    try:
        return limits.load_limits().max_pause_minutes
    except ValueError:
        return limits.Limits().max_pause_minutes


def run_worker(run_id: str, root: str | None, memory_mb: int | None = None) -> int:
    from vision_core.runs import store as runs

    run = runs.load_run(run_id, root)
    lock_file = open(run.path / "worker.lock", "a")  # noqa: SIM115 — held for the life of the process
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another worker already trains this run (two schedulers raced): leave it alone

    _protect_the_server()
    import torch  # imported before the cap: the library itself is not the run's memory

    from vision_core.training.engine import TrainingError, train
    from vision_core.training.live import CONTROL_FILE, FileControl, LivePublisher, LiveState, continued_state

    _cap_memory(memory_mb if run.config.accelerator != "gpu" else None)
    threads = os.environ.get("VISION_CORE_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        torch.set_num_threads(int(threads))  # this run's share of the cores (set by the scheduler)
    heartbeat = run.path / "heartbeat"
    heartbeat.touch()
    # What the page shows until the first batch: the process is up, the data and the model come next.
    runs.write_status(run, "starting", "Loading the data and building the model…")
    resume = run.status.get("resume") == "last"  # Scheduler.continue_run: train on from the last checkpoint
    # Read before the publisher writes live.json anew: a continued run's curves go on from it.
    state = continued_state(run.path, run.config.epochs) if resume else LiveState(total_epochs=run.config.epochs)
    control = FileControl(run.path / CONTROL_FILE, max_pause_s=_max_pause_minutes() * 60)
    control.refresh(force=True)
    publisher = LivePublisher(state, run.path, heartbeat=heartbeat.touch).start()
    try:
        if run.kind == runs.LR_RANGE_TEST:
            from vision_core.training.lr_finder import run_job

            run_job(run, state, control)
        else:
            train(run.config, run=run, state=state, control=control, resume=resume)
        return 0
    except TrainingError:
        return 1  # the engine already wrote the reason into the run folder
    except MemoryError:
        message = _out_of_memory_message(run.config.batch_size)
    except RuntimeError as exc:  # torch's CPU allocator reports "can't allocate memory" this way
        if "allocate" not in str(exc):
            message = f"Training stopped with an unexpected error: {type(exc).__name__}: {exc}"
        else:
            message = _out_of_memory_message(run.config.batch_size)
    except Exception as exc:  # noqa: BLE001 — whatever happens, the run says why; nothing else is affected
        message = f"Training stopped with an unexpected error: {type(exc).__name__}: {exc}"
    finally:
        publisher.close()
    state.update(status="failed", message=message)
    publisher.publish()
    runs.write_status(run, "failed", message)
    return 1


def wait_warm() -> int:
    """A warm worker: import everything a run needs now, then wait for one run on stdin.

    The scheduler (``LocalLauncher.keep_warm``) starts it ahead of time; it writes one JSON line
    ``{"run_id", "runs_dir", "memory_mb", "env"}`` and closes the pipe. End of input without a run (the server
    went away) ends the process. Imports must not touch a GPU: ``CUDA_VISIBLE_DEVICES`` arrives with the run.
    """
    import lightning  # noqa: F401 — the seconds a cold worker spends before its first batch
    import torch  # noqa: F401

    import vision_core.training.engine
    import vision_core.training.guards
    import vision_core.training.lr_finder
    import vision_core.training.snapshots  # noqa: F401

    line = sys.stdin.readline()
    if not line.strip():
        return 0
    try:
        job = json.loads(line)
        run_id, runs_dir, memory_mb, env = job["run_id"], job["runs_dir"], job.get("memory_mb"), job.get("env") or {}
    except (ValueError, KeyError, TypeError):
        return 2
    os.environ.update({str(k): str(v) for k, v in env.items()})
    try:  # from here on, this process writes where a cold worker of this run would
        log = os.open(Path(runs_dir) / run_id / "worker.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
    except OSError:
        pass
    return run_worker(run_id, runs_dir, memory_mb)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vision_core.classroom.worker", description=__doc__)
    parser.add_argument("run_id", nargs="?")
    parser.add_argument("--runs-dir", default=None)
    parser.add_argument("--memory-mb", type=int, default=None, help="heap cap for a CPU run")
    parser.add_argument("--warm", action="store_true", help="import first, then wait for a run on stdin")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if args.warm:
        return wait_warm()
    if not args.run_id:
        parser.error("a run id is needed (or --warm)")
    return run_worker(args.run_id, args.runs_dir, args.memory_mb)


if __name__ == "__main__":
    sys.exit(main())
