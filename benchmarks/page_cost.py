"""What a page view costs the server (issue 18.5): CPU per new-session view, per page switch, per lesson click.

One Streamlit process serves the whole class and runs its scripts one at a time, so the server's CPU per
interaction bounds the class. This script prints it for every page, against a one-chart hello-world page served
the same way in the same run, and (``--students``) the latency a class of N students feels.

Method: a one-epoch LeNet run is trained first (so Inside, Evaluate and Predict have a run to show). Then two
servers are started as ``scripts/dashboard`` starts the dashboard (``streamlit run … --server.headless true``,
each on a free port, both pinned with ``taskset`` to the first core): the dashboard, and a hello-world page
(``st.title`` + one ``st.plotly_chart``) written to a temp folder with a copy of the project's
``.streamlit/config.toml``, served as serve.py serves the dashboard (its frontend files from memory). This process, Playwright's driver and one headless Chromium are pinned to the second
core, so the figures are the server's. A server's CPU is utime+stime of its process (all its threads) from
/proc/<pid>/stat, from just before the browser acts until the script run ended (Streamlit's ``script_finished``
message on the page's websocket) and the process's CPU then stayed still for 0.3 s; the server's idle rate
(measured first, with no browser: the file watcher) times the window is subtracted. Throughout, one idle
websocket session stays connected to each server, as the teacher's tab does in a class (Streamlit empties its
compiled-script cache whenever a server's last session leaves; no class sees that).

1. "first view": each page once, in a new browser context, on the fresh server (imports happen here).
2. Then ``--repeats`` rounds; each round: every dashboard page in a new browser context ("new session": empty cache
   and cookies, as a first visit, a refresh or the teacher's shared link), each after the hello page likewise, then one
   context that opens Home and clicks every sidebar link twice ("first switch": the browser also fetches the code
   Streamlit's frontend loads for that page's elements, once per browser; "switch": the page alone), then the lesson interactions (Next ▶ on the
   step-throughs, a shape change, one Playground step, a radio on Losses and Evaluate). Medians over the rounds;
   the ratio is to the hello page's median of the same run.
3. ``--students 1 10 30``: N browser contexts in the one Chromium, started together, each a student who opens the
   app in a new session, then walks ``--walk`` pages of the sidebar (a page switch and, on a lesson page, its
   interaction). p50/p95 latency (action → its script run ended, seen by the browser) per kind of action.

4. ``--processes 1 2``: the class of the largest ``--students`` behind ``scripts/serve_many.py --processes N`` (nginx
   in front of N dashboard processes, for every N), unpinned: page views per second, and the ratio to one process.

Run: ``.venv/bin/python benchmarks/page_cost.py --repeats 3 [--students 1 10] [--compare ../main]``;
``--repeats 0 --no-pin --students 30 --processes 1 2`` for the throughput of several processes
(``--compare DIR`` serves another checkout's dashboard beside this one and measures both, interleaved). Targets (issue 18): new-session
view median ≤ 2.5× hello (goal 1.5×); page switch median ≤ 30 ms, none over 100 ms of server CPU; 30 students:
p95 page view ≤ 2 s, p95 interaction ≤ 0.5 s. Noisy on a shared machine (compare the ratios of one run); never
run by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import served_app as app
import websockets
from served_app import ROOT, Server

QUIET_S = 0.3  # the server's CPU stayed still this long: the work the action caused is done
TIMEOUT_MS = 180_000


@dataclass(frozen=True)
class Page:
    label: str  # the sidebar link
    path: str  # the URL path
    title: str  # part of the page's h1


PAGES = [Page("Home", "", "CNN Lab"), Page("Train", "train", "Train"), Page("Runs", "runs", "Runs"),
         Page("Overfitting lab", "regularisation", "Overfitting lab"),
         Page("Convolution", "convolution", "Convolution, step by step"),
         Page("Pooling", "pooling", "Pooling, step by step"), Page("Shape explorer", "shapes", "Shape explorer"),
         Page("Playground", "playground", "Playground"), Page("Losses", "losses", "Losses"),
         Page("Inside the network", "inside", "Inside the network"), Page("Evaluate", "evaluate", "Evaluate"),
         Page("Predict", "predict", "Predict")]

HELLO = '''import plotly.graph_objects as go
import streamlit as st

st.title("Hello")
st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 3, 2])))
'''

# The hello page is served as serve.py serves the dashboard: under uvicorn, Streamlit's files from memory.
HELLO_SERVE = f'''import sys

sys.path.insert(0, {str(ROOT)!r})

import streamlit as st
from starlette.middleware import Middleware

from ui.frontend_files import FrontendFiles

app = st.App("hello.py", middleware=[Middleware(FrontendFiles)])
'''


# ---- lesson interactions: (page path, name, action(page, round)); each changes something every round ----------

async def click_button(page, name: str) -> bool:
    button = page.get_by_role("button", name=name, exact=True)
    if not await button.count():
        return False  # this page no longer has the button (e.g. stepping moved into the browser)
    await button.first.click()
    return True


async def toggle_radio(page, label: str, options: tuple[str, str], round_: int) -> bool:
    wanted = options[round_ % 2]
    group = page.locator("[data-testid='stRadio']", has_text=label).filter(
        has=page.get_by_text(wanted, exact=True)).first  # "Show" alone also matched a hidden radio of the page
    option = group.get_by_text(wanted, exact=True)
    if not await group.count() or not await option.count() or not await option.first.is_visible():
        return False  # the page changed: the interaction is reported missing, not waited for
    await option.first.click()
    return True


async def set_number(page, label: str, values: tuple[int, int], round_: int) -> bool:
    field_ = page.get_by_label(label, exact=True)
    if not await field_.count():
        return False
    await field_.first.fill(str(values[round_ % 2]))
    await field_.first.press("Enter")
    return True


INTERACTIONS = [
    ("convolution", "Convolution: Next ▶", lambda p, r: click_button(p, "Next ▶")),
    ("pooling", "Pooling: Next ▶", lambda p, r: click_button(p, "Next ▶")),
    ("pooling", "Pooling: max/average", lambda p, r: toggle_radio(p, "Pooling", ("Average", "Max"), r)),
    ("shapes", "Shape explorer: channels", lambda p, r: set_number(p, "Channels", (24, 16), r)),
    ("playground", "Playground: one step", lambda p, r: click_button(p, "⏭ One step")),
    ("losses", "Losses: probabilities/logits", lambda p, r: toggle_radio(p, "Start", ("from logits", "from probabilities"), r)),
    ("evaluate", "Evaluate: counts/shares", lambda p, r: toggle_radio(
        p, "Show", ("share of each true class", "counts"), r)),
]


# ---- one browser page, watched through its websocket -----------------------------------------------------------

class Watched:
    """A Playwright page whose Streamlit script runs are counted (``script_finished`` on its websocket)."""

    def __init__(self, page) -> None:
        self.page = page
        self.finished = 0  # full runs and fragment runs that ended
        self.event = asyncio.Event()
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if isinstance(payload, str):
            payload = payload.encode()
        message = ForwardMsg()
        try:
            message.ParseFromString(payload)
        except Exception:  # noqa: BLE001 — not a ForwardMsg
            return
        if message.WhichOneof("type") == "script_finished" and \
                message.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
            self.finished += 1
            self.event.set()

    async def wait_run(self, after: int, timeout: float = TIMEOUT_MS / 1000) -> None:
        """Until a script run ends after ``after`` runs had ended."""
        deadline = time.perf_counter() + timeout
        while self.finished <= after:
            self.event.clear()
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError("no script run ended")
            try:
                await asyncio.wait_for(self.event.wait(), timeout=left)
            except asyncio.TimeoutError:
                pass


async def new_session(browser, url: str) -> tuple[object, Watched]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return context, Watched(page)


async def open_page(watched: Watched, url: str, title: str) -> None:
    runs = watched.finished
    await watched.page.goto(url, wait_until="commit")
    await watched.wait_run(runs)
    await watched.page.locator("h1", has_text=title).first.wait_for()


async def switch_to(watched: Watched, page: Page) -> None:
    runs = watched.finished
    await watched.page.locator("[data-testid='stSidebar'] a", has_text=page.label).first.click()
    await watched.page.locator("h1", has_text=page.title).first.wait_for()
    await watched.wait_run(runs)


# ---- server CPU around one action ----------------------------------------------------------------------------

class Meter:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.idle_rate = 0.0  # CPU s per s with no browser (the file watcher's polls)

    async def measure_idle(self, seconds: float = 15.0) -> None:
        # /proc counts CPU in 10 ms ticks: over 3 s the rate came out anywhere from 3 to 10 ms/s (a long measure of
        # the same server: 4-5 ms/s), moving every view's figure by up to 10 ms once multiplied by its window.
        await self.settle()
        start, t0 = self.server.cpu_seconds(), time.perf_counter()
        await asyncio.sleep(seconds)
        self.idle_rate = (self.server.cpu_seconds() - start) / (time.perf_counter() - t0)

    async def settle(self, timeout: float = 30.0) -> None:
        """Until the server's CPU stayed still for QUIET_S."""
        deadline = time.perf_counter() + timeout
        last, still_since = self.server.cpu_seconds(), time.perf_counter()
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
            now = self.server.cpu_seconds()
            if now != last:
                last, still_since = now, time.perf_counter()
            elif time.perf_counter() - still_since >= QUIET_S:
                return

    async def cost(self, action) -> tuple[float, float]:
        """(server CPU s, wall s to the end of the script run) of ``await action()``; None CPU if it did nothing."""
        await self.settle()
        cpu0, t0 = self.server.cpu_seconds(), time.perf_counter()
        done = await action()
        wall = time.perf_counter() - t0
        if done is False:
            return float("nan"), float("nan")
        await self.settle()
        elapsed = time.perf_counter() - t0 - QUIET_S  # the quiet tail cost nothing by definition
        return max(0.0, self.server.cpu_seconds() - cpu0 - self.idle_rate * elapsed), wall


