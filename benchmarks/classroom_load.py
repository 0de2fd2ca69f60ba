"""A classroom watching one live run (issue 9.5): what N browser viewers cost the server and the training.

Method: the dashboard is started as ``scripts/dashboard`` starts it (``streamlit run serve.py --server.headless true``,
its own runs folder, a free port, ``VISION_CORE_MAX_JOBS_CPU=1``), pinned with ``taskset`` to the first core; its
training worker inherits that core, so every cycle the server spends on viewers is taken from training. This
process, Playwright's driver and one headless Chromium (small 800×600 pages) are pinned to the second core.

1. A long run (LeNet on the digits, the Train form's defaults but ``--epochs`` epochs) is started the way a student
   starts it: /train in a browser context, "▶ Start training"; that tab is closed. ``--queued`` more runs are put
   in the queue behind it (run folders written as the scheduler's ``submit`` writes them), so the sidebar's
   "Training now" strip on every viewer shows a queue with places and waits.
2. Phases, each ``--settle`` seconds to settle then a ``--window`` second measurement: no viewer; then N viewers
   for each N of ``--viewers`` (pages added to reach N, all on /train?run=ID, in one browser context); then the
   largest N with the run paused (``RemoteControl.pause``, as the Pause button does); then, resumed, the tabs
   are closed: the seconds until the server's CPU is back to the first no-viewer level are printed, and a last
   no-viewer phase is measured. The first no-viewer phase is the server's CPU baseline; training speed is
   compared with the mean of both no-viewer phases (the machine's own drift averages out).
3. Per phase: the server's CPU (utime+stime deltas of its process in /proc/<pid>/stat: its threads, not the
   worker), minus the no-viewer baseline, per viewer (% of one core); the worker's CPU; training samples/s (the
   mean of live.json's ``samples_per_sec`` sampled every 0.1 s) ÷ the no-viewer figure; the age of the newest
   chart point in each browser, once a second (the chart's last step, read from the Plotly trace in the page,
   against the time live.json first held that step: its mtime; median and worst over pages and samples); the
   websocket bytes the pages received per viewer per second, and the size of each message carrying the chart
   (Streamlit's ForwardMsg decoded: a delta whose element is a Plotly chart, or a ``ref_hash`` to a cached one);
   the server's RSS.

``--class-wall 30`` measures the Class page instead (issue 20): ``--class-wall`` fake active runs (run folders as a
worker leaves them, claimed so no scheduler trains them; a thread of this process appends a step to every run's
live.json each second and beats its heartbeat, so the server does exactly what it does for real runs, and no
training competes for its core). Phases of ``--window`` seconds: no viewer, then N viewers of /class for each N of
``--viewers``, then N viewers of one run's live chart (/train?run=ID), each viewer phase right after a no-viewer
phase (the level it is compared with: the server's own work drifts as the scheduler runs and the live files grow).
Printed: the server's CPU per viewer above that level, per second and per refresh (the wall refreshes every 2 s,
the live chart every 1 s), and the ratio wall ÷ live chart per refresh (target: ≤ 1).

Run: ``.venv/bin/python benchmarks/classroom_load.py --viewers 1 5 10 30``. Targets (issue 9): server CPU per viewer
≤ 5 % of a core, a paused run with viewers ≈ 0, samples/s ratio ≥ 0.9 at 30 viewers, newest point ≤ 1.5 s old,
chart payload ≤ 30 KB per refresh. 30 Chromium pages on one core take a few GB of memory and load slowly; pages
that fail to load are counted and reported. Figures are noisy on a shared machine; never run by the tests.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import served_app as app
from served_app import Server

from vision_core.config import RunConfig
from vision_core.runs import store as runs
from vision_core.runs.live_files import RemoteControl


class LiveSampler(threading.Thread):
    """Reads the run's live.json every 0.1 s: when each step was first published, and samples/s over time."""

    def __init__(self, run_path: Path) -> None:
        super().__init__(daemon=True)
        self.path = run_path / "live.json"
        self.published: list[tuple[int, float]] = []  # (step, live.json mtime), steps growing
        self.speeds: list[tuple[float, float]] = []  # (time, samples_per_sec)
        self.status = ""
        self._stop = threading.Event()

    def run(self) -> None:
        last_mtime = 0
        while not self._stop.wait(0.1):
            try:
                mtime = self.path.stat().st_mtime_ns
            except OSError:
                continue
            if mtime == last_mtime:
                continue
            data = app.read_json(self.path)
            if not data:
                continue
            last_mtime = mtime
            self.status = str(data.get("status", ""))
            step = data.get("step")
            if isinstance(step, int) and (not self.published or step > self.published[-1][0]):
                self.published.append((step, mtime / 1e9))
            speed = data.get("samples_per_sec")
            if isinstance(speed, (int, float)) and self.status == "running":
                self.speeds.append((time.time(), float(speed)))

    def published_at(self, step: int) -> float | None:
        """When live.json first held ``step`` (or a later one)."""
        i = bisect.bisect_left(self.published, (step, 0.0))
        return self.published[i][1] if i < len(self.published) else None

    def mean_speed(self, start: float, end: float) -> float | None:
        values = [s for t, s in self.speeds if start <= t <= end]
        return statistics.mean(values) if values else None

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Traffic:
    """Websocket messages the viewer pages received (Streamlit's ForwardMsg protobufs)."""

    total_bytes: int = 0
    chart_sizes: list[int] = field(default_factory=list)  # one per message carrying the chart (or its ref_hash)

    def on_frame(self, payload) -> None:
        if isinstance(payload, str):
            payload = payload.encode()
        self.total_bytes += len(payload)
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        message = ForwardMsg()
        try:
            message.ParseFromString(payload)
        except Exception:  # noqa: BLE001 — not a ForwardMsg: counted in the bytes only
            return
        kind = message.WhichOneof("type")
        if kind == "delta" and message.delta.WhichOneof("type") == "new_element" and \
                message.delta.new_element.WhichOneof("type") == "plotly_chart":
            self.chart_sizes.append(len(payload))
        elif kind == "ref_hash":
            self.chart_sizes.append(len(payload))  # a cached message re-sent by reference (charts are the big ones)

    def reset(self) -> None:
        self.total_bytes, self.chart_sizes = 0, []


