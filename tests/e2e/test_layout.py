"""The pages live in pages/, yet the sidebar never shows Streamlit's list of their raw file names, not even for
a moment on a cold server's first load, and every URL still routes through app.py.

A MutationObserver, installed before the page's own scripts run, records every moment the sidebar holds
Streamlit's own page list or a line that is a raw file name; the tests assert it recorded nothing.
"""

from __future__ import annotations

from urllib.parse import urlparse

from tests.e2e.browser import wait_for_app
from tests.e2e.conftest import ROOT, new_page, start_server, stop_server

# What Streamlit's own list would show: the file names of pages/ (and the main script's), lower case.
RAW_NAMES = sorted({p.stem for p in (ROOT / "pages").glob("*.py")} | {"app", "pages"})

# url path → the page's title (its h1)
PAGES = {"": "CNN Lab", "train": "Train", "runs": "Runs", "convolution": "Convolution, step by step",
         "pooling": "Pooling, step by step", "shapes": "Shape explorer", "inside": "Inside the network",
         "evaluate": "Evaluate", "predict": "Predict"}
SIDEBAR_TITLES = ["Home", "Train", "Runs", "Convolution", "Pooling", "Shape explorer", "Inside the network",
                  "Evaluate", "Predict"]

WATCH_SIDEBAR = """
(raw) => {
  window.__rawSeen = [];
  const names = new Set(raw);
  const check = () => {
    const nav = document.querySelector("[data-testid='stSidebarNav'], [data-testid='stSidebarNavItems']");
    if (nav) window.__rawSeen.push("Streamlit's page list: " + nav.innerText.slice(0, 200));
    const sidebar = document.querySelector("[data-testid='stSidebar']");
    if (!sidebar) return;
    for (const line of sidebar.innerText.split("\\n")) {
      if (names.has(line.trim())) window.__rawSeen.push("raw file name: " + line.trim());
    }
  };
  new MutationObserver(check).observe(document, {subtree: true, childList: true, characterData: true});
}
"""


def watched_page(browser):
    page = new_page(browser)
    page.add_init_script(script=f"({WATCH_SIDEBAR})({RAW_NAMES!r})")
    return page


def raw_seen(page) -> list[str]:
    return page.evaluate("window.__rawSeen")


def sidebar_lines(page) -> list[str]:
    text = page.locator("[data-testid='stSidebar']").inner_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def wait_for_page(page, base_url: str, path: str) -> None:
    """The page at ``path`` is drawn (its title) inside the app's frame (the sidebar's links)."""
    wait_for_app(page)
    page.locator("[data-testid='stMain'] h1", has_text=PAGES[path]).first.wait_for()
    page.locator("[data-testid='stSidebar'] [data-testid='stPageLink-NavLink']").last.wait_for()
    assert urlparse(page.url).path.strip("/") == path, (page.url, path)
    assert page.url.startswith(base_url)


def test_a_cold_servers_first_load_and_sidebar_navigation_never_show_raw_file_names(browser, tmp_path, shot):
    assert {"home", "train", "convolution"} <= set(RAW_NAMES)  # the page scripts live in pages/, as specified
    proc, url = start_server(tmp_path)  # nobody has opened this server yet
    page = watched_page(browser)
    try:
        page.goto(url)
        wait_for_page(page, url, "")
        lines = sidebar_lines(page)
        for title in SIDEBAR_TITLES:
            assert title in lines
        assert not set(lines) & set(RAW_NAMES)
        shot(page, "cold-first-load")
        assert raw_seen(page) == []

        sidebar = page.locator("[data-testid='stSidebar']")
        for path in [p for p in PAGES if p] + [""]:
            link = sidebar.locator(f"a[data-testid='stPageLink-NavLink'][href='{path}']")
            assert link.count() == 1, path
            link.click()
            wait_for_page(page, url, path)
            assert not set(sidebar_lines(page)) & set(RAW_NAMES), path
            if path in ("convolution", "predict"):
                shot(page, f"via-sidebar-{path}")
        assert page.locator("[data-testid='stSidebarNav']").count() == 0
        assert raw_seen(page) == []
    finally:
        page.context.close()
        stop_server(proc)


def test_every_url_routes_through_app_py_even_as_a_cold_servers_first_request(browser, tmp_path, shot):
    proc, url = start_server(tmp_path)
    try:
        # The first request of this server is a deep link: it too must arrive inside app.py's frame.
        for path in ["convolution"] + [p for p in PAGES if p != "convolution"]:
            page = watched_page(browser)  # a fresh browser each time: the URL typed or shared as it is
            try:
                page.goto(f"{url}/{path}")
                wait_for_page(page, url, path)
                lines = sidebar_lines(page)
                assert "Home" in lines and "Training now" in lines, path
                if path == "convolution":
                    shot(page, "cold-deep-link-convolution")
                assert raw_seen(page) == [], path
            finally:
                page.context.close()
    finally:
        stop_server(proc)
