"""Ctrl-C / SIGTERM stop the dashboard server within seconds, even with the Train page open (torch loaded).

On main this took 10 s and more: Python joined Streamlit's file-watcher threads and tore torch down (ui/shutdown.py).
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.e2e.browser import wait_for_app
from tests.e2e.conftest import new_page, start_server
from ui.shutdown import STOPPED_LINE

# The issue asks for 2 s; measured ≈ 1 s on a quiet machine, 5.9 s beside a 2-core CPU hog. The bound is loose so
# a busy CI machine does not fail it; what proves the fix is that the process ended on its own short path (the
# line ui/shutdown.py prints before os._exit) rather than by finalising the interpreter (10 s and more, quiet).
BOUND_S = 15.0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_server_stops_within_seconds(browser, tmp_path, sig):
    proc, url = start_server(tmp_path)
    page = new_page(browser)
    try:
        page.goto(url + "/train")
        wait_for_app(page)
        page.get_by_role("button", name="▶ Start training").wait_for()  # the whole page is drawn
        started = time.monotonic()
        proc.send_signal(sig)
        proc.wait(timeout=60)
        took = time.monotonic() - started
        assert took < BOUND_S, f"the server took {took:.1f} s to stop"
        assert proc.returncode == 0
        assert STOPPED_LINE in (tmp_path / "streamlit.log").read_text()
    finally:
        page.context.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
