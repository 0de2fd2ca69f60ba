"""Streamlit's frontend files reach a real browser from serve.py's memory, gzipped, and the pages work from them.

ui/frontend_files.py keeps each file as Streamlit answered it and packs the text ones once; here Chromium, with an
empty cache, opens the Convolution page (Plotly's code among the files) and draws its step-through from them.
"""

from __future__ import annotations

from tests.e2e.browser import wait_for_app
from ui.frontend_files import MIN_PACKED_BYTES


def test_a_new_browser_gets_the_frontend_gzipped_and_draws_the_page(app_url, page, shot):
    answers = []
    page.on("response", lambda r: answers.append(r) if "/static/" in r.url else None)
    page.goto(app_url + "/convolution")
    wait_for_app(page)
    page.locator(".js-plotly-plot").first.wait_for()
    shot(page, "convolution-from-kept-files")

    scripts = [r for r in answers if r.url.endswith(".js")]
    assert len(scripts) > 20, "the frontend is Streamlit's many scripts"
    assert all(r.status == 200 for r in answers)
    packed = [r for r in scripts if r.headers.get("content-encoding") == "gzip"]
    plain = [r for r in scripts if r not in packed]
    assert len(packed) > 20
    assert all(int(r.headers["content-length"]) < MIN_PACKED_BYTES for r in plain), "only the tiny ones go plain"
    # Plotly's own code (the largest file) arrived packed and ran: the figure has its frames' buttons.
    assert any("PlotlyChart" in r.url for r in packed)
    assert page.locator(".js-plotly-plot .updatemenu-button").count() > 0
