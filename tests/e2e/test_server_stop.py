"""Ctrl-C / SIGTERM stop the dashboard server within seconds, even with the Train page open (torch loaded).

On main this took 10 s and more: Python joined Streamlit's file-watcher threads and tore torch down (ui/shutdown.py).
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.e2e.browser import wait_for_app
from tests.e2e.conftest import new_page, start_server

BOUND_S = 5.0  # the issue asks for 2 s; measured ≈ 1 s; the margin is for a machine shared with other jobs


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_server_stops_within_seconds(browser, tmp_path, sig):
    proc, url = start_server(tmp_path)
    page = new_page(browser)
    try:
        page.goto(url + "/train")
        wait_for_app(page)
        page.get_by_role("button", name="▶ Start training").wait_for(timeout=300_000)  # the whole page is drawn
        started = time.monotonic()
        proc.send_signal(sig)
        proc.wait(timeout=60)
        took = time.monotonic() - started
        assert took < BOUND_S, f"the server took {took:.1f} s to stop"
        assert proc.returncode == 0
    finally:
        page.context.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
