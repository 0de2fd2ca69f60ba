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


def failure_message(exc: BaseException, batch_size: int) -> str:
    """What a run that raised ``exc`` says. Running out of memory under the cap is a MemoryError, or a RuntimeError
    from torch's allocator ("can't allocate memory") or from C++ (``std::bad_alloc``): each is the same advice."""
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and
                                        ("allocate" in str(exc) or "bad_alloc" in str(exc))):
        return _out_of_memory_message(batch_size)
    return f"Training stopped with an unexpected error: {type(exc).__name__}: {exc}"


def trains_on_a_gpu(accelerator: str) -> bool:
    """Whether this run's process trains on a GPU: its tensors live in the GPU's memory, which the scheduler budgets,
    and CUDA reserves far more address space than a heap cap allows (under one it fails with ``std::bad_alloc``)."""
    import torch

    return accelerator == "gpu" or (accelerator == "auto" and torch.cuda.is_available())


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

    _cap_memory(None if trains_on_a_gpu(run.config.accelerator) else memory_mb)
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
    except Exception as exc:  # noqa: BLE001 — whatever happens, the run says why; nothing else is affected
        message = failure_message(exc, run.config.batch_size)
    finally:
        publisher.close()
    state.update(status="failed", message=message)
    publisher.publish()
    runs.write_status(run, "failed", message)
    return 1


def _import_everything() -> None:
    """What a cold worker spends its first seconds on (~7 s of CPU on a 2-core machine). Nothing here may touch a
    GPU: ``CUDA_VISIBLE_DEVICES`` arrives with the run, and a process that initialised CUDA cannot fork."""
    import lightning  # noqa: F401
    import torch  # noqa: F401

    import vision_core.training.engine
    import vision_core.training.guards
    import vision_core.training.lr_finder
    import vision_core.training.snapshots  # noqa: F401


def _job(line: bytes | str) -> tuple[str, str, int | None, dict[str, str], str | None] | None:
    """One assignment line ``{"run_id", "runs_dir", "memory_mb", "env", "cwd"}`` checked; None when malformed."""
    try:
        job = json.loads(line)
        run_id, runs_dir, memory_mb = str(job["run_id"]), str(job["runs_dir"]), job.get("memory_mb")
        env = {str(k): str(v) for k, v in (job.get("env") or {}).items()}
        cwd = job.get("cwd")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return run_id, runs_dir, int(memory_mb) if isinstance(memory_mb, int) else None, env, \
        cwd if isinstance(cwd, str) else None


def _write_to_the_run_log(runs_dir: str, run_id: str) -> None:
    """From here on this process writes where a cold worker of this run would: the run's worker.log."""
    try:
        log = os.open(Path(runs_dir) / run_id / "worker.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
    except OSError:
        pass


def wait_warm() -> int:
    """A warm worker: import everything a run needs now, then wait for one run on stdin.

    The scheduler (``LocalLauncher.keep_warm``, when it does not use the fork server) starts it ahead of time; it
    writes one assignment line and closes the pipe. End of input without a run (the server went away) ends it.
    """
    _import_everything()
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    job = _job(line)
    if job is None:
        return 2
    run_id, runs_dir, memory_mb, env, _ = job
    os.environ.update(env)
    _write_to_the_run_log(runs_dir, run_id)
    return run_worker(run_id, runs_dir, memory_mb)


def _send(message: dict) -> None:
    os.write(1, (json.dumps(message) + "\n").encode())


def _fork_one(line: bytes, children: dict[int, str]) -> None:
    """Fork a worker for one assignment line; the child runs it in its own session and never comes back here."""
    job = _job(line)
    if job is None:
        return
    run_id, runs_dir, memory_mb, env, cwd = job
    import torch

    if torch.cuda.is_initialized():  # a forked child could not use the GPU: the launcher starts a cold one
        _send({"run_id": run_id, "refused": "CUDA is initialised in the fork server"})
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        children[pid] = run_id
        _send({"run_id": run_id, "pid": pid})
        return
    code = 1
    try:  # the child: what a cold worker started with this environment would be
        os.setsid()  # its own session: Ctrl-C on the server, or the server's end, does not reach it
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        _write_to_the_run_log(runs_dir, run_id)
        os.environ.clear()
        os.environ.update(env)
        if cwd:
            os.chdir(cwd)
        code = run_worker(run_id, runs_dir, memory_mb)
    except BaseException:  # noqa: BLE001 — the child must end here, never return into the server's loop
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def fork_server() -> int:
    """Import everything once, then fork a worker per assignment line read on stdin (issue 17: a cold worker's
    imports cost ~7 s of CPU per run; a fork costs milliseconds and shares the imported pages).

    Writes one JSON line per event on stdout: ``{"run_id", "pid"}`` when a worker is forked, ``{"run_id", "exit"}``
    when it ended (the exit code as ``subprocess`` gives it: negative for a signal), ``{"run_id", "refused"}`` when
    it cannot fork (the launcher then starts a cold worker). Single-threaded on purpose (a fork copies only the
    calling thread). End of input (the server went away) ends it; its workers train on in their own sessions.
    """
    import select

    _import_everything()
    children: dict[int, str] = {}
    buffer = b""
    while True:
        ready, _, _ = select.select([0], [], [], 0.2)
        if ready:
            chunk = os.read(0, 65536)
            if not chunk:
                return 0
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                _fork_one(line, children)
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            _send({"run_id": children.pop(pid, ""), "exit": os.waitstatus_to_exitcode(status)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vision_core.classroom.worker", description=__doc__)
    parser.add_argument("run_id", nargs="?")
    parser.add_argument("--runs-dir", default=None)
    parser.add_argument("--memory-mb", type=int, default=None, help="heap cap for a CPU run")
    parser.add_argument("--warm", action="store_true", help="import first, then wait for a run on stdin")
    parser.add_argument("--fork-server", action="store_true",
                        help="import first, then fork a worker per run read on stdin")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if args.fork_server:
        return fork_server()
    if args.warm:
        return wait_warm()
    if not args.run_id:
        parser.error("a run id is needed (or --warm)")
    return run_worker(args.run_id, args.runs_dir, args.memory_mb)


if __name__ == "__main__":
    sys.exit(main())
