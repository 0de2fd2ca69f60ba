"""A student trains LeNet on the digits in the browser, refreshes mid-run, stops, finds the run again."""

from __future__ import annotations

import re
import time

from tests.e2e.browser import PATIENT_S, wait_for_app

# The newest step on the live chart (its traces are downsampled for display, so count steps, not points).
CHART_LAST_STEP = """() => {
  let last = 0;
  for (const p of document.querySelectorAll('.js-plotly-plot')) {
    // _fullData holds the decoded arrays (the figure ships numbers as base64 typed arrays).
    for (const t of (p._fullData || p.data || [])) {
      if (t.name === 'train, each step' && t.x && t.x.length) last = Math.max(last, Number(t.x[t.x.length - 1]));
    }
  }
  return last;
}"""


def chart_points(page) -> int:
    return int(page.evaluate(CHART_LAST_STEP))


def wait_points_above(page, n: int, timeout: float = PATIENT_S) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        points = chart_points(page)
        if points > n:
            return points
        time.sleep(0.3)
    raise AssertionError(f"the live chart stayed at step {chart_points(page)} (wanted more than {n})")


def test_train_refresh_stop_and_find_in_runs(app_url, page, shot):
    page.goto(app_url + "/train")
    wait_for_app(page)
    page.get_by_text("Set up a run").wait_for()
    shot(page, "train-form")

    # A long run, so there is time to refresh and stop it mid-way: 200 epochs of batches of 8 (~180 steps each;
    # at the default 64 the digits train 200 epochs in about a minute, and a loaded machine's refresh took longer).
    for label, value in (("Epochs", "200"), ("Batch size", "8")):
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Enter")
        wait_for_app(page)
    page.get_by_role("button", name="▶ Start training").click()

    page.wait_for_url(re.compile(r"[?&]run="))
    run_id = re.search(r"run=([^&]+)", page.url).group(1)
    first = wait_points_above(page, 0)
    second = wait_points_above(page, first)
    assert second > first  # the chart gains points while it trains
    shot(page, "training-live", top=True)

    # Refresh mid-run: same job, curves continue from where they were.
    page.reload()
    wait_for_app(page)
    assert f"run={run_id}" in page.url
    after_reload = wait_points_above(page, 0)
    assert after_reload >= second
    assert wait_points_above(page, after_reload) > after_reload
    shot(page, "after-refresh")

    assert page.get_by_text("Stopped by you").count() == 0 and page.get_by_text("Test accuracy").count() == 0, \
        "the run ended before the test could stop it"
    page.get_by_role("button", name="⏹ Stop").click()
    page.get_by_text("Stopped by you").wait_for()
    shot(page, "stopped")

    page.goto(app_url + "/runs")
    wait_for_app(page)
    page.get_by_role("heading", name="📊 Runs").wait_for()
    page.wait_for_function(f"() => document.body.innerText.includes('{run_id}')"
                           " || [...document.querySelectorAll('canvas')].length > 0")
    shot(page, "runs-page")
