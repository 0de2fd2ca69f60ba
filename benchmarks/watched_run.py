"""Does watching a run slow it down (issue 13.1)? The same run trained with no browser and with one viewer.

Method: the dashboard is started exactly as ``scripts/dashboard`` starts it (``streamlit run serve.py --server.headless
true``, its own empty runs folder, a free port), pinned with ``taskset`` to the first core; the training worker
processes it starts inherit that core, so whatever the server spends on a viewer is taken from training. This
process, Playwright's driver and headless Chromium are pinned to the second core. Each run is started the way a
student starts it: open /train in a fresh browser context (a new person), click "▶ Start training" on the form's
defaults (LeNet on the digits, Adam lr 0.002, batch 32, 10 epochs; checked in the run's config.json). Then:

- "no viewer": the tab is closed as soon as the URL names the run (the server's scheduler trains it alone);
- "1 viewer": the tab stays on /train?run=ID, drawing the live curves, until the run has finished.

The figure is ``train_seconds`` from the run's summary.json (the worker's own clock around ``fit``), so worker
start-up and dataset loading are not counted. Cases alternate (no viewer, viewer, no viewer, …) so a change in
the machine's load hits both. Also printed: the server's CPU use while the run trained (from /proc/<pid>/stat).

Run: ``.venv/bin/python benchmarks/watched_run.py [--repeats 2]``. Target: ratio (no viewer ÷ viewer) ≥ 0.9.
Figures are noisy on a shared machine; never run by the tests.
"""

from __future__ import annotations

import argparse
import statistics
import time

import served_app as app
from served_app import Server

EXPECTED = {"dataset": "digits", "model": "lenet", "epochs": 10, "lr": 0.002, "batch_size": 32}


def one_run(browser, server: Server, watched: bool) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(120_000)
    run_id = app.start_run_from_train_page(page, server.url)
    run_path = server.runs_dir / run_id
    config = app.read_json(run_path / "config.json") or {}
    wrong = {k: config.get(k) for k, v in EXPECTED.items() if config.get(k) != v}
    if wrong:
        raise SystemExit(f"the Train form's defaults changed: {wrong} (expected {EXPECTED})")
    if not watched:
        context.close()  # the student closed the tab right after Start
    app.wait_status(run_path, ("running",), timeout=300)
    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    deadline = time.time() + 900
    while watched and app.run_status(run_path) in ("running", "testing") and time.time() < deadline:
        page.wait_for_timeout(500)  # the viewer's page keeps drawing (Playwright's events turn here)
    status = app.wait_status(run_path, ("finished", "stopped", "failed", "interrupted"), timeout=900)
    cpu = (server.cpu_seconds() - cpu0) / (time.perf_counter() - t0)
    if watched:
        context.close()
    summary = app.read_json(run_path / "summary.json") or {}
    if status != "finished" or not isinstance(summary.get("train_seconds"), (int, float)):
        raise SystemExit(f"run {run_id} ended {status!r} without train_seconds; see {run_path}")
    return {"train_seconds": float(summary["train_seconds"]), "server_cpu": cpu,
            "test_acc": float(summary.get("test_acc") or 0.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="pairs of runs (no viewer, 1 viewer)")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    server_cpu, browser_cpu = app.cores()
    app.pin_self(browser_cpu)
    server = Server(app.workspace(), server_cpu)
    print(f"server (and its training workers) on CPU {server_cpu}, Chromium on CPU {browser_cpu}; "
          f"up in {server.wait_healthy():.1f} s, every page opened in {server.wait_ready():.1f} s; runs in {server.runs_dir}")
    results: dict[str, list[dict[str, float]]] = {"no viewer": [], "1 viewer": []}
    try:
        with sync_playwright() as p:
            browser = app.launch_browser(p)
            for i in range(args.repeats):
                for case, done in results.items():
                    result = one_run(browser, server, watched=case == "1 viewer")
                    done.append(result)
                    print(f"  pair {i + 1}, {case:<9}: {result['train_seconds']:6.2f} s of training, "
                          f"server CPU {result['server_cpu']:6.1%} of a core, test accuracy {result['test_acc']:.1%}")
            browser.close()
    finally:
        server.stop()
    quiet = statistics.median(r["train_seconds"] for r in results["no viewer"])
    watched = statistics.median(r["train_seconds"] for r in results["1 viewer"])
    print(f"\nLeNet on digits, 10 epochs, lr 0.002, batch 32 (medians of {args.repeats}):")
    print(f"  no viewer : {quiet:6.2f} s")
    print(f"  1 viewer  : {watched:6.2f} s (server CPU {statistics.median(r['server_cpu'] for r in results['1 viewer']):.1%}"
          " of a core while it trained)")
    print(f"  ratio (no viewer ÷ 1 viewer): {quiet / watched:.2f}   target ≥ 0.9")


if __name__ == "__main__":
    main()
