"""`scripts/dashboard --processes 2`: two dashboard processes behind nginx, each browser kept on one of them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from tests.e2e.browser import wait_for_app
from tests.e2e.conftest import ROOT, TEACHER_PASSWORD, _free_port, new_page


def wait_healthy(url: str, process, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, "serve_many.py ended"
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("no dashboard answered through nginx")


def static_file_from_nginx(url: str, timeout: float = 120) -> dict[str, str]:
    """The headers of the app's main script fetched as a browser does, once nginx sends it compressed (it packs
    Streamlit's files after it starts; Streamlit itself never compresses them)."""
    import re

    script = re.search(r'src="\./(static/js/[^"]+\.js)"', urllib.request.urlopen(url + "/").read().decode()).group(1)
    deadline = time.time() + timeout
    while True:
        request = urllib.request.Request(f"{url}/{script}", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request) as response:
            headers = {k.lower(): v for k, v in response.headers.items()}
        if headers.get("content-encoding") == "gzip" or time.time() > deadline:
            return headers
        time.sleep(0.5)


def backend_pids(process) -> list[int]:
    """The streamlit processes serve_many.py started (its children running app.py)."""
    out = subprocess.run(["pgrep", "-P", str(process.pid), "-f", "streamlit run serve.py"], capture_output=True,
                         text=True, check=False).stdout
    return [int(p) for p in out.split()]


def test_two_processes_behind_nginx_keep_each_browser_and_survive_one_dying(browser, tmp_path):
    port = _free_port()
    first_backend = _free_port()
    env = {**os.environ, "VISION_CORE_RUNS": str(tmp_path), "VISION_CORE_TEACHER_PASSWORD": TEACHER_PASSWORD,
           "VISION_CORE_WARM_PAGES": "0"}  # each process would open every page: CPU the suite needs (conftest.py)
    log = open(tmp_path / "serve_many.log", "w")  # noqa: SIM115 — closed below
    server = subprocess.Popen([sys.executable, "scripts/serve_many.py", "--processes", "2", "--port", str(port),
                               "--address", "127.0.0.1", "--first-backend-port", str(first_backend)],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    pages = []
    try:
        wait_healthy(url, server)
        assert len(backend_pids(server)) == 2
        # Streamlit's own files come from nginx, compressed and cached for good: no dashboard process serves them.
        headers = static_file_from_nginx(url)
        assert headers.get("content-encoding") == "gzip" and headers["content-type"] == "application/javascript"
        assert "immutable" in headers["cache-control"]
        routes = []
        for _ in range(4):  # four browsers: each gets a route cookie naming its process, and a whole app
            page = new_page(browser)
            pages.append(page)
            page.goto(url + "/runs")
            wait_for_app(page)
            page.get_by_role("heading", name="📊 Runs").wait_for()
            routes += [c["value"] for c in page.context.cookies() if c["name"] == "cnnlab_route"]
        # Each new browser went to the process with the fewer open connections (each page holds a websocket).
        assert sorted(routes) == ["d0", "d0", "d1", "d1"]
        # One process dies: it is started again, and every browser still gets its pages.
        os.kill(backend_pids(server)[0], signal.SIGKILL)
        time.sleep(1)
        for page in pages:
            page.reload()
            wait_for_app(page)
            page.get_by_role("heading", name="📊 Runs").wait_for()
        deadline = time.time() + 120
        while len(backend_pids(server)) < 2 and time.time() < deadline:
            time.sleep(0.5)
        assert len(backend_pids(server)) == 2, "the dead process was started again"
    finally:
        for page in pages:
            page.context.close()
        server.send_signal(signal.SIGTERM)
        try:
            assert server.wait(timeout=30) == 0  # Ctrl-C / SIGTERM stops nginx and every process
        finally:
            server.kill()
            log.close()
    assert not backend_pids(server)