def open_viewer(context, url: str, traffic: Traffic):
    page = context.new_page()
    page.set_default_timeout(180_000)
    page.on("websocket", lambda ws: ws.on("framereceived", traffic.on_frame))
    page.goto(url, wait_until="commit")
    return page


def chart_step(page) -> int:
    try:
        return int(page.evaluate(app.CHART_LAST_STEP))
    except Exception:  # noqa: BLE001 — a page still loading (or crashed) shows no chart
        return -1


def wait_charts(pages, timeout: float) -> int:
    """Seconds-bounded wait until every page draws the chart; returns how many pages do."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        drawn = sum(chart_step(p) >= 0 for p in pages)
        if drawn == len(pages):
            return drawn
        pages[0].wait_for_timeout(1000)
    return sum(chart_step(p) >= 0 for p in pages)


def measure(label: str, server: Server, worker: int, sampler: LiveSampler, pages, traffic: Traffic,
            settle: float, window: float, wait) -> dict:
    wait(settle)
    traffic.reset()
    cpu0, work0, t0, wall0 = server.cpu_seconds(), app.process_cpu_seconds(worker), time.perf_counter(), time.time()
    ages, missing = [], 0
    while time.perf_counter() - t0 < window:
        wait(1.0)
        for page in pages:
            step, now = chart_step(page), time.time()
            published = sampler.published_at(step) if step >= 0 else None
            if published is None:
                missing += 1
            else:
                ages.append(max(now - published, 0.0))
    elapsed = time.perf_counter() - t0
    return {
        "label": label, "viewers": len(pages),
        "server_cpu": (server.cpu_seconds() - cpu0) / elapsed,
        "worker_cpu": (app.process_cpu_seconds(worker) - work0) / elapsed,
        "speed": sampler.mean_speed(wall0, time.time()),
        "age_median": statistics.median(ages) if ages else None, "age_max": max(ages) if ages else None,
        "missing": missing,
        "bytes_per_viewer_s": traffic.total_bytes / elapsed / max(len(pages), 1),
        "chart_kb": statistics.mean(traffic.chart_sizes) / 1024 if traffic.chart_sizes else None,
        "chart_msgs_per_viewer_s": len(traffic.chart_sizes) / elapsed / max(len(pages), 1),
        "rss_mb": server.rss_mb(), "status": sampler.status,
    }


def settle_after_close(server: Server, base_cpu: float, limit: float = 180.0) -> str:
    """How long the server keeps working for closed tabs (reruns still queued, sessions not yet dropped)."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        cpu0, t0 = server.cpu_seconds(), time.perf_counter()
        time.sleep(2.0)
        if (server.cpu_seconds() - cpu0) / (time.perf_counter() - t0) <= base_cpu + 0.02:
            return f"{time.perf_counter() - start:.0f} s"
    return f"more than {limit:.0f} s"


