"""Submit → first live point of the quick-start run, from a cold worker process and from a warm one (issue 18.3).

Method: a Scheduler on an empty runs folder submits the Home page's one-click run (LeNet on digits) and the clock
runs until the run's live.json holds its first training step. "cold" starts a fresh `python -m
vision_core.classroom.worker` per run (imports first); "warm" hands the run to a worker that already imported torch,
Lightning and the engine (LocalLauncher(warm=1), started well before the submission as a server does at its first
tick). The baseline, measured in the same run, is a bare `python -c "import torch, lightning"`. Cold and warm are
interleaved; medians of --repeats.

Run: ``.venv/bin/python benchmarks/first_run.py [--repeats 3]``. Target: warm ≤ 0.75× the bare import (goal 0.3×).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vision_core.classroom.jobs import LocalLauncher, Scheduler
from vision_core.config import RunConfig
from vision_core.runs.live_files import read_live


def bare_import() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, lightning"], check=True)
    return time.perf_counter() - start


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_idle(pid: int, quiet_s: float = 1.0, timeout: float = 120) -> None:
    """Until the warm worker stops using CPU (its imports are done and it waits on stdin)."""
    deadline, last, since = time.time() + timeout, -1, time.time()
    while time.time() < deadline:
        ticks = cpu_ticks(pid)
        if ticks != last:
            last, since = ticks, time.time()
        elif time.time() - since >= quiet_s:
            return
        time.sleep(0.1)


def first_point(warm: bool) -> float:
    with tempfile.TemporaryDirectory() as root:
        launcher = LocalLauncher(warm=1 if warm else 0)
        scheduler = Scheduler(root, launcher=launcher, cpu_slots=1, tick=0.05)
        if warm:
            launcher.keep_warm()
            wait_idle(launcher._warm[0].pid)
        config = RunConfig(dataset="digits", model="lenet", epochs=1, snapshot_every=0)
        start = time.perf_counter()
        run = scheduler.submit(config)
        while True:
            scheduler.refresh()
            live = read_live(run.path) or {}
            if live.get("steps"):
                elapsed = time.perf_counter() - start
                break
            if time.perf_counter() - start > 180:
                raise RuntimeError("no live point in 180 s")
            time.sleep(0.02)
        scheduler.control(run).stop()
        while launcher.processes:
            launcher.finished()
            time.sleep(0.1)
        for process in launcher._warm:
            process.kill()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bare, cold, warm = [], [], []
    for i in range(args.repeats):
        bare.append(bare_import())
        cold.append(first_point(warm=False))
        warm.append(first_point(warm=True))
        print(f"repeat {i + 1}: bare import {bare[-1]:.2f} s, cold {cold[-1]:.2f} s, warm {warm[-1]:.2f} s", flush=True)
    b, c, w = (statistics.median(x) for x in (bare, cold, warm))
    print(f"median: bare `import torch, lightning` {b:.2f} s; submit → first live point: cold {c:.2f} s "
          f"({c / b:.2f}×), warm {w:.2f} s ({w / b:.2f}×)")


if __name__ == "__main__":
    main()
