"""Every page opened once by the server itself, soon after it starts: the class finds the pages' figures built.

A page's first view builds what every later view of it reuses, for the whole server (ui/shared_figures.py and the
pages' other caches: the lesson figures, the Train form's dataset and samples, the Convolution page's photo, Inside's
four lesson networks). Built by whoever came first, that cost landed on a class arriving at a freshly started
server: 30 students following the teacher's link waited p95 1.9–2.2 s for their page, the same class a second time
1.0 s (benchmarks/protocol_class.py). So serve.py's start-up opens every page once in a session of its own that no
browser is attached to (what the pages send is dropped): Home first, then every page of the sidebar in its order,
one at a time. Its runs take turns like any student's (ui/turns.py), so a student who comes early waits behind one
page at most. It is a new visitor: no cookie, no runs of its own, nothing written anywhere; it sees and builds what
a new student's first view does. When it is done the server says so.

It begins once the first browser's first page is drawn (whose end starts ui/warm.py's imports), or
``FIRST_PAGE_WAIT_S`` after the start when no browser came: begun at once, it drew the imports into the teacher's
first page (cold server to Home drawn 3.6 s instead of 2.8 s, benchmarks/first_page.py).

``VISION_CORE_WARM_PAGES=0`` (or ``VISION_CORE_WARM_IMPORTS=0``: a server short of memory) turns it off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from ui import warm

READY_LINE = "CNN Lab: every page was opened once ({pages} pages, {seconds:.0f} s): its figures are built for the class."
FIRST_PAGE_WAIT_S = 10.0
PAGE_TIMEOUT_S = 300.0  # a page that takes longer (a machine under load) is left to finish; the visit goes on
_ENDED = (ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY,
          ForwardMsg.ScriptFinishedStatus.FINISHED_WITH_COMPILE_ERROR)
_LOGGER = logging.getLogger(__name__)


def wanted() -> bool:
    return os.environ.get("VISION_CORE_WARM_PAGES") != "0" and os.environ.get("VISION_CORE_WARM_IMPORTS") != "0"


class NoBrowser:
    """The far end of the server's own session (a Streamlit ``SessionClient``): keeps only which pages the app has,
    what a page raised, and when a run has ended. Called from the script's thread and from the event loop."""

    client_context = None  # no headers, cookies or address: st.context answers as for a bare run

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.pages: list[str] = []  # the sidebar's url paths, in its order (Home is "")
        self.raised: list[str] = []
        self.ended = asyncio.Event()

    def write_forward_msg(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "navigation":
            self.pages = [page.url_pathname for page in msg.navigation.app_pages]
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            if msg.delta.new_element.WhichOneof("type") == "exception":
                self.raised.append(msg.delta.new_element.exception.message)
        elif kind == "script_finished" and msg.script_finished in _ENDED:
            self._loop.call_soon_threadsafe(self.ended.set)


async def open_every_page(page_timeout_s: float = PAGE_TIMEOUT_S) -> dict[str, float]:
    """Open Home, then every other page of the sidebar, in one new session; returns each page's seconds.

    Runs on the server's event loop (Streamlit's Runtime wants its sessions handled there)."""
    from streamlit.runtime import Runtime

    runtime = Runtime.instance()
    browser = NoBrowser(asyncio.get_running_loop())
    session_id = runtime.connect_session(client=browser, user_info={})
    took: dict[str, float] = {}
    try:
        to_open = [""]
        while to_open:
            path = to_open.pop(0)
            browser.ended.clear()
            raised_before = len(browser.raised)
            msg = BackMsg()
            msg.rerun_script.page_name = path
            msg.rerun_script.page_script_hash = ""  # the page is found by its name, as for a link opened anew
            t0 = time.perf_counter()
            runtime.handle_backmsg(session_id, msg)
            try:
                await asyncio.wait_for(browser.ended.wait(), page_timeout_s)
            except asyncio.TimeoutError:
                _LOGGER.warning("opening the page %r took over %.0f s; going on", path, page_timeout_s)
            took[path] = time.perf_counter() - t0
            for message in browser.raised[raised_before:]:
                _LOGGER.warning("opening the page %r raised: %s", path, message)
            if path == "":  # Home's run told us the sidebar's pages
                to_open = [page for page in browser.pages if page != ""]
    finally:
        runtime.close_session(session_id)
    return took


@contextlib.asynccontextmanager
async def opened_in_the_background():
    """serve.py's lifespan part: open every page once while the server serves (stopped with it)."""
    task = asyncio.create_task(_open_and_say_so()) if wanted() else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()


async def _open_and_say_so() -> None:
    started = time.perf_counter()
    try:
        while not warm.started() and time.perf_counter() - started < FIRST_PAGE_WAIT_S:
            await asyncio.sleep(0.1)
        t0 = time.perf_counter()  # the visit's own time (the imports it waits for included), not the wait above
        took = await open_every_page()
    except Exception:  # the server serves on; each page's figures are built by its first visitor instead
        _LOGGER.warning("opening every page once failed", exc_info=True)
        return
    print(READY_LINE.format(pages=len(took), seconds=time.perf_counter() - t0), file=sys.stderr, flush=True)
