"""What a lesson costs the server (issue 18.2): the Convolution page's view, its step-through, a cell click.

Method: the dashboard is started as ``scripts/dashboard`` starts it, pinned with ``taskset`` to one core, and
Chromium (pinned to the other) opens /convolution on the textbook example. The server's own CPU seconds (from
/proc) are read around each interaction, after the page has settled: a page view in a new session, Next ▶ pressed
N times and Play to the end (the figure's own buttons), and N clicks on output cells (a fragment rerun over cached
frames). Every page also runs the status strip's 2-second timer, so the server's idle CPU over the same seconds
is measured too and printed beside each figure ("idle"); the step-through's own cost is the difference.
Then the same for the default sample photo at 24 px on its longest side (hundreds of cells, a block of 256 frames).

Run: ``.venv/bin/python benchmarks/lesson_cost.py [--clicks 5]``. Target: Next / Play 0 requests (≈ idle), a cell
click ≤ 50 ms of server CPU. Noisy on a shared machine; never run by the tests.
"""

from __future__ import annotations

import argparse
import time

from served_app import Server, cores, launch_browser, pin_self, wait_for_app, workspace

TITLE = "() => (document.querySelector('.st-key-conv_anim .js-plotly-plot .gtitle') || {}).textContent || ''"
CELL_XY = """([row, col]) => {
  const gd = document.querySelector('.st-key-conv_anim .js-plotly-plot');
  const xa = gd._fullLayout.xaxis4, ya = gd._fullLayout.yaxis4, box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.d2p(col), y: box.top + ya._offset + ya.d2p(row)};
}"""


def settle(page, seconds: float = 1.0) -> None:
    wait_for_app(page)
    time.sleep(seconds)


def measure(server: Server, action, settle_s: float = 1.0) -> tuple[float, float]:
    """(server CPU seconds, wall seconds) of ``action()`` plus a settling second."""
    cpu, wall = server.cpu_seconds(), time.perf_counter()
    action()
    time.sleep(settle_s)
    return server.cpu_seconds() - cpu, time.perf_counter() - wall


def idle(server: Server, seconds: float) -> float:
    cpu = server.cpu_seconds()
    time.sleep(seconds)
    return server.cpu_seconds() - cpu


def wait_title(page, pattern: str, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(f"() => new RegExp({pattern!r}).test(({TITLE})())", timeout=timeout_ms)


def click_output(page, row: int, col: int) -> None:
    point = page.evaluate(CELL_XY, [row, col])
    page.mouse.move(point["x"], point["y"])
    time.sleep(0.2)
    page.mouse.click(point["x"], point["y"])
    wait_title(page, rf"output\[{row}, {col}\]")
    wait_for_app(page)


def lesson(browser, server: Server, clicks: int, photo: bool) -> dict[str, str]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    result = {}

    def open_page() -> None:
        page.goto(server.url + "/convolution")
        page.wait_for_selector(".st-key-conv_anim", state="attached", timeout=120_000)
        page.locator(".st-key-conv_anim").evaluate("(e) => e.scrollIntoView({block: 'center'})")  # drawn in view
        wait_title(page, r"^Cell 1 of 16", timeout_ms=120_000)
        wait_for_app(page)

    cpu, wall = measure(server, open_page)
    result["page view (new session)"] = f"{cpu * 1000:.0f} ms CPU, {wall:.1f} s wall"
    if photo:
        def to_photo() -> None:
            page.locator("[data-testid='stRadio'] label").filter(has_text="Sample photo").first.dispatch_event("click")
            wait_title(page, r"^Cell \d+ of (?!16 )\d+")
            wait_for_app(page)

        cpu, wall = measure(server, to_photo)
        result["switch to the photo"] = f"{cpu * 1000:.0f} ms CPU, {wall:.1f} s wall"
    page.locator(".st-key-conv_anim").evaluate("(e) => e.scrollIntoView({block: 'center'})")
    settle(page)
    next_button = page.locator(".st-key-conv_anim .updatemenu-button", has_text="Next ▶").first

    def step() -> None:
        for _ in range(clicks):
            next_button.click()
            time.sleep(0.1)

    cpu, wall = measure(server, step)
    result[f"Next ▶ × {clicks}"] = f"{cpu * 1000:.0f} ms CPU in {wall:.1f} s (idle: {idle(server, wall) * 1000:.0f} ms)"
    if not photo:
        def play() -> None:
            page.locator(".st-key-conv_anim .updatemenu-button", has_text="⏩ Fast").first.click()
            wait_title(page, r"^Cell 16 of 16")

        cpu, wall = measure(server, play)
        result["Play to the end"] = f"{cpu * 1000:.0f} ms CPU in {wall:.1f} s (idle: {idle(server, wall) * 1000:.0f} ms)"
    cells = [(1, 2), (2, 3), (0, 1), (3, 0), (2, 2), (1, 1)][:clicks]
    costs = []
    for row, col in cells:
        cpu, wall = measure(server, lambda r=row, c=col: click_output(page, r, c), settle_s=0.5)
        costs.append(cpu - idle(server, wall) if wall > 1.5 else cpu)
    result[f"cell click (median of {len(costs)})"] = f"{sorted(costs)[len(costs) // 2] * 1000:.0f} ms CPU"
    context.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    server_cpu, browser_cpu = cores()
    pin_self(browser_cpu)
    with sync_playwright() as p:
        browser = launch_browser(p)
        server = Server(workspace(), server_cpu)
        try:
            server.wait_healthy()
            server.wait_ready()
            warm = browser.new_page()
            warm.goto(server.url + "/convolution")  # the first view imports the page's modules: not a lesson's cost
            warm.wait_for_selector(".st-key-conv_anim", state="attached", timeout=180_000)
            wait_for_app(warm)
            warm.close()
            for name, photo in (("textbook example (16 cells)", False), ("24 px photo", True)):
                print(f"== Convolution, {name}")
                for key, value in lesson(browser, server, args.clicks, photo).items():
                    print(f"  {key:32s} {value}")
        finally:
            server.stop()
            browser.close()


if __name__ == "__main__":
    main()
