"""In the browser, on a finished run: hover the weight histograms, click a point of the embedding projector and
see its image and predictions; run the learning-rate range test and use its suggestion."""

from __future__ import annotations

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.browser import open_tab, wait_for_app
from vision_core.config import RunConfig
from vision_core.runs import store as runs
from vision_core.training import engine

FAST = {"limit_train_batches": 6, "limit_val_batches": 2, "limit_test_batches": 2}

# The screen position of a plot's point: the plot whose title starts with ``title``, trace 0, point 0.
PLOT_POINT = """(title) => {
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    const text = (gd.layout && gd.layout.title && (gd.layout.title.text || gd.layout.title)) || '';
    // Streamlit's theme wraps titles in <b>
    if (!String(text).replace(/<[^>]*>/g, '').startsWith(title) || !gd._fullData || !gd._fullData.length) continue;
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    gd.scrollIntoView({block: 'center'});  // a mouse outside the window hovers nothing (content above may vary)
    const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
    if (!box.width) continue;  // a plot in a hidden tab
    const trace = gd._fullData[0];
    const x = trace.type === 'heatmap' ? trace.x[Math.floor(trace.x.length / 2)] : trace.x[0];
    const y = trace.type === 'heatmap' ? trace.y[Math.floor(trace.y.length / 2)] : trace.y[0];
    return {x: box.left + xa.l2p(x), y: box.top + ya.l2p(y)};
  }
  return null;
}"""


def click_point(page, title: str, expect) -> None:
    """Move to and click a plot's point until ``expect`` shows (a plot that has just been drawn may still move)."""
    for attempt in range(3):
        page.wait_for_function(PLOT_POINT, arg=title)
        page.wait_for_timeout(500)
        point = page.evaluate(PLOT_POINT, title)
        page.mouse.move(point["x"], point["y"])
        page.mouse.click(point["x"], point["y"])
        try:
            expect.wait_for(timeout=20_000)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def test_histograms_projector_and_lr_range_test(app_url, page, shot, runs_dir):
    engine.train(RunConfig(dataset="digits", model="lenet", epochs=1, snapshot_every=2, name="tboard-e2e"),
                 root=runs_dir, trainer_options=FAST)
    run = next(r for r in runs.list_runs(runs_dir) if r.name == "tboard-e2e")

    page.goto(f"{app_url}/inside?run={run.run_id}")
    wait_for_app(page)
    title = "conv1: weights over training"
    open_tab(page, "Weights & gradients", page.locator(".js-plotly-plot").filter(has_text=title).first)
    hover = page.locator(".hoverlayer .hovertext").filter(has_text="of the parameters")
    for _ in range(3):  # hovering a heat map cell names its step and its share of the parameters
        page.wait_for_function(PLOT_POINT, arg=title)
        point = page.evaluate(PLOT_POINT, title)
        page.mouse.move(point["x"] + 2, point["y"] + 2)
        try:
            hover.first.wait_for(timeout=10_000)
            break
        except PlaywrightTimeout:
            page.mouse.move(0, 0)
    hover.first.wait_for(timeout=1000)
    shot(page, "weights-and-gradients")

    open_tab(page, "Embedding projector", page.locator(".js-plotly-plot").filter(has_text="After training").first)
    click_point(page, "After training", page.get_by_text("Predicted after training:").first)
    page.get_by_text("True class:").first.wait_for()
    shot(page, "projector-point-clicked")

    page.goto(f"{app_url}/train")
    wait_for_app(page)
    page.get_by_text("Find a learning rate (LR range test)").click()
    page.get_by_role("button", name="Run the range test").click()
    use = page.get_by_role("button", name="Use steepest:")
    use.wait_for()
    value = float(use.inner_text().rsplit(":", 1)[1])
    use.click()
    wait_for_app(page)
    page.wait_for_function("(v) => { const el = document.querySelector('input[aria-label=\"Learning rate\"]');"
                           " return el && Math.abs(parseFloat(el.value) - v) < 1e-12; }", arg=value)
    shot(page, "lr-range-test-used")