def queue_runs(root: Path, count: int) -> list[Path]:
    """Runs waiting behind the live one, written as ``jobs.Scheduler.submit`` writes them (status queued)."""
    paths = []
    for i in range(count):
        run = runs.create_run(RunConfig(dataset="digits", model="lenet", epochs=10), root, owner=f"student{i}")
        runs.write_status(run, "queued", "", submitted=time.time(), kind="cpu", estimate_mb=50.0)
        paths.append(run.path)
    return paths


class FakeClass(threading.Thread):
    """``count`` active runs as workers leave them, kept alive: every second each gets a new step in live.json
    (a loss curve falling from ln 10) and a heartbeat. Claimed for "cli", so the server's scheduler starts none."""

    def __init__(self, root: Path, count: int) -> None:
        super().__init__(daemon=True)
        self.runs = []
        for i in range(count):
            run = runs.create_run(RunConfig(dataset="digits", model="lenet", epochs=20), root, owner=f"student{i:02d}",
                                  trained_by="cli")
            runs.write_status(run, "running", "")
            self.runs.append(run)
        self.version = 0
        self._stop = threading.Event()
        self.publish()

    def publish(self) -> None:
        import math

        from vision_core.runs.live_summary import write_live_snapshot

        self.version += 1
        for i, run in enumerate(self.runs):
            # Mid-training, a few hundred logged steps each; staggered, so epochs do not all end in the same second.
            steps = 300 + 10 * self.version + 7 * i
            stuck = i % 10 == 3  # a few runs sit at chance: the wall says "stuck at chance"
            history = [[s, 2.303 if stuck else 2.3 * math.exp(-s / 150) + 0.05, 0.1 if stuck else min(0.1 + s / 400, 0.97)]
                       for s in range(steps)]
            epochs = [{"epoch": e, "train_loss": 2.3 if stuck else 1 / e, "val_loss": 2.3 if stuck else 1.1 / e,
                       "val_acc": 0.1 if stuck else min(0.5 + 0.04 * e, 0.98)} for e in range(1, steps // 41 + 1)]
            write_live_snapshot(run.path, {
                "version": self.version, "status": "running", "epoch": len(epochs), "total_epochs": 20,
                "step": steps, "total_steps": 820, "steps_per_epoch": 41, "progress": min(steps / 820, 1.0),
                "steps": history, "epochs": epochs, "samples_per_sec": 1400.0 + i, "epoch_seconds": [2.0],
                "elapsed": 10.0, "eta": 20.0, "gpu_memory_mb": None, "lr": 0.001, "lr_history": [], "test_metrics": {}})
            runs.touch_heartbeat(run)

    def run(self) -> None:
        while not self._stop.wait(1.0):
            self.publish()

    def stop(self) -> None:
        self._stop.set()
        for run in self.runs:
            RemoteControl(run.path).stop()


def class_wall_cost(args) -> None:
    """The Class page with ``args.class_wall`` active runs vs one run's live chart: server CPU per refresh."""
    from playwright.sync_api import sync_playwright

    server_cpu, browser_cpu = app.cores()
    app.pin_self(browser_cpu)
    folder = app.workspace()
    server = Server(folder, server_cpu, env={"VISION_CORE_MAX_JOBS_CPU": "1", "VISION_CORE_WARM_WORKERS": "0"})
    print(f"server on CPU {server_cpu}, Chromium and the fake workers on CPU {browser_cpu}; "
          f"up in {server.wait_healthy():.1f} s, every page opened in {server.wait_ready():.1f} s")
    fake = FakeClass(server.runs_dir, args.class_wall)
    fake.start()
    results = []
    try:
        with sync_playwright() as p:
            browser = app.launch_browser(p)

            def phase(label: str, url: str | None, n: int, every: float, ready: str) -> None:
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                pages = []
                for _ in range(n if url else 0):
                    page = context.new_page()
                    page.set_default_timeout(180_000)
                    page.goto(url, wait_until="commit")
                    page.wait_for_selector(ready)
                    pages.append(page)
                wait = (lambda s: pages[0].wait_for_timeout(s * 1000)) if pages else time.sleep
                wait(args.settle)
                cpu0, t0 = server.cpu_seconds(), time.perf_counter()
                wait(args.window)
                cpu = (server.cpu_seconds() - cpu0) / (time.perf_counter() - t0)
                context.close()
                results.append((label, n, cpu, every))
                print(f"  {label:<28}{cpu:>9.1%}", flush=True)

            # Each viewer phase is measured right after a no-viewer phase, and compared with it: the server's own
            # level drifts (the scheduler starts with the first page view and reads every run's live file, watched
            # or not; the live files grow), so one baseline for the whole run does not hold.
            run_id = fake.runs[0].run_id
            phase("no viewer (warm-up)", f"{server.url}/", 1, 1.0, "[data-testid='stApp']")  # starts the scheduler
            for n in sorted(set(args.viewers)):
                for what, url, every, ready in (("/class", f"{server.url}/class", 2.0, ".cw-table"),
                                                ("live chart", f"{server.url}/train?run={run_id}", 1.0,
                                                 ".js-plotly-plot")):
                    phase("no viewer", None, 0, 1.0, "")
                    phase(f"{what}, {n} viewer(s)", url, n, every, ready)
            browser.close()
    finally:
        fake.stop()
        server.stop()
    print(f"\n  {'phase':<28}{'server CPU':>11}{'no viewer':>11}{'per viewer':>12}{'per refresh':>13}")
    cost: dict[tuple[str, int], float] = {}  # (page, viewers) -> server CPU seconds per refresh per viewer
    for (_, _, base, _), (label, n, cpu, every) in itertools.pairwise(results):
        if n and not label.startswith("no viewer"):
            per_refresh = (cpu - base) / n * every
            cost[(label.split(",")[0], n)] = per_refresh
            print(f"  {label:<28}{cpu:>11.1%}{base:>11.1%}{(cpu - base) / n:>12.1%}{per_refresh * 1000:>10.0f} ms")
    for n in sorted(set(args.viewers)):
        wall, chart = cost[("/class", n)], cost[("live chart", n)]
        ratio = wall / chart if chart > 0 else float("nan")
        print(f"{n} viewer(s): the Class page with {args.class_wall} runs costs {wall * 1000:.0f} ms of server CPU per "
              f"refresh (every 2 s), one live chart {chart * 1000:.0f} ms (every 1 s): ratio {ratio:.2f} per refresh, "
              f"{wall / 2 / chart if chart > 0 else float('nan'):.2f} per second")


def fmt(value, spec: str, missing: str = "–") -> str:
    return missing if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, nargs="+", default=[1, 5, 10, 30])
    parser.add_argument("--window", type=float, default=15.0, help="seconds measured per phase")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after pages load before measuring")
    parser.add_argument("--epochs", type=int, default=20_000, help="long enough to outlast every phase")
    parser.add_argument("--queued", type=int, default=3, help="runs waiting in the queue behind the live one")
    parser.add_argument("--class-wall", type=int, default=0, metavar="RUNS",
                        help="measure the Class page with this many fake active runs against one live chart")
    args = parser.parse_args()
    if args.class_wall:
        class_wall_cost(args)
        return
    counts = sorted(set(args.viewers))

    from playwright.sync_api import sync_playwright

    server_cpu, browser_cpu = app.cores()
    app.pin_self(browser_cpu)
    folder = app.workspace(max_epochs=max(args.epochs, 200))
    server = Server(folder, server_cpu, env={"VISION_CORE_MAX_JOBS_CPU": "1"})
    print(f"server (and its training worker) on CPU {server_cpu}, Chromium on CPU {browser_cpu}; "
          f"up in {server.wait_healthy():.1f} s, every page opened in {server.wait_ready():.1f} s")
    results, control, queued, sampler = [], None, [], None
    try:
        with sync_playwright() as p:
            browser = app.launch_browser(p)
            owner = browser.new_context(viewport={"width": 1280, "height": 900})
            owner_page = owner.new_page()
            owner_page.set_default_timeout(180_000)
            run_id = app.start_run_from_train_page(owner_page, server.url, epochs=args.epochs)
            owner.close()
            run_path = server.runs_dir / run_id
            control = RemoteControl(run_path)
            app.wait_status(run_path, ("running",), timeout=300)
            worker = app.worker_pid(server.pid, run_id)
            if worker is None:
                raise SystemExit("could not find the training worker process")
            queued = queue_runs(server.runs_dir, args.queued)
            sampler = LiveSampler(run_path)
            sampler.start()
            print(f"run {run_id} training (worker pid {worker}); {len(queued)} run(s) queued behind it")

            viewers = browser.new_context(viewport={"width": 800, "height": 600})
            pages: list = []
            traffic = Traffic()

            def phase(result: dict) -> None:  # printed as it comes: a run cut short still tells what it measured
                if not results:
                    print("  " + HEAD)
                results.append(result)
                print("  " + row(result, results), flush=True)

            def wait(seconds: float) -> None:  # Playwright delivers page events while it waits
                (pages[0].wait_for_timeout(seconds * 1000) if pages else time.sleep(seconds))

            phase(measure("no viewer", server, worker, sampler, [], traffic, args.settle, args.window, wait))
            for n in counts:
                started = time.perf_counter()
                while len(pages) < n:
                    pages.append(open_viewer(viewers, f"{server.url}/train?run={run_id}", traffic))
                drawn = wait_charts(pages, timeout=60 + 10 * n)
                print(f"  {n} viewer(s): {drawn}/{n} pages drew the chart after {time.perf_counter() - started:.0f} s")
                phase(measure(f"{n} viewer(s)", server, worker, sampler, pages, traffic, args.settle,
                                       args.window, wait))
            control.pause()
            deadline = time.time() + 60
            while sampler.status != "paused" and time.time() < deadline:
                wait(0.5)
            phase(measure(f"{len(pages)} viewer(s), paused", server, worker, sampler, pages, traffic,
                                   args.settle, args.window, wait))
            control.resume()
            viewers.close()
            pages = []
            settled = settle_after_close(server, results[0]["server_cpu"])
            print(f"  after the tabs closed, the server's CPU was back to the no-viewer level in {settled}")
            phase(measure("no viewer (tabs closed)", server, worker, sampler, [], traffic, args.settle,
                                   args.window, wait))
            browser.close()
    finally:
        if sampler:
            sampler.stop()
        for path in queued:
            RemoteControl(path).stop()
        if control:
            control.stop()
        time.sleep(2)
        server.stop()
        report(results, args.window)  # also when cut short (Ctrl-C): the phases measured so far


HEAD = (f"{'phase':<24}{'server CPU':>11}{'per viewer':>11}{'worker CPU':>11}{'samples/s':>10}{'ratio':>7}"
        f"{'age med':>8}{'age max':>8}{'ws KB/s/v':>10}{'chart KB':>9}{'charts/s/v':>11}{'RSS MB':>8}")


def row(r: dict, results: list[dict]) -> str:
    """One phase as a table row, against the no-viewer phases measured so far."""
    base = [x for x in results if x["viewers"] == 0]
    base_cpu = base[0]["server_cpu"]  # before any tab opened (closed tabs may still cost: see the last phase)
    speeds = [x["speed"] for x in base if x["speed"]]  # before and after: the machine's own drift averages out
    base_speed = statistics.mean(speeds) if speeds else None
    per_viewer = (r["server_cpu"] - base_cpu) / r["viewers"] if r["viewers"] else None
    paused = r["status"] == "paused"  # no new steps: neither a speed nor a point age to speak of
    ratio = r["speed"] / base_speed if r["speed"] and base_speed and not paused else None
    ages = (None, None) if paused else (r["age_median"], r["age_max"])
    return (f"{r['label']:<24}{r['server_cpu']:>11.1%}{fmt(per_viewer, '.1%'):>11}{r['worker_cpu']:>11.1%}"
            f"{fmt(r['speed'], ',.0f'):>10}{fmt(ratio, '.2f'):>7}{fmt(ages[0], '.2f'):>8}{fmt(ages[1], '.2f'):>8}"
            f"{r['bytes_per_viewer_s'] / 1024:>10.1f}{fmt(r['chart_kb'], '.1f'):>9}"
            f"{r['chart_msgs_per_viewer_s']:>11.2f}{r['rss_mb']:>8.0f}"
            + (f"  ({r['missing']} samples without a chart)" if r["missing"] else ""))


def report(results: list[dict], window: float) -> None:
    if not results:
        return
    print(f"\nper phase ({window:.0f} s each); server CPU per viewer = (server CPU − first no-viewer "
          f"{results[0]['server_cpu']:.1%}) ÷ N; ratio = samples/s ÷ the no-viewer phases' mean; "
          "charts/s/v = chart messages per viewer per second")
    print(HEAD)
    for r in results:
        print(row(r, results))
    print("targets: per viewer ≤ 5 % of a core; paused ≈ 0; ratio ≥ 0.9 at 30 viewers; age ≤ 1.5 s; chart ≤ 30 KB")


if __name__ == "__main__":
    main()
