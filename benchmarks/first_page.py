"""How fast the first page comes (issue 9.3): a cold server's Home page, then page switches in one browser tab.

Method: Chromium is started first (pinned to the second core, as this process is); then the dashboard is started
exactly as ``scripts/dashboard`` starts it (``streamlit run serve.py --server.headless true``, on its own empty
runs folder and a free port, pinned with ``taskset`` to the first core). The clock starts when ``streamlit run``
is launched. The script polls ``/_stcore/health`` every 50 ms and opens ``/`` as soon as it answers, then waits
for the Home page's title to be drawn ("home drawn") and for the script run to end ("home done"). Then it clicks
the sidebar links: each page once ("first visit": that page's own imports, e.g. torch, happen here) and once more
("warm switch"), timing the click until the page's title is drawn and its script run has ended.
The server's own CPU seconds (its process, from /proc) up to "home drawn" and per warm switch are printed too:
on a busy shared machine they move less than the wall-clock figures. Each repeat is a fresh server (a cold
start: nothing of the app imported yet; the OS file cache stays warm).

Run: ``.venv/bin/python benchmarks/first_page.py [--repeats 3]``. Targets: cold Home ≤ 3 s, warm switch ≤ 1 s.
Figures are noisy on a shared machine; never run by the tests.
"""

from __future__ import annotations

import argparse
import statistics
import time

from served_app import Server, cores, launch_browser, pin_self, wait_for_app, workspace

# Sidebar link label → the page's title (its h1). Pages that need no torch first, then the heavy ones.
PAGES = [("Pooling", "Pooling, step by step"), ("Runs", "Runs"), ("Shape explorer", "Shape explorer"),
         ("Convolution", "Convolution, step by step"), ("Train", "Train"), ("Home", "CNN Lab")]


def switch(page, label: str, title: str) -> float:
    """Seconds from clicking the sidebar link ``label`` until ``title`` is drawn and the script run ended."""
    link = page.locator("[data-testid='stSidebar'] a", has_text=label).first
    start = time.perf_counter()
    link.click()
    page.locator("h1", has_text=title).first.wait_for(timeout=120_000)
    wait_for_app(page)
    return time.perf_counter() - start


def cold_start(browser, server_cpu: int | None) -> dict[str, float]:
    server = Server(workspace(), server_cpu)
    try:
        result = {"server up": server.wait_healthy()}
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(server.url + "/")
        page.locator("h1", has_text="CNN Lab").first.wait_for(timeout=120_000)
        result["home drawn"] = time.perf_counter() - server.started
        result["server CPU s to home drawn"] = server.cpu_seconds()  # less sensitive to a busy machine than time
        wait_for_app(page)
        result["home done"] = time.perf_counter() - server.started
        for label, title in PAGES:
            result[f"first visit: {label}"] = switch(page, label, title)
        cpu = server.cpu_seconds()
        for label, title in PAGES:
            result[f"warm switch: {label}"] = switch(page, label, title)
        result["server CPU s per warm switch"] = (server.cpu_seconds() - cpu) / len(PAGES)
        result["server RSS MB"] = server.rss_mb()
        context.close()
        return result
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="cold starts (a fresh server each)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server and the browser to cores")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    server_cpu, browser_cpu = cores()
    if not args.no_pin:
        pin_self(browser_cpu)
    print(f"server on CPU {server_cpu if not args.no_pin else 'any'}, browser on CPU "
          f"{browser_cpu if not args.no_pin else 'any'}; {args.repeats} cold start(s)")
    results: list[dict[str, float]] = []
    with sync_playwright() as p:
        browser = launch_browser(p)
        for i in range(args.repeats):
            results.append(cold_start(browser, None if args.no_pin else server_cpu))
            print(f"  repeat {i + 1}: home drawn {results[-1]['home drawn']:.2f} s after `streamlit run`")
        browser.close()
    print(f"\n{'measure':<32}{'median':>9}{'min':>9}{'max':>9}")
    for key in results[0]:
        values = [r[key] for r in results]
        unit = "" if key.endswith("MB") else " s"
        print(f"{key:<32}{statistics.median(values):>9.2f}{min(values):>9.2f}{max(values):>9.2f}{unit}")
    print("\ntargets: home drawn ≤ 3 s on a cold server, warm switch ≤ 1 s")


if __name__ == "__main__":
    main()
