"""Training runs on a Ray cluster: the scheduler's launcher when ``VISION_CORE_RAY_ADDRESS`` is set.

Same interface as ``jobs.LocalLauncher`` (``launch`` / ``finished``); the run itself is the same
``vision_core.classroom.worker.run_worker`` in a process of its own, only Ray picks the machine. Each run is
one Ray actor asking for ``num_gpus=fraction`` (its memory estimate over one GPU's memory, at least
``min_gpu``), so Ray packs several small CNNs on one GPU and queues the rest until room frees.
Everything else crosses through the run folder, which must be on storage every node sees at the
same path (control.json in, live.json / heartbeat / checkpoints out), so pages cannot tell a Ray
run from a local one.

Why an actor and not a plain task: Ray ends a task when the process that submitted it exits, and a
local worker outlives a server restart. A *detached* actor outlives its submitter too; it is
killed as soon as its run is reaped, and kills itself shortly after its run ends when no server is
left to do it. Ray (not the heartbeat) judges whether a run this server submitted is alive: a
worker that raised, or whose machine left the cluster, gives a non-zero exit code.

Ray is imported only when this launcher is built (``pip install -e .[cluster]``).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

ADDRESS_ENV = "VISION_CORE_RAY_ADDRESS"  # "auto", "HEAD:6379", or "local" (a Ray inside this process)
GPU_MB_ENV = "VISION_CORE_RAY_GPU_MB"  # memory of the smallest GPU in the cluster
MIN_GPU_ENV = "VISION_CORE_RAY_MIN_GPU"  # smallest share of a GPU one run asks for
DEFAULT_GPU_MB = 16_384.0
DEFAULT_MIN_GPU = 0.25
GPU_STEP = 0.05
NAMESPACE = "vision_core"
ORPHAN_GRACE_S = 30.0  # a run's actor waits this long for its server to collect the result, then exits


def configured_address() -> str | None:
    return os.environ.get(ADDRESS_ENV, "").strip() or None


def configured_launcher():
    """A RayLauncher when a Ray address is configured, else None (the scheduler's local processes)."""
    address = configured_address()
    return RayLauncher(address) if address else None


def gpu_fraction(estimate_mb: float, gpu_mb: float, share: float = 1.0, minimum: float = DEFAULT_MIN_GPU) -> float:
    """The share of one GPU a run asks Ray for: its estimate over the usable memory, rounded up to 0.05.

    At least ``minimum`` (a tiny CNN still needs room for CUDA's own context), at most one whole GPU.
    Example: ``gpu_fraction(3000, 16384, share=0.9)`` → 0.25 (0.2034… rounds up to 0.25, the minimum).
    """
    usable = max(gpu_mb * share, 1.0)
    steps = math.ceil(round(max(estimate_mb, 0.0) / usable / GPU_STEP, 6))
    return round(min(max(steps * GPU_STEP, minimum), 1.0), 2)


def _float_env(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if math.isfinite(value) and value > 0 else default


def _gpu_share() -> float:
    try:
        from vision_core import limits
    except ImportError:
        return 0.9
    try:
        return limits.load_limits().gpu_memory_share
    except ValueError:
        return 0.9


def _read_status(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((path / "status.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class _RunActor:
    """One run on whichever node Ray picked: a process of its own, like a local worker."""

    def train(self, run_id: str, root: str, memory_mb: int | None, cwd: str, env: dict[str, str],
              gpu: bool) -> int:
        os.environ.update(env)
        if not gpu:  # a CPU run must not touch a GPU it did not reserve (auto would pick it)
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
        if os.path.isdir(cwd):
            os.chdir(cwd)  # ./data and ./classroom.toml as on the server, when the node shares its folders
        try:  # the worker's output goes to the run folder, as for a local worker
            log = os.open(os.path.join(root, run_id, "worker.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.close(log)
        except OSError:
            pass
        from vision_core.classroom.worker import run_worker

        try:
            return run_worker(run_id, root, memory_mb)
        finally:
            # Normally the server kills this actor as soon as it has the result; if that server is
            # gone (restarted mid-run), free the GPU share anyway.
            threading.Thread(target=lambda: (time.sleep(ORPHAN_GRACE_S), os._exit(0)), daemon=True).start()


class RayLauncher:
    """Starts each run as a detached Ray actor on whichever node has room; Ray queues the rest."""

    manages_capacity = True  # the scheduler hands every queued run to Ray and lets Ray wait for room

    def __init__(self, address: str | None = None, *, gpu_memory_mb: float | None = None,
                 min_gpu: float | None = None, cpus_per_gpu_run: float = 1, cpus_per_cpu_run: float = 2) -> None:
        try:
            import ray
        except ImportError:
            raise ImportError(f"{ADDRESS_ENV} is set but Ray is not installed: run "
                              "`.venv/bin/pip install -e .[cluster]`, or unset it to train on this machine.") from None

        self.ray = ray
        self.address = address or configured_address()
        self.gpu_memory_mb = gpu_memory_mb or _float_env(GPU_MB_ENV, DEFAULT_GPU_MB)
        self.min_gpu = min(min_gpu or _float_env(MIN_GPU_ENV, DEFAULT_MIN_GPU), 1.0)
        self.cpus = {"gpu": cpus_per_gpu_run, "cpu": cpus_per_cpu_run}
        self.pending: dict[str, tuple[Any, Any, Path]] = {}  # run id → (object ref, actor, run folder)
        self._failed: dict[str, int] = {}
        self._actor_class = None
        self._lock = threading.Lock()  # pages (resolve_accelerator) and the scheduler thread both connect

    def _connect(self) -> None:
        with self._lock:
            if self.ray.is_initialized():
                return
            address = None if self.address in (None, "local") else self.address
            self.ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, ignore_reinit_error=True)

    def resolve_accelerator(self, accelerator: str) -> str:
        """Like ``engine.resolve_accelerator``, but for the cluster's GPUs, not this machine's."""
        from vision_core.training.engine import TrainingError

        try:
            self._connect()
            has_gpu = self.ray.cluster_resources().get("GPU", 0) > 0
        except Exception as exc:  # noqa: BLE001 — whatever Ray raises, the page shows one clear line
            raise TrainingError(f"The Ray cluster cannot be reached ({type(exc).__name__}); "
                                "ask the teacher to check `ray status` on the server.") from None
        if accelerator == "gpu" and not has_gpu:
            raise TrainingError("The Ray cluster has no GPU machine connected. Choose CPU or auto.")
        if accelerator == "auto":
            return "gpu" if has_gpu else "cpu"
        return accelerator

    def resources(self, kind: str, estimate_mb: float) -> dict[str, float]:
        """What one run asks Ray for: ``num_cpus`` and, on a GPU, a fraction of one."""
        if kind != "gpu":
            return {"num_cpus": self.cpus["cpu"], "num_gpus": 0}
        return {"num_cpus": self.cpus["gpu"],
                "num_gpus": gpu_fraction(estimate_mb, self.gpu_memory_mb, _gpu_share(), self.min_gpu)}

    def launch(self, run_id: str, root: Path, env: dict[str, str], memory_mb: int | None) -> None:
        # ``env`` holds CUDA_VISIBLE_DEVICES for a local run: Ray assigns GPUs itself, so it is ignored.
        path = Path(root) / run_id
        status = _read_status(path)  # the scheduler wrote the device and the estimate just before
        kind = "gpu" if status.get("kind") == "gpu" else "cpu"
        estimate = status.get("estimate_mb")
        estimate = float(estimate) if isinstance(estimate, (int, float)) and not isinstance(estimate, bool) else 0.0
        forward = {k: v for k, v in os.environ.items() if k.startswith("VISION_CORE_") and k != ADDRESS_ENV}
        try:
            self._connect()
            if self._actor_class is None:
                self._actor_class = self.ray.remote(max_restarts=0, max_task_retries=0)(_RunActor)
            actor = self._actor_class.options(
                name=f"run-{run_id}", namespace=NAMESPACE, lifetime="detached", **self.resources(kind, estimate),
            ).remote()
            ref = actor.train.remote(run_id, str(root), memory_mb, os.getcwd(), forward, kind == "gpu")
        except ValueError as exc:
            if "already" in str(exc):  # an actor of that name trains this run (another server started it)
                return
            self._fail(path, run_id, f"The Ray cluster refused the run: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 — the cluster unreachable: the run says why, the queue goes on
            self._fail(path, run_id, f"The Ray cluster at {self.address or 'local'} could not be reached "
                                     f"({type(exc).__name__}); ask the teacher to check `ray status`.")
            return
        self.pending[run_id] = (ref, actor, path)

    def _fail(self, path: Path, run_id: str, message: str) -> None:
        from vision_core.runs import store as runs

        try:
            runs.write_status(runs.load_run(run_id, path.parent), "failed", message)
        except (runs.RunError, ValueError, OSError):
            pass
        self._failed[run_id] = 1

    def finished(self) -> dict[str, int]:
        """Runs of ours that ended since the last call: run id → exit code (their actors killed)."""
        done, self._failed = self._failed, {}
        if not self.pending:
            return done
        refs = [ref for ref, _, _ in self.pending.values()]
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
        ready = set(ready)
        for run_id, (ref, actor, path) in list(self.pending.items()):
            if ref not in ready:
                _touch(path)  # alive as far as Ray knows, even while it waits in Ray's queue for room
                continue
            done[run_id] = self._exit_code(ref)
            del self.pending[run_id]
            try:
                self.ray.kill(actor)  # frees its CPU and GPU share now
            except Exception:  # noqa: BLE001, S110 — already gone with its node
                pass
        return done

    def _exit_code(self, ref) -> int:
        try:
            code = self.ray.get(ref, timeout=0)
        except self.ray.exceptions.OutOfMemoryError:
            return -9  # Ray's memory monitor killed it: the scheduler says "out of memory"
        except Exception:  # noqa: BLE001 — the worker raised, or its node or process died
            return 1
        return int(code) if isinstance(code, int) else 1


def _touch(path: Path) -> None:
    from vision_core.runs import store as runs

    try:
        runs.touch_heartbeat(path)
    except OSError:
        pass
