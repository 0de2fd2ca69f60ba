"""In the browser: the Playground trains the tutorial's XOR to 100 % while the boundary redraws; the Losses
page shows the float32 overflow; the Convolution step-through steps and plays without a single request to the
server, and clicking its cells highlights what depends on what."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Error as PlaywrightError

from tests.e2e.browser import PATIENT_MS, PATIENT_S, click_until, wait_for_app

SLOW_MS = PATIENT_MS  # a Plotly chart is drawn after its bundle loads: slow when many tests share two cores

# The pixel centre of cell (row, col) of subplot `axis` ("" = the first, "4" = x4/y4) of the Plotly chart whose
# Streamlit key is `key`.
CELL_XY = """([key, row, col, axis]) => {
  const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  if (!gd || !gd._fullLayout || !gd._fullLayout['xaxis' + axis]) return null;
  const xa = gd._fullLayout['xaxis' + axis], ya = gd._fullLayout['yaxis' + axis];
  const box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.d2p(col), y: box.top + ya._offset + ya.d2p(row)};
}"""

# The title of the Plotly chart whose Streamlit key is `key`: the animated step-throughs write the cell there.
TITLE = """(key) => {
  const t = document.querySelector(`.st-key-${key} .js-plotly-plot .gtitle`);
  return t ? t.textContent : null;
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
    # Not scroll_into_view_if_needed: it waits for the element to stop moving, and on a busy machine the page
    # above it (the status strip redrawn every few seconds) can keep it moving longer than its timeout.
    # Not the element a rerun is about to replace (Streamlit keeps it, marked data-retained, while the new one draws).
    page.locator(f".st-key-{key}:not([data-retained])").first.evaluate("(e) => e.scrollIntoView({block: 'center'})")
    page.wait_for_function("(key) => !!document.querySelector(`.st-key-${key} .js-plotly-plot`)", arg=key,
                           timeout=SLOW_MS)


def click_cell(page, key: str, row: int, col: int, axis: str = "") -> None:
    """Hover, then click, the centre of a heat-map cell (Plotly reports a click on the hovered point)."""
    chart_in_view(page, key)
    page.wait_for_function(CELL_XY, arg=[key, row, col, axis], timeout=SLOW_MS)
    point = page.evaluate(CELL_XY, [key, row, col, axis])
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

    # The Pause button is redrawn with the view while it trains: a click that lands mid-redraw is clicked again.
    click_until(page, page.get_by_role("button", name="⏸ Pause"), page.get_by_role("button", name="▶ Train"),
                idle=False)
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


def wait_for_title(page, key: str, pattern: str, timeout_ms: int = PATIENT_MS) -> str:
    page.wait_for_function(f"(key) => new RegExp({pattern!r}).test(({TITLE})(key) || '')", arg=key,
                           timeout=timeout_ms)
    return page.evaluate(TITLE, key)


def button(page, key: str, label: str):
    """A button of the Plotly figure itself (its updatemenus), not a Streamlit button."""
    return page.locator(f".st-key-{key} .updatemenu-button", has_text=label).first


def asked_of_the_server(payload) -> str | None:
    """What a message from the browser asks Streamlit to do, or None for the clock's own messages: heartbeats and
    the timed reruns of other fragments (the status strip polls every few seconds on every page, whatever a student does)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    message = BackMsg.FromString(payload if isinstance(payload, bytes) else payload.encode())
    kind = message.WhichOneof("type")
    if kind == "app_heartbeat" or (kind == "rerun_script" and message.rerun_script.is_auto_rerun):
        return None
    return kind


def test_convolution_steps_and_plays_in_the_browser_and_clicks_highlight_what_depends_on_what(app_url, page, shot):
    sent: list[str] = []  # what the browser asked of Streamlit (a rerun for a widget change or a click)
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.extend(
        [kind] if (kind := asked_of_the_server(payload)) else [])))
    page.goto(app_url + "/convolution")
    wait_for_app(page)
    chart_in_view(page, "conv_anim")
    wait_for_title(page, "conv_anim", r"^Cell 1 of 16 — output\[0, 0\] = .* = 11")
    wait_for_app(page)
    before = len(sent)

    # Next, Next, Previous, Last, First, then Play to the end: every frame comes from the figure itself.
    button(page, "conv_anim", "Next ▶").click()
    wait_for_title(page, "conv_anim", r"^Cell 2 of 16 — output\[0, 1\] = Σ products 25 \+ bias 0 = 25")
    button(page, "conv_anim", "Next ▶").click()
    wait_for_title(page, "conv_anim", r"^Cell 3 of 16 — output\[0, 2\]")
    button(page, "conv_anim", "◀ Previous").click()
    title = wait_for_title(page, "conv_anim", r"^Cell 2 of 16")
    assert "the window covers input rows −1 … 1, columns 0 … 2" in title
    shot(page, "stepped-in-the-browser")
    button(page, "conv_anim", "⏭").click()
    wait_for_title(page, "conv_anim", r"^Cell 16 of 16 — output\[3, 3\] = .* = 9")
    button(page, "conv_anim", "⏮").click()
    wait_for_title(page, "conv_anim", r"^Cell 1 of 16")
    button(page, "conv_anim", "▶ Play").click()
    wait_for_title(page, "conv_anim", r"^Cell [4-9] of 16")  # moving on by itself …
    wait_for_title(page, "conv_anim", r"^Cell 16 of 16", timeout_ms=SLOW_MS)  # … to the end (2 cells a second)
    assert sent[before:] == [], f"stepping asked the server for {sent[before:]}"

    # An output cell → the figure opens there and the window covers the input cells it depends on.
    click_cell(page, "conv_anim", 2, 3, axis="4")  # the output map is the 4th subplot (input, kernel, products)
    wait_for_title(page, "conv_anim", r"^Cell 12 of 16 — output\[2, 3\].*the window covers input rows 1 … 3, "
                                      r"columns 2 … 4")
    assert "rerun_script" in sent[before:]  # a click does reach the server (a fragment rerun over cached frames)
    wait_for_app(page)
    shot(page, "output-cell-clicked")

    # An input cell → every output cell it feeds.
    click_cell(page, "conv_anim", 0, 0)
    page.get_by_text(re.compile(r"Input cell \(row 0, column 0\) feeds 4 output cell")).wait_for()
    wait_for_app(page)
    shot(page, "input-cell-clicked")

    # A photo: zoomed around the window, with numbers, frame by frame.
    page.locator("[data-testid='stRadio'] label").filter(has_text="Sample photo").first.dispatch_event("click")
    wait_for_title(page, "conv_anim", r"^Cell \d+ of (?!16 )\d+")
    wait_for_app(page)
    shot(page, "photo-zoomed")

    page.locator("[data-testid='stRadio'] label").filter(has_text="Transposed convolution").first.dispatch_event(
        "click")
    page.get_by_text("gives exactly this output").wait_for()
    chart_in_view(page, "conv_t_anim")
    wait_for_title(page, "conv_t_anim", r"^Input cell 1 of 9")
    button(page, "conv_t_anim", "Next ▶").click()
    wait_for_title(page, "conv_t_anim", r"^Input cell 2 of 9 — row 0, column 1")
    wait_for_app(page)
    shot(page, "transposed", top=True)
