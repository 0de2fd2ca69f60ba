"""Submit → first live point of the quick-start run: a cold worker process, a warm one, a forked one (issue 18.3).

Method: a Scheduler on an empty runs folder submits the Home page's one-click run (LeNet on digits) and the clock
runs until the run's live.json holds its first training step. "cold" starts a fresh `python -m
vision_core.classroom.worker` per run (imports first; ``LocalLauncher(fork=False)``); "warm" hands the run to a
worker that already imported torch, Lightning and the engine (``LocalLauncher(warm=1, fork=False)``); "fork" forks it
from the fork server (the default, ``LocalLauncher()``). Warm workers and the fork server are started, and their
imports done, well before the submission, as a server does at its first tick. Also printed: the CPU seconds the
run's process spent until its first point (the imports a cold worker pays per run). The baseline, measured in the
same run, is a bare `python -c "import torch, lightning"`. The three are interleaved; medians of --repeats.

Run: ``.venv/bin/python benchmarks/first_run.py [--repeats 3]``. Target: ≤ 0.75× the bare import (goal 0.3×).
"""

from __future__ import annotations

import argparse
import os
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


def first_point(kind: str) -> tuple[float, float]:
    """(seconds from submit to the first live point, CPU seconds of the run's process until then)."""
    from vision_core.classroom.jobs import ForkServer
    from vision_core.runs import store as runs

    with tempfile.TemporaryDirectory() as root:
        launcher = {"cold": LocalLauncher(fork=False), "warm": LocalLauncher(warm=1, fork=False),
                    "fork": LocalLauncher(fork=True)}[kind]
        scheduler = Scheduler(root, launcher=launcher, cpu_slots=1, tick=0.05)
        if kind != "cold":
            launcher.keep_warm()
            wait_idle(ForkServer.shared().process.pid if kind == "fork" else launcher._warm[0].pid)
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
        try:
            cpu = cpu_ticks(int(runs.load_run(run.run_id, root).status["pid"])) / os.sysconf("SC_CLK_TCK")
        except (OSError, KeyError, ValueError):
            cpu = float("nan")
        scheduler.control(run).stop()
        while launcher.processes or launcher.forked:
            launcher.finished()
            time.sleep(0.1)
        for process in launcher._warm:
            process.kill()
        return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bare, seconds, cpu = [], {k: [] for k in KINDS}, {k: [] for k in KINDS}
    for i in range(args.repeats):
        bare.append(bare_import())
        for kind in KINDS:
            elapsed, used = first_point(kind)
            seconds[kind].append(elapsed)
            cpu[kind].append(used)
        print(f"repeat {i + 1}: bare import {bare[-1]:.2f} s, " + ", ".join(
            f"{k} {seconds[k][-1]:.2f} s ({cpu[k][-1]:.1f} s CPU)" for k in KINDS), flush=True)
    b = statistics.median(bare)
    print(f"median: bare `import torch, lightning` {b:.2f} s; submit → first live point: " + ", ".join(
        f"{k} {statistics.median(seconds[k]):.2f} s ({statistics.median(seconds[k]) / b:.2f}×, "
        f"{statistics.median(cpu[k]):.1f} s CPU)" for k in KINDS))


KINDS = ("cold", "warm", "fork")


if __name__ == "__main__":
    main()