@dataclass
class Table:
    rows: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, value: float) -> None:
        if not math.isnan(value):  # NaN: the page no longer offers this action
            self.rows.setdefault(key, []).append(value)

    def median(self, key: str) -> float:
        values = self.rows.get(key)
        return statistics.median(values) if values else float("nan")


# ---- the single-browser measurement --------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def a_session_stays_open(servers: list[Server]):
    """One idle websocket session on each server while measuring, as the teacher's tab is during a class.

    Streamlit empties its compiled-script cache whenever the last session of a server leaves, so with every browser
    context closed after its view each new session compiled app.py and its page again, which no class sees (the
    hello page, one short script, hardly paid it). The session is only connected: it runs no script, so it adds
    nothing to what is measured.
    """
    sockets = [await websockets.connect(server.url.replace("http", "ws", 1) + "/_stcore/stream",
                                        subprotocols=["streamlit"], max_size=None) for server in servers]
    try:
        yield
    finally:
        for socket in sockets:
            await socket.close()


async def measure(browser, dashes: dict[str, Server], hello: Server, repeats: int, pages: list[Page]) -> None:
    """``dashes``: the dashboard (and, with --compare, another checkout of it), measured side by side."""
    async with a_session_stays_open([*dashes.values(), hello]):
        await _measure(browser, dashes, hello, repeats, pages)


