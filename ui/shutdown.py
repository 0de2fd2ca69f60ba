"""Ctrl-C / SIGTERM end the dashboard server at once; the training workers go on in their own sessions.

Why the server took 10 s and more to exit (measured with the Train page open): Streamlit's own shutdown
is quick, well under a second, but then Python

1. joins the thread pool of Streamlit's polling file watcher, which first runs every poll already queued:
   one 0.2 s sleep per watched source file, four at a time (≈ 3 s once the Train page has loaded its
   modules; ``fileWatcherType = "poll"`` in .streamlit/config.toml says why we poll), and
2. finalises the interpreter: with torch, Lightning and pandas loaded that is ~500,000 objects to tear
   down and garbage-collect, 5 s and more on a busy classroom machine.

Neither does anything this server needs: run files are written whole (write, then rename), the queue lives
in the run folders, and workers outlive the server by design. So once Streamlit's runtime has stopped
(its sessions closed), the process flushes its output and ends there.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import time

POLL_SECONDS = 0.1
STOPPED_LINE = "CNN Lab: the server has stopped; training workers go on in their own processes."
_started = False
_started_lock = threading.Lock()
_ending = threading.Lock()


def exit_when_the_server_stops() -> None:
    """Make the process end as soon as Streamlit's server has stopped (app.py calls this on every run; it acts once).

    Only under a real server: AppTest runs app.py inside pytest, whose own exit must be left alone.
    """
    global _started
    with _started_lock:
        if _started or not _under_a_server():
            return
        _started = True
    threading.Thread(target=_exit_when_stopped, name="exit-when-stopped", daemon=True).start()
    # When Streamlit's main thread gets there first (it returns once its sessions are closed, and the thread above
    # polls), Python's exit would still finalise the interpreter: end there the same way.
    atexit.register(_end_if_stopped)


@contextlib.asynccontextmanager
async def end_with_the_server(_app):
    """serve.py's lifespan for st.App: when uvicorn shuts down, stop Streamlit's runtime and end the short way.

    Why here too: under uvicorn (``streamlit run serve.py``) a signal's shutdown ends with uvicorn raising the signal
    again, which kills the process before the thread above sees the runtime stopped (exit status −15, no line).
    """
    yield
    from streamlit.runtime import Runtime

    if _under_a_server():
        runtime = Runtime.instance()
        runtime.stop()
        await runtime.stopped
        _end()


def _under_a_server() -> bool:
    from streamlit.runtime import Runtime

    return Runtime.exists() and type(Runtime.instance()) is Runtime  # AppTest installs a mock Runtime


def _exit_when_stopped() -> None:
    from streamlit.runtime import Runtime, RuntimeState

    runtime = Runtime.instance()
    while runtime.state != RuntimeState.STOPPED:  # set by Streamlit on Ctrl-C / SIGTERM, once sessions are closed
        time.sleep(POLL_SECONDS)
    _end()


def _end_if_stopped() -> None:
    """At Python's exit: end the short way when Streamlit stopped normally (any other exit keeps its own code)."""
    from streamlit.runtime import Runtime, RuntimeState

    if Runtime.exists() and Runtime.instance().state == RuntimeState.STOPPED:
        _end()


def _end() -> None:
    """Flush the logs and the output, say so, and end the process without finalising the interpreter."""
    _ending.acquire()  # once: a second caller (the thread and Python's exit at the same moment) waits for the end
    logging.shutdown()
    print(STOPPED_LINE, file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing left to say there
            pass
    os._exit(0)
