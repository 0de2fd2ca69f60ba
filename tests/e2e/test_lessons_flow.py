"""In the browser: the Playground trains the tutorial's XOR to 100 % while the boundary redraws; the Losses
page shows the float32 overflow; clicking Convolution cells highlights what depends on what."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Error as PlaywrightError

from tests.e2e.browser import PATIENT_MS, PATIENT_S, wait_for_app

SLOW_MS = PATIENT_MS  # a Plotly chart is drawn after its bundle loads: slow when many tests share two cores

# The pixel centre of heat-map cell (row, col) of the Plotly chart whose Streamlit key is `key`.
CELL_XY = """([key, row, col]) => {
  const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  if (!gd || !gd._fullLayout || !gd._fullLayout.xaxis) return null;
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
  return {x: box.left + xa.d2p(col), y: box.top + ya.d2p(row)};
}"""

# The boundary picture as the browser has it: the image trace's PNG data URI.
PICTURE = """(key) => {
  const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  return (gd && gd.data && gd.data[0] && gd.data[0].source) || null;
}"""


def metric_text(page, label: str) -> str:
    metric = page.locator("[data-testid='stMetric']").filter(
        has=page.locator("[data-testid='stMetricLabel']", has_text=label)).first
    return metric.locator("[data-testid='stMetricValue']").inner_text()


def wait_for_metric(page, label: str, predicate, timeout: float = PATIENT_S) -> str:
    deadline, value = time.time() + timeout, None
    while time.time() < deadline:
        try:
            value = metric_text(page, label)
            if predicate(value):
                return value
        except PlaywrightError:  # the fragment is replacing the element
            value = None
        time.sleep(0.2)
    raise AssertionError(f"metric {label!r} stayed at {value!r}")


def chart_in_view(page, key: str) -> None:
    """Streamlit draws a Plotly chart once it is scrolled into view."""
    page.locator(f".st-key-{key}").scroll_into_view_if_needed()
    page.wait_for_function("(key) => !!document.querySelector(`.st-key-${key} .js-plotly-plot`)", arg=key,
                           timeout=SLOW_MS)


def click_cell(page, key: str, row: int, col: int) -> None:
    """Hover, then click, the centre of a heat-map cell (Plotly reports a click on the hovered point)."""
    chart_in_view(page, key)
    page.wait_for_function(CELL_XY, arg=[key, row, col], timeout=SLOW_MS)
    point = page.evaluate(CELL_XY, [key, row, col])
    page.mouse.move(point["x"], point["y"])
    page.wait_for_timeout(200)
    page.mouse.click(point["x"], point["y"])


def test_playground_trains_xor_and_the_boundary_moves(app_url, page, shot):
    page.goto(app_url + "/playground")
    wait_for_app(page)
    page.get_by_text("What each hidden unit computes").wait_for()
    chart_in_view(page, "pg_boundary")
    page.wait_for_function(PICTURE, arg="pg_boundary", timeout=SLOW_MS)
    before = page.evaluate(PICTURE, "pg_boundary")
    assert metric_text(page, "Step") == "0"
    shot(page, "playground-untrained", top=True)

    page.get_by_role("button", name="▶ Train").click()
    page.get_by_role("button", name="⏸ Pause").wait_for()
    wait_for_metric(page, "Step", lambda v: int(v.replace(",", "")) >= 20)
    during = page.evaluate(PICTURE, "pg_boundary")
    wait_for_metric(page, "Train accuracy", lambda v: v == "100%", timeout=PATIENT_S)
    after = page.evaluate(PICTURE, "pg_boundary")
    assert len({before, during, after}) == 3  # redrawn while it learned
    shot(page, "playground-xor-learned", top=True)

    page.get_by_role("button", name="⏸ Pause").click()
    page.get_by_role("button", name="▶ Train").wait_for()
    stopped = metric_text(page, "Step")
    page.wait_for_timeout(1000)
    assert metric_text(page, "Step") == stopped  # paused: no more steps


def test_losses_page_shows_the_overflow_case(app_url, page, shot):
    page.goto(app_url + "/losses")
    wait_for_app(page)
    page.get_by_text("Mean loss, by hand").first.wait_for()
    shot(page, "losses-binary", top=True)
    page.get_by_role("tab", name="Why the logits form? (overflow)").click()
    page.get_by_text(re.compile(r"The naive route broke on \d+ of 5 sample")).wait_for()
    shot(page, "losses-overflow", top=True)
    field = page.get_by_label("Logits z", exact=True)
    field.fill("3, abc")
    field.press("Enter")
    page.get_by_text("“abc” in the logits is not a number").wait_for()
    shot(page, "losses-bad-input", top=True)


def test_convolution_click_highlights_what_depends_on_what(app_url, page, shot):
    page.goto(app_url + "/convolution")
    wait_for_app(page)
    page.get_by_text(re.compile(r"^Cell 1 of 16")).first.wait_for()

    # An output cell → the step moves there and the window covers the input cells it depends on.
    click_cell(page, "conv_fig_out", 2, 3)
    page.get_by_text(re.compile(r"^Cell 12 of 16 — output\[2, 3\]: the window covers input rows 1 … 3, "
                                r"columns 2 … 4")).wait_for()
    wait_for_app(page)
    shot(page, "output-cell-clicked")

    # An input cell → every output cell it feeds.
    click_cell(page, "conv_fig_in0", 0, 0)
    page.get_by_text(re.compile(r"Input cell \(row 0, column 0\) feeds 4 output cell")).wait_for()
    wait_for_app(page)
    shot(page, "input-cell-clicked")

    # A photo: zoomed around the window, with numbers; the overview shows where the zoom is.
    page.locator("[data-testid='stRadio'] label").filter(has_text="Sample photo").first.dispatch_event("click")
    page.get_by_text(re.compile(r"zoom on rows")).first.wait_for()
    wait_for_app(page)
    shot(page, "photo-zoomed")

    page.locator("[data-testid='stRadio'] label").filter(has_text="Transposed convolution").first.dispatch_event(
        "click")
    page.get_by_text("gives exactly this output").wait_for()
    wait_for_app(page)
    shot(page, "transposed", top=True)
