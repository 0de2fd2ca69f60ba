"""Helpers shared by the browser tests."""

import time

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.patience import PATIENT_MS, PATIENT_S  # the browser tests import them from here

AGAIN_S = 20.0  # a click whose effect has not shown after this long, on an idle page, is clicked again


def wait_for_app(page) -> None:
    """Streamlit has finished the current script run (no running indicator, no skeleton)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=PATIENT_MS)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=PATIENT_MS,
    )


def click_until(page, target, shown, *, again_s: float = AGAIN_S, idle: bool = True) -> None:
    """Click ``target`` until ``shown`` (a locator) is visible, as a person clicks again when nothing happened.

    A click that lands while Streamlit is replacing the button (a rerun, a fragment's timer) can be lost. The click
    is repeated only when ``again_s`` passed with the page idle and ``target`` still there, so a slow but received
    click is waited for (up to the shared patience), never doubled while its rerun runs. ``idle=False``: a page
    that is never idle (a fragment that redraws itself while it trains) is clicked again after ``again_s`` alone.
    """
    deadline = time.time() + PATIENT_S
    while True:
        target.click()
        try:
            shown.wait_for(timeout=again_s * 1000)
            return
        except PlaywrightTimeout:  # look why before clicking again
            if time.time() > deadline:
                raise
        if idle:
            wait_for_app(page)
        if shown.is_visible():
            return
        if not target.is_visible():  # the click was received and is on its way: wait for what it shows
            shown.wait_for(timeout=max(deadline - time.time(), 1) * 1000)
            return


def open_tab(page, name: str, shown) -> None:
    """Click the tab ``name`` until ``shown`` (a locator inside it) is visible.

    A rerun that lands just after the click (a run picker writing ``?run=`` to the URL, a fragment's timer) can draw
    the tabs afresh on their first one; a person then clicks the tab again."""
    click_until(page, page.get_by_role("tab", name=name), shown)