async def _measure(browser, dashes: dict[str, Server], hello: Server, repeats: int, pages: list[Page]) -> None:
    meters = {name: Meter(server) for name, server in dashes.items()}
    hello_meter = Meter(hello)
    for meter in [*meters.values(), hello_meter]:
        await meter.measure_idle()
    print("idle CPU (file watcher): " + ", ".join(f"{name} {m.idle_rate * 1000:.1f} ms/s" for name, m in
                                                  [*meters.items(), ("hello", hello_meter)]))
    cpu, wall = {name: Table() for name in [*dashes, "hello"]}, {name: Table() for name in [*dashes, "hello"]}

    async def view(name: str, server: Server, meter: Meter, path: str, title: str, key: str) -> None:
        context, watched = await new_session(browser, server.url)
        try:
            c, w = await meter.cost(lambda: open_page(watched, f"{server.url}/{path}", title))
        finally:
            await context.close()
        cpu[name].add(key, c)
        wall[name].add(key, w)

    async def session(name: str, server: Server, meter: Meter, round_: int) -> None:
        """Home, then every sidebar link ("switch"), then the lesson interactions of the pages measured."""
        context, watched = await new_session(browser, server.url)
        try:
            await open_page(watched, server.url + "/", "CNN Lab")
            for kind in ("first switch", "switch"):  # the browser fetches a page's code the first time only
                for page in [*pages, PAGES[0]]:
                    c, w = await meter.cost(lambda page=page: switch_to(watched, page))
                    cpu[name].add(f"{kind}: {page.label}", c)
                    wall[name].add(f"{kind}: {page.label}", w)
            for path, action, act in INTERACTIONS:
                target = next((p for p in pages if p.path == path), None)
                if target is None:
                    continue
                await switch_to(watched, target)

                async def interact(act=act) -> bool:
                    runs = watched.finished
                    if not await act(watched.page, round_):
                        return False
                    await watched.wait_run(runs)
                    return True

                c, w = await meter.cost(interact)
                cpu[name].add(f"click: {action}", c)
                wall[name].add(f"click: {action}", w)
        finally:
            await context.close()

    await view("hello", hello, hello_meter, "", "Hello", "first view: hello")
    for page in pages:
        for name, server in dashes.items():
            await view(name, server, meters[name], page.path, page.title, f"first view: {page.label}")
        print(f"  first view of {page.label}: " + ", ".join(
            f"{name} {cpu[name].rows[f'first view: {page.label}'][-1]:.2f} s CPU" for name in dashes), flush=True)

    for round_ in range(repeats):
        for page in pages:
            # The hello page beside every dashboard page, not once a round: one view is ~25 ms, two or three of
            # /proc's 10 ms ticks, and a median of two such views (--repeats 2) came out anywhere from 12 to 27 ms.
            await view("hello", hello, hello_meter, "", "Hello", "view: hello")
            for name, server in dashes.items():
                await view(name, server, meters[name], page.path, page.title, f"view: {page.label}")
        for name, server in dashes.items():
            await session(name, server, meters[name], round_)
        print(f"  round {round_ + 1}/{repeats} done", flush=True)

    hello_cpu = cpu["hello"].median("view: hello")
    print(f"\nhello-world page, new session: {hello_cpu * 1000:.0f} ms of server CPU "
          f"(first view {cpu['hello'].median('first view: hello') * 1000:.0f} ms)")
    names = list(dashes)
    header = "".join(f"{name + ' ms':>14}{'× hello':>8}{'wall s':>8}" for name in names)
    print(f"\n{'server CPU per action (median)':<40}{header}")
    for key in cpu[names[0]].rows:
        line = f"{key:<40}"
        for name in names:
            c = cpu[name].median(key)
            ratio = f"{c / hello_cpu:>8.2f}" if key.startswith(("view", "first")) else " " * 8
            line += f"{c * 1000:>14.0f}{ratio}{wall[name].median(key):>8.2f}"
        print(line)
    for name in names:
        views = [cpu[name].median(f"view: {p.label}") for p in pages]
        print(f"\n{name}: new-session view, median over the pages: {statistics.median(views) * 1000:.0f} ms = "
              f"{statistics.median(views) / hello_cpu:.2f}× hello; target ≤ 2.5×, goal 1.5×")
        for kind in ("first switch", "switch"):
            switches = [cpu[name].median(f"{kind}: {p.label}") for p in [*pages, PAGES[0]]]
            print(f"{name}: {'page ' + kind:<19} median over the pages: {statistics.median(switches) * 1000:.0f} ms, "
                  f"worst {max(switches) * 1000:.0f} ms; target median ≤ 30 ms, none over 100 ms")


