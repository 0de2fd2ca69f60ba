"""A class of N students as protocol-level clients: the server's latency per page view and lesson click (issue 18.5).

``page_cost.py --students`` drives N pages of one headless Chromium. On this 2-core machine that Chromium, on its one
core, is what a class waits for: 30 pages of Streamlit's frontend to lay out and draw (the server itself spent ~6 %
of its core). Here each student is what a browser sends and receives, and nothing else: Streamlit's own websocket
protocol (``/_stcore/stream``, the BackMsg / ForwardMsg protobufs its frontend uses), so the figures are the
server's.

A student opens the app in a new session (as the teacher's link: every student at once): it fetches index.html
and the files it names, as a browser with an empty cache does, opens the websocket and waits for the run to
finish; then walks ``--walk`` pages of the sidebar (a page switch: a rerun of another page's script) and, on a
lesson page, does its interaction (a radio toggled or a button pressed, found by its label in what the page sent).
Like a browser, each student also asks for the timed fragment reruns the page announces (the sidebar's status strip
every 2 s, the class wall), for as long as it is connected. Latency is from the message sent to the server's
``script_finished`` for that run; p50 / p95 per kind of action, for each N.

The server runs as ``scripts/dashboard`` starts it, pinned to the first core; this process (all the students, one
asyncio loop) to the second. The class comes once the server has said it opened every page (ui/warm_pages.py), as
for a teacher who waits for that line; ``VISION_CORE_WARM_PAGES=0`` in this script's environment measures a server
that does not, whose first class builds the pages' figures itself.

``--processes 1 2``: the same class behind ``scripts/serve_many.py --processes N`` (nginx in front, unpinned), twice
(each process keeps its own caches: the first class finds what each process's own visit built, the second finds
everything built): page views per second and the ratio to the first N. On a 2-core machine the students' client shares
the cores with the processes (its share of a core is printed): the ratio cannot reach 2 there. ``--cpu-per-process
0.5`` gives each dashboard process half a core and no more (a cgroup, as root), leaving the rest to the client and
nginx: one process and two then compare as on a machine with a core for each.

``--idle 30``: then 30 students who open Home and stay (the sidebar strip's timed refreshes): the server's share
of a core.

Run: ``.venv/bin/python benchmarks/protocol_class.py --students 1 10 30 [--processes 1 2] [--idle 30]``. Targets (issue 18,
30 students on this 2-core machine): p95 page view ≤ 2 s, p95 lesson interaction ≤ 0.5 s; 2 processes ≥ 1.6× the
page views per second of one. Never run by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import served_app as app
import websockets
from page_cost import PAGES, print_latencies, train_one_run
from served_app import Server
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

FINISHED = ForwardMsg.ScriptFinishedStatus
TIMEOUT_S = 300

# (page path, what to do): a radio toggled between two options, or a button pressed, found by its label.
INTERACTIONS = {
    "pooling": ("radio", "Pooling"),
    "playground": ("button", "⏭ One step"),
    "losses": ("radio", "Start"),
    "evaluate": ("radio", "Show"),
}


@dataclass
class Student:
    """One browser's session, at the protocol level."""

    url: str
    socket: object = None
    pages: dict[str, str] = field(default_factory=dict)  # url path -> page script hash
    page_hash: str = ""
    elements: list = field(default_factory=list)  # the widgets the current page's last full run sent
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    timers: dict[str, asyncio.Task] = field(default_factory=dict)  # fragment id -> its auto-rerun task
    closed: bool = False
    busy: bool = False  # a full run it asked for has not finished yet

    async def connect(self) -> None:
        self.socket = await websockets.connect(self.url.replace("http", "ws", 1) + "/_stcore/stream",
                                               subprotocols=["streamlit"], max_size=None, open_timeout=TIMEOUT_S)
        asyncio.get_running_loop().create_task(self._receive())

    async def _receive(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):  # closed: the student left
            async for data in self.socket:
                msg = ForwardMsg.FromString(data)
                kind = msg.WhichOneof("type")
                if kind == "navigation":
                    self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
                    self.page_hash = msg.navigation.page_script_hash
                elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                    element = msg.delta.new_element
                    if element.WhichOneof("type") in ("radio", "button"):
                        self.elements.append(element)
                elif kind == "auto_rerun":
                    self._start_timer(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
                elif kind == "stop_auto_rerun":  # a fragment that no longer refreshes (another page)
                    for task in self.timers.values():
                        task.cancel()
                    self.timers.clear()
                elif kind == "script_finished" and msg.script_finished in (FINISHED.FINISHED_SUCCESSFULLY,
                                                                             FINISHED.FINISHED_WITH_COMPILE_ERROR):
                    self.finished.set()

    def _start_timer(self, fragment_id: str, interval: float) -> None:
        if fragment_id in self.timers:
            return

        async def tick() -> None:
            while not self.closed:
                await asyncio.sleep(interval)
                # Not while a run it asked for is on its way (nor does a browser: its page shows that run): sent
                # then, the refresh took the queued run's place and 6 of 30 students waited for ever.
                if not self.busy:
                    await self._send(fragment_id=fragment_id, is_auto_rerun=True)

        self.timers[fragment_id] = asyncio.get_running_loop().create_task(tick())

    async def _send(self, widgets: list | None = None, **state) -> None:
        msg = BackMsg()
        msg.rerun_script.page_script_hash = state.pop("page_script_hash", self.page_hash)
        for key, value in state.items():
            setattr(msg.rerun_script, key, value)
        for widget in widgets or []:
            msg.rerun_script.widget_states.widgets.append(widget)
        with contextlib.suppress(websockets.ConnectionClosed):  # closed meanwhile
            await self.socket.send(msg.SerializeToString())

    async def run(self, widgets: list | None = None, **state) -> float:
        """Seconds from sending this rerun to the end of the full run it asked for."""
        self.finished.clear()
        self.elements = []
        self.busy = True
        t0 = time.perf_counter()
        try:
            await self._send(widgets, **state)
            await asyncio.wait_for(self.finished.wait(), TIMEOUT_S)
        finally:
            self.busy = False
        return time.perf_counter() - t0

    async def interact(self, kind: str, label: str, round_: int) -> float | None:
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        element = next((e for e in self.elements if e.WhichOneof("type") == kind and
                        getattr(e, kind).label == label), None)
        if element is None:
            return None  # the page did not offer it this time
        widget = WidgetState(id=getattr(element, kind).id)
        if kind == "radio":
            widget.int_value = (element.radio.default + 1 + round_) % max(len(element.radio.options), 1)
        else:
            widget.trigger_value = True
        return await self.run([widget])

    async def close(self) -> None:
        self.closed = True
        for task in self.timers.values():
            task.cancel()
        await self.socket.close()


def fetch_page_files(url: str) -> int:
    """What a browser with an empty cache fetches before it opens the websocket: index.html and the scripts, styles
    and font it names (Streamlit's frontend loads further chunks on demand: not counted). Returns the bytes sent."""
    def get(path: str) -> bytes:  # as a browser asks: gzip accepted (nginx sends the packed files, Streamlit never)
        request = urllib.request.Request(f"{url}/{path}", headers={"Accept-Encoding": "gzip"})
        return urllib.request.urlopen(request, timeout=TIMEOUT_S).read()

    html = get("")
    total = len(html)
    if html[:2] == b"\x1f\x8b":
        import gzip

        html = gzip.decompress(html)
    for path in re.findall(r'(?:src|href)="\./(static/[^"]+)"', html.decode()):
        total += len(get(path))
    return total


async def student(url: str, index: int, walk: int, latencies: dict[str, list[float]]) -> None:
    s = Student(url)
    try:
        t0 = time.perf_counter()
        await asyncio.to_thread(fetch_page_files, url)
        t1 = time.perf_counter()
        await s.connect()
        start = PAGES[index % len(PAGES)]
        await s.run(page_script_hash="", page_name=start.path)  # as the link /<page> opened in a new tab
        latencies["page view (new session)"].append(time.perf_counter() - t0)
        latencies["  of which its files"].append(t1 - t0)
        for step in range(1, walk + 1):
            page = PAGES[(index + step) % len(PAGES)]
            latencies["page switch"].append(await s.run(page_script_hash=s.pages.get(page.path, ""),
                                                        page_name=page.path))
            if page.path in INTERACTIONS:
                took = await s.interact(*INTERACTIONS[page.path], step)
                if took is not None:
                    latencies["lesson interaction"].append(took)
    except Exception as exc:  # noqa: BLE001 — one student's failure is counted, the class goes on
        latencies["failed"].append(0.0)
        print(f"    student {index}: {type(exc).__name__}: {str(exc)[:120]}", flush=True)
    finally:
        if s.socket is not None:
            await s.close()


async def load(url: str, cpu_seconds, students: list[int], walk: int) -> float:
    """The class for each N of ``students``; returns the page views per second of the last N."""
    print(f"\n{'students':>8}  {'action':<26}{'count':>6}{'p50':>8}{'p95':>8}{'server CPU':>12}{'wall':>8}")
    throughput = 0.0
    for n in students:
        latencies: dict[str, list[float]] = {"page view (new session)": [], "  of which its files": [],
                                             "page switch": [],
                                             "lesson interaction": [], "failed": []}
        cpu0, t0, own0 = cpu_seconds(), time.perf_counter(), time.process_time()
        await asyncio.gather(*(student(url, i, walk, latencies) for i in range(n)))
        cpu, wall, own = cpu_seconds() - cpu0, time.perf_counter() - t0, time.process_time() - own0
        print_latencies(n, latencies, cpu, wall)
        views = len(latencies["page view (new session)"]) + len(latencies["page switch"])
        throughput = views / wall
        print(f"{n:>8}  page views per second: {throughput:.2f}; server CPU per page view "
              f"{1000 * cpu / max(views, 1):.0f} ms (interactions and timed refreshes included); the students' "
              f"client used {100 * own / wall:.0f} % of a core", flush=True)
    print("targets (30 students, 2 cores): p95 page view ≤ 2 s, p95 lesson interaction ≤ 0.5 s")
    return throughput


async def idle_class(url: str, cpu_seconds, n: int, seconds: float = 20.0) -> None:
    """``n`` students who opened Home and stay on it: the server's share of a core for their timed refreshes."""
    students = [Student(url) for _ in range(n)]
    for s in students:
        await s.connect()
        await s.run(page_script_hash="", page_name="")
    await asyncio.sleep(3)  # their first timed refreshes are on their way
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    await asyncio.sleep(seconds)
    share = (cpu_seconds() - cpu0) / (time.perf_counter() - t0)
    print(f"\n{n} students idle on Home for {seconds:.0f} s: the server used {100 * share:.1f} % of a core")
    for s in students:
        await s.close()


async def main_async(args) -> None:
    # Every student fetches the page's files at once: enough threads that the client never queues them.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=64))
    server_cpu, client_cpu = app.cores()
    app.pin_self(client_cpu)
    folder = app.workspace()
    train_one_run(folder)
    if args.students:
        server = Server(folder, server_cpu)
        try:
            server.wait_healthy()
            print(f"server on CPU {server_cpu}, the students on CPU {client_cpu}; every page opened "
                  f"{server.wait_ready():.1f} s after the start", flush=True)
            await load(server.url, server.cpu_seconds, [1], args.walk)  # the server's first imports, apart
            print("(above: one student on a fresh server, its imports included)")
            print("first class (the pages' figures are built by the server's own visit, or by this class when it is "
                  "off):")
            await load(server.url, server.cpu_seconds, args.students, args.walk)
            print("second class (figures built):")
            await load(server.url, server.cpu_seconds, args.students, args.walk)
            if args.idle:
                await idle_class(server.url, server.cpu_seconds, args.idle)
        finally:
            server.stop()
    if args.processes:
        results = {}
        for n in args.processes:
            many = app.ManyServers(folder, n)
            quotas = None
            try:
                many.wait_healthy()
                many.wait_ready()
                if args.cpu_per_process:
                    quotas = app.CpuQuotas(many.dashboard_pids(), args.cpu_per_process)
                limit = f", each limited to {args.cpu_per_process:g} of a core" if quotas else ", unpinned"
                print(f"\n{n} dashboard process(es) behind nginx{limit}:", flush=True)
                for backend in many.backends:  # each process's first imports, outside the figure
                    await load(backend, many.cpu_seconds, [1], args.walk)
                # Each process keeps its own caches: the first class finds what each one's own visit built (or
                # builds it, with the visit off); the second finds everything built, as the rest of a lesson does.
                size = [max(args.students or [30])]
                print("first class:")
                cold = await load(many.url, many.cpu_seconds, size, args.walk)
                print("second class (figures built):")
                results[n] = (cold, await load(many.url, many.cpu_seconds, size, args.walk))
            finally:
                many.stop()
                if quotas:
                    quotas.release()
        first = args.processes[0]
        for n, (cold, warm) in results.items():
            print(f"{n} process(es): {cold:.2f} page views/s first class, {warm:.2f} second: "
                  f"{cold / results[first][0]:.2f}× and {warm / results[first][1]:.2f}× {first} process(es)")
        print("target (issue 18): 2 processes ≥ 1.6× one")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="*", default=[1, 10, 30], help="class sizes")
    parser.add_argument("--walk", type=int, default=4, help="pages each student visits after the first")
    parser.add_argument("--processes", type=int, nargs="*", default=[], help="dashboard processes behind nginx")
    parser.add_argument("--cpu-per-process", type=float, default=0.0, metavar="CORES",
                        help="with --processes: each dashboard process limited to this much of a core (a cgroup; "
                             "root): N processes compared as on a machine with a core each")
    parser.add_argument("--idle", type=int, default=0, metavar="N",
                        help="then N students who stay on Home: the server's CPU for their timed refreshes")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
