"""A link opened straight onto a page of a cold server gets the whole app: sidebar, wide layout, no raw names."""

from __future__ import annotations

from tests.e2e.browser import wait_for_app
from tests.e2e.conftest import new_page, start_server, stop_server

RAW_NAMES = ("app", "home", "train", "runs", "convolution", "inside", "evaluate", "predict")


def test_a_cold_servers_first_request_to_a_page_runs_through_app_py(browser, tmp_path, shot):
    proc, url = start_server(tmp_path)  # nobody has opened this server yet
    page = new_page(browser)
    try:
        page.goto(url + "/runs")
        wait_for_app(page)
        sidebar = page.locator("[data-testid='stSidebar']")
        page.get_by_role("heading", name="📊 Runs").wait_for()
        sidebar.get_by_text("Training now").wait_for()
        sidebar.locator("a", has_text="Home").wait_for()
        links = [t.strip() for t in sidebar.locator("a").all_inner_texts()]
        assert any("Home" in t for t in links) and any("Runs" in t for t in links), links
        assert not set(links) & set(RAW_NAMES)  # Streamlit's own file-name list never shows
        assert page.locator("[data-testid='stSidebar']").count() == 1
        shot(page, "cold-runs")
    finally:
        page.context.close()
        stop_server(proc)