# ---- the class: N students at once ---------------------------------------------------------------------------

async def student(browser, dash: Server, index: int, walk: int, latencies: dict[str, list[float]]) -> None:
    context, watched = await new_session(browser, dash.url)
    try:
        start = PAGES[index % len(PAGES)]
        t0 = time.perf_counter()
        await open_page(watched, f"{dash.url}/{start.path}", start.title)
        latencies["page view (new session)"].append(time.perf_counter() - t0)
        for step in range(1, walk + 1):
            page = PAGES[(index + step) % len(PAGES)]
            t0 = time.perf_counter()
            await switch_to(watched, page)
            latencies["page switch"].append(time.perf_counter() - t0)
            for path, _name, act in INTERACTIONS:
                if path != page.path:
                    continue
                runs, t0 = watched.finished, time.perf_counter()
                if await act(watched.page, step):
                    await watched.wait_run(runs)
                    latencies["lesson interaction"].append(time.perf_counter() - t0)
                break
    except Exception as exc:  # noqa: BLE001 — one student's failure is counted, the class goes on
        latencies["failed"].append(0.0)
        print(f"    student {index}: {type(exc).__name__}: {str(exc)[:120]}", flush=True)
    finally:
        await context.close()


def print_latencies(n: int, latencies: dict[str, list[float]], cpu: float, wall: float) -> None:
    """One line per kind of action of a class of ``n``: count, p50, p95, the server's CPU and the wall time."""
    for kind, values in latencies.items():
        if kind == "failed" or not values:
            continue
        values = sorted(values)
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        print(f"{n:>8}  {kind:<26}{len(values):>6}{statistics.median(values):>7.2f}s{p95:>7.2f}s"
              f"{cpu:>11.1f}s{wall:>7.1f}s", flush=True)
    if latencies["failed"]:
        print(f"{n:>8}  {len(latencies['failed'])} student(s) failed", flush=True)


