"""Browser end-to-end tests: `streamlit run serve.py` (app.py behind ui/frontend_files.py) on a free port, driven by Playwright in Debian's chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.browser import PATIENT_MS, PATIENT_S

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  # A camera for the pages that take photos: the fake one streams a test pattern and the permission
                  # prompt is answered yes (no real device, no click). One browser for every test: Playwright's sync
                  # API runs one instance per process, so a test cannot launch a second browser of its own.
                  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e-runs")


TEACHER_PASSWORD = "e2e-teacher-password"


def start_server(runs_dir: Path, port: int | None = None, log_name: str = "streamlit.log", open_pages: bool = False):
    """``streamlit run serve.py`` as the README says, on a local port; returns (process, url).

    ``open_pages``: the server opens every page once after its first page view, as it does for a teacher
    (ui/warm_pages.py). The session's shared server does; the others, started for one test each, leave it out: each
    visit is ~6 s of CPU that the two cores of the suite would spend again and again."""
    port = port or _free_port()
    env = {**os.environ, "VISION_CORE_RUNS": str(runs_dir), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
           "VISION_CORE_TEACHER_PASSWORD": TEACHER_PASSWORD, "VISION_CORE_WARM_PAGES": "1" if open_pages else "0"}
    log_path = runs_dir / log_name
    with open(log_path, "a") as log:  # the server keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "serve.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + PATIENT_S
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {log_path.read_text()}") from None
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("streamlit did not start in 90 s")


def stop_server(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def app_url(runs_dir):
    """The dashboard, started exactly as the README says, on a free local port."""
    proc, url = start_server(runs_dir, open_pages=True)
    yield url
    stop_server(proc)
    stop_workers(runs_dir)


@pytest.fixture(autouse=True)
def _no_run_outlives_its_test(request):
    """A failed browser test must not leave a 200-epoch worker eating the CPU of every test after it."""
    yield
    if "runs_dir" in request.fixturenames:
        stop_workers(request.getfixturevalue("runs_dir"))


def stop_workers(runs_dir: Path) -> None:
    """Workers outlive the server by design: ask every run still training to stop."""
    from vision_core.runs import store as runs
    from vision_core.training.live import RemoteControl

    for run in runs.list_runs(runs_dir):
        if run.state in runs.ACTIVE_STATUSES:
            RemoteControl(run.path).stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def new_page(browser):
    """A page in a fresh browser context: its own cookies, so its own person."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(PATIENT_MS)
    return page


_open_pages: list = []  # this test's pages, for a screenshot of each if it fails


@pytest.fixture
def page(browser):
    page = new_page(browser)
    _open_pages.append(page)
    yield page
    page.context.close()


@pytest.fixture
def person(browser):
    """person() opens a page in a fresh browser context (another person); all are closed after the test, so a
    failing test's pages are still open for the failure screenshots."""
    pages = []

    def open_one():
        pages.append(new_page(browser))
        _open_pages.append(pages[-1])
        return pages[-1]

    yield open_one
    for one in pages:
        one.context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing browser test leaves test-artifacts/<test>/failed-<n>.png of every page it still has open: what the
    browser showed when the wait ran out (a lost click, an error box, a page still drawing)."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        folder = ARTIFACTS / item.name
        folder.mkdir(parents=True, exist_ok=True)
        for n, open_page in enumerate(p for p in _open_pages if not p.is_closed()):
            try:
                open_page.screenshot(path=str(folder / f"failed-{n}.png"), full_page=True, timeout=30_000)
            except Exception:  # noqa: BLE001, S110 — a screenshot must not hide the test's own failure
                pass
    if report.when == "teardown":
        _open_pages.clear()


@pytest.fixture
def shot(request):
    """shot(page, "name") keeps a full-page screenshot under test-artifacts/<test>/ (look at them)."""
    folder = ARTIFACTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1, 100))

    def take(page, name: str, top: bool = False) -> Path:
        if top:  # Streamlit scrolls its main container, not the document
            page.evaluate("document.querySelector(\"[data-testid='stMain']\")?.scrollTo(0, 0)")
            page.wait_for_timeout(300)
        path = folder / f"{next(counter):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
