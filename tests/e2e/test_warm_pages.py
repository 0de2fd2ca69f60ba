"""The server opens every page once by itself (ui/warm_pages.py), and the class's browsers draw what it built.

The session's shared server is started as a teacher's is (conftest.py: ``open_pages=True``): after its first page
view it opens each page of the sidebar in a session no browser is attached to, then says so in its log.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.e2e.browser import PATIENT_S, wait_for_app

ROOT = Path(__file__).resolve().parents[2]


def test_the_server_opens_every_page_once_and_browsers_draw_what_it_built(app_url, runs_dir, page, shot):
    page.goto(app_url)  # a first page view: the visit begins after it (or 10 s after the start)
    wait_for_app(page)
    log = runs_dir / "streamlit.log"
    deadline = time.time() + 2 * PATIENT_S
    while "every page was opened once" not in log.read_text() and time.time() < deadline:
        time.sleep(0.5)
    text = log.read_text()
    sidebar_pages = len(re.findall(r"\bst\.Page\(", (ROOT / "app.py").read_text()))
    assert f"every page was opened once ({sidebar_pages} pages," in text
    assert "opening the page" not in text, "a page raised or hung in the server's own visit"

    # Figures built in a session without a browser reach a browser whole: the Pooling lesson's grids and the
    # Convolution step-through (its frames' Play button).
    page.goto(app_url + "/pooling")
    wait_for_app(page)
    page.locator(".js-plotly-plot").first.wait_for()
    page.goto(app_url + "/convolution")
    wait_for_app(page)
    page.locator(".js-plotly-plot .updatemenu-button").first.wait_for()
    shot(page, "convolution-after-the-servers-visit")