async def load(browser, dash: Server, students: list[int], walk: int) -> float:
    """The class load for each N of ``students``; returns the page views per second of the last (largest) N."""
    print(f"\n{'students':>8}  {'action':<26}{'count':>6}{'p50':>8}{'p95':>8}{'server CPU':>12}{'wall':>8}")
    throughput = 0.0
    for n in students:
        latencies: dict[str, list[float]] = {"page view (new session)": [], "page switch": [],
                                             "lesson interaction": [], "failed": []}
        cpu0, t0 = dash.cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(student(browser, dash, i, walk, latencies) for i in range(n)))
        cpu, wall = dash.cpu_seconds() - cpu0, time.perf_counter() - t0
        print_latencies(n, latencies, cpu, wall)
        views = len(latencies["page view (new session)"]) + len(latencies["page switch"])
        throughput = views / wall
        print(f"{n:>8}  page views (new sessions and switches) per second: {throughput:.2f}")
    print("targets (30 students, 2 cores): p95 page view ≤ 2 s, p95 lesson interaction ≤ 0.5 s")
    return throughput


async def processes_throughput(browser, folder: Path, processes: list[int], students: int, walk: int) -> None:
    """The same class behind ``scripts/serve_many.py --processes N`` for each N (nginx in front of every N, 1
    included, so the proxy is the same): page views per second, and each N's ratio to the first."""
    results = {}
    for n in processes:
        many = app.ManyServers(folder, n)
        try:
            many.wait_healthy()
            many.wait_ready()
            print(f"\n{n} dashboard process(es) behind nginx:", flush=True)
            await load(browser, many, [1], walk)  # each process's first imports, outside the figure
            results[n] = await load(browser, many, [students], walk)
        finally:
            many.stop()
    first = processes[0]
    for n, rate in results.items():
        print(f"{n} process(es): {rate:.2f} page views/s, {rate / results[first]:.2f}× {first} process(es)")
    print("target (issue 18): 2 processes ≥ 1.6× one")


