"""In the browser: step a Sobel convolution over a photo, flip it, use a trained LeNet's kernels;
train a short run, click a confusion-matrix cell, upload a digit and get a prediction."""

from __future__ import annotations

import re

import numpy as np
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.browser import PATIENT_MS, open_tab, wait_for_app
from vision_core.data import datasets


def click_radio(page, text: str) -> None:
    """Choose a radio option. The click is dispatched on the element itself, not at screen coordinates:
    the page reflows while Streamlit reruns, and a coordinate click could land on a neighbouring widget."""
    label = page.locator("[data-testid='stRadio'] label").filter(has_text=text).first
    label.dispatch_event("click")
    page.wait_for_function("(el) => el.querySelector('input').checked", arg=label.element_handle())
    wait_for_app(page)
    page.wait_for_timeout(500)  # let the rerun that the choice started reach the page


# The animated step-through's title (its current cell), as the browser shows it.
CONV_TITLE = "() => (document.querySelector('.st-key-conv_anim .js-plotly-plot .gtitle') || {}).textContent || ''"
CONV_CELL = re.compile(r"^(Cell \d+ of \d+) — output\[[^\]]*\] = .* = (-?\d[\d.]*(?:e[+-]\d+)?)")


def conv_cell(page) -> tuple[str, float]:
    """("Cell k of n", its value) of the step-through's current frame."""
    match = CONV_CELL.search(page.evaluate(CONV_TITLE))
    assert match, page.evaluate(CONV_TITLE)
    return match.group(1), float(match.group(2))


def conv_next(page) -> None:
    """Next ▶ of the figure itself: the browser shows the next frame (no rerun)."""
    before = page.evaluate(CONV_TITLE)
    page.locator(".st-key-conv_anim .updatemenu-button", has_text="Next ▶").first.click()
    page.wait_for_function(f"(before) => ({CONV_TITLE})() !== before", arg=before)


def conv_in_view(page) -> None:
    page.wait_for_selector(".st-key-conv_anim", state="attached")
    page.locator(".st-key-conv_anim").evaluate("(e) => e.scrollIntoView({block: 'center'})")  # drawn in view
    page.wait_for_function(f"() => /^Cell \\d+ of/.test(({CONV_TITLE})())", timeout=PATIENT_MS)


def test_convolution_on_a_photo_with_sobel_then_a_trained_kernel(app_url, page, shot, runs_dir):
    page.goto(app_url + "/convolution")
    wait_for_app(page)
    click_radio(page, "Sample photo")
    click_radio(page, "Preset(s)")  # Sobel x is the default preset
    click_radio(page, "Cross-correlation")  # the page opens on the textbook's true convolution
    # The cross-correlation's figure, not the true convolution's still on screen while a loaded server reruns (its
    # title also reads "Cell 1 of", and the next step then compared the wrong numbers).
    page.get_by_text("Kernel (flipped)").first.wait_for(state="detached", timeout=PATIENT_MS)
    conv_in_view(page)
    assert conv_cell(page)[0].startswith("Cell 1 of ")
    shot(page, "photo-sobel-first-cell")

    # Step along the first row, watching the numbers, until a cell is not flat (non-zero response).
    values = []
    for _ in range(12):
        conv_next(page)
        values.append(conv_cell(page)[1])
        if abs(values[-1]) > 1e-6:
            break
    assert abs(values[-1]) > 1e-6, values
    cell, cross = conv_cell(page)
    shot(page, "stepped-cross-correlation")

    click_radio(page, "True convolution")  # a new figure: it opens on the cell the server knows (the first)
    page.get_by_text("Kernel (flipped)").first.wait_for()
    conv_in_view(page)
    page.wait_for_function(f"() => /^Cell 1 of/.test(({CONV_TITLE})())")
    for _ in values:
        conv_next(page)
    # Sobel x flipped is its negative: the same cell shows the same number with the other sign.
    assert conv_cell(page) == (cell, -cross)
    shot(page, "true-convolution-sign-flipped")

    # The student's own network: train a LeNet and take its first-layer kernels.
    from vision_core.config import RunConfig
    from vision_core.runs import store as runs
    from vision_core.training import engine

    engine.train(RunConfig(dataset="digits", model="lenet", epochs=1, snapshot_every=0, name="e2e-kernels"),
                 root=runs_dir, trainer_options={"limit_train_batches": 5})
    # Other tests' runs share this folder (some score better), so the link names the run, as a teacher's would.
    run_id = next(r.run_id for r in runs.list_runs(runs_dir) if r.name == "e2e-kernels")
    page.goto(app_url + f"/convolution?run={run_id}")
    wait_for_app(page)
    click_radio(page, "Dataset image")  # a real digit ...
    click_radio(page, "From a trained run")  # ... under the kernels LeNet learned
    page.get_by_text("First Conv2d of lenet").first.wait_for()
    conv_in_view(page)
    conv_next(page)
    assert conv_cell(page)[0].startswith("Cell 2 of")  # a real number computed with the trained kernel
    shot(page, "trained-lenet-kernel-at-work")


PLOT_CELL = """([truth, pred]) => {
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    const trace = (gd._fullData || [])[1];
    const title = (gd.layout && gd.layout.xaxis && gd.layout.xaxis.title) || '';
    if (!trace || !String(title.text || title).toLowerCase().includes('predicted')) continue;
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
    return {x: box.left + xa.d2p(pred), y: box.top + ya.d2p(truth)};
  }
  return null;
}"""


def test_train_evaluate_click_a_cell_and_predict_an_upload(app_url, page, shot, tmp_path):
    page.goto(app_url + "/train")
    wait_for_app(page)
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("3")
    epochs.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="▶ Start training").click()
    page.get_by_text("Test accuracy").first.wait_for()
    run_id = re.search(r"run=([^&]+)", page.url).group(1)
    shot(page, "trained")

    page.get_by_text("Evaluate this run").click()
    wait_for_app(page)
    open_tab(page, "Confusion matrix", page.locator(".js-plotly-plot").filter(has_text="Confusion matrix (counts)").first)
    page.wait_for_function(PLOT_CELL, arg=["3", "8"])
    # Click the cell (truth 3, predicted 3): the images of that cell appear below. The chart sizes itself
    # once its tab is shown, so a click may land before the cell is where it was measured: then, like a
    # student, measure and click again.
    cell_images = page.get_by_text(re.compile(r"test image\(s\) of 3 predicted as 3"))
    for attempt in range(3):
        page.wait_for_timeout(500)
        point = page.evaluate(PLOT_CELL, ["3", "3"])
        page.mouse.move(point["x"], point["y"])
        page.mouse.click(point["x"], point["y"])
        try:
            cell_images.wait_for(timeout=15_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    shot(page, "confusion-cell-clicked")

    # A digit from the test set, saved as a PNG the way a student would upload it.
    data = datasets.load("digits")
    image, label = data.test[0]
    png = tmp_path / "digit.png"
    Image.fromarray((image[0].numpy() * 255).astype(np.uint8), "L").resize((128, 128)).save(png)
    page.goto(f"{app_url}/predict?run={run_id}")
    wait_for_app(page)
    page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(png))
    page.get_by_text("What the model sees").first.wait_for()
    prediction = page.locator("[data-testid='stMetric']").filter(has_text="Prediction")
    predicted = prediction.locator("[data-testid='stMetricValue']").inner_text()
    assert predicted == data.classes[label]  # a clear test digit; the seeded run gets it right
    shot(page, "prediction")
