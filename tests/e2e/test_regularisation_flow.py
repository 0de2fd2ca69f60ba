"""In the browser: one click in the Overfitting lab trains two variants (dropout 0 and 0.5) in worker processes; a
refresh finds the experiment again from the URL; the overlay ends with both variants' training and validation curves
and their gaps."""

from __future__ import annotations

import re
import time

from tests.e2e.browser import wait_for_app

# Per legend group (variant): how many epochs its accuracy curves hold, and the gap annotations drawn.
CHART_STATE = """() => {
  const gd = document.querySelector('.st-key-reg_chart .js-plotly-plot');
  if (!gd || !gd.data) return null;
  const epochs = {};
  for (const t of gd.data) {
    if (!t.name || t.name.endsWith('gap') || t.xaxis !== 'x') continue;
    epochs[t.name] = (t.x || []).length;
  }
  const gaps = ((gd.layout || {}).annotations || []).filter(a => String(a.text).startsWith('gap')).length;
  return {epochs, gaps};
}"""

EPOCHS = 3


def chart_state(page):
    return page.evaluate(CHART_STATE)


def wait_for_chart(page, predicate, timeout: float = 420):
    deadline, state = time.time() + timeout, None
    while time.time() < deadline:
        state = chart_state(page)
        if state and predicate(state):
            return state
        time.sleep(0.5)
    raise AssertionError(f"the overlay stayed at {state}")


def test_one_click_trains_two_variants_and_overlays_them(app_url, page, shot):
    try:
        flow(app_url, page, shot)
    except Exception:
        shot(page, "failure")  # what the page showed when it went wrong
        raise


def flow(app_url, page, shot) -> None:
    page.goto(app_url + "/regularisation")
    wait_for_app(page)
    page.get_by_text("Values to compare").wait_for()
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill(str(EPOCHS))
    epochs.press("Enter")
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')")
    wait_for_app(page)
    shot(page, "lab-form", top=True)

    # "one after another", "at the same time": the button says how this server will train them (issue 19.12).
    page.get_by_role("button", name=re.compile(r"^▶ Train 2 runs(, one after another| at the same time)$")).click()
    table = page.get_by_test_id("stTable")
    try:
        table.get_by_text("dropout 0.5").wait_for()
    finally:
        shot(page, "lab-started", top=True)
    assert re.search(r"[?&]runs=[^&]+(%2C|,)", page.url)  # both run ids, for a refresh to find them
    assert "factor=dropout" in page.url and f"epochs={EPOCHS}" in page.url
    assert table.get_by_text("dropout 0", exact=True).count() == 1

    # The first epoch of a variant arrives: refresh, and the page finds the experiment again from the URL.
    wait_for_chart(page, lambda s: any(n > 0 for n in s["epochs"].values()))
    url = page.url
    page.reload()
    wait_for_app(page)
    assert page.url == url
    wait_for_chart(page, lambda s: any(n > 0 for n in s["epochs"].values()))
    shot(page, "lab-training")

    final = wait_for_chart(page, lambda s: len(s["epochs"]) == 4 and all(n == EPOCHS for n in s["epochs"].values())
                           and s["gaps"] == 2)
    assert set(final["epochs"]) == {f"dropout {v} · {split}" for v in ("0", "0.5")
                                    for split in ("training", "validation")}
    # Once both ended the page redraws in its final state, without the live refresh and with nothing to stop.
    page.get_by_role("button", name="⏹ Stop this experiment").wait_for(state="detached")
    wait_for_app(page)
    assert page.get_by_test_id("stTable").get_by_text("finished", exact=True).count() == 2
    page.get_by_test_id("stTable").scroll_into_view_if_needed()
    shot(page, "lab-finished")