# ---- set-up ----------------------------------------------------------------------------------------------------

def train_one_run(folder: Path) -> None:
    """A one-epoch LeNet run on the digits, so the pages that show a trained network have one."""
    subprocess.run([sys.executable, "-m", "vision_core.cli", "train", "--dataset", "digits", "--model", "lenet",
                    "--epochs", "1", "--runs-dir", str(folder / "runs")], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)


def hello_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="cnnlab-hello-"))
    (folder / "hello.py").write_text(HELLO)
    (folder / "serve.py").write_text(HELLO_SERVE)
    shutil.copytree(ROOT / ".streamlit", folder / ".streamlit")
    return folder


async def main_async(args) -> None:
    from playwright.async_api import async_playwright

    server_cpu, browser_cpu = app.cores()
    if not args.no_pin:
        app.pin_self(browser_cpu)
    pin = None if args.no_pin else server_cpu
    folder = app.workspace()
    if not args.no_run:
        train_one_run(folder)
    hello_dir = hello_folder()
    dash = Server(folder, pin)
    hello = Server(hello_dir, pin, script="serve.py", cwd=hello_dir)
    dashes = {"dashboard": dash}
    if args.compare:  # another checkout (e.g. main, before a change), on the same runs folder
        other = Path(args.compare).resolve()
        dashes[other.name] = Server(folder, pin, env={"PYTHONPATH": str(other)}, cwd=other)
    pages = [p for p in PAGES if not args.pages or p.label in args.pages or p.path in args.pages]
    try:
        for server in [*dashes.values(), hello]:
            server.wait_healthy()
            server.wait_ready()
        print(f"servers on CPU {server_cpu if pin is not None else 'any'}, browser on CPU "
              f"{browser_cpu if pin is not None else 'any'}; {args.repeats} round(s)", flush=True)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=app.CHROMIUM, headless=True, args=app.CHROMIUM_FLAGS)
            if args.repeats:
                await measure(browser, dashes, hello, args.repeats, pages)
            if args.students:
                await load(browser, dash, args.students, args.walk)
            if args.processes:
                await processes_throughput(browser, folder, args.processes, max(args.students or [30]), args.walk)
            await browser.close()
        print("server RSS: " + ", ".join(f"{name} {server.rss_mb():.0f} MB" for name, server in
                                         [*dashes.items(), ("hello", hello)]))
    finally:
        for server in [*dashes.values(), hello]:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds of new-session views, switches and clicks")
    parser.add_argument("--students", type=int, nargs="*", default=[], help="class sizes for the load run")
    parser.add_argument("--walk", type=int, default=4, help="pages each student visits after the first")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the servers and the browser to cores")
    parser.add_argument("--no-run", action="store_true", help="skip training the one-epoch run first")
    parser.add_argument("--compare", metavar="DIR", help="also serve the dashboard of another checkout (e.g. "
                        "/path/to/main), measured side by side in the same run")
    parser.add_argument("--processes", type=int, nargs="*", default=[],
                        help="also run the class (the largest --students, else 30) behind scripts/serve_many.py with "
                             "each of these numbers of processes, unpinned: page views per second (e.g. 1 2)")
    parser.add_argument("--pages", nargs="*", default=[], help="only these pages (sidebar labels or URL paths)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
