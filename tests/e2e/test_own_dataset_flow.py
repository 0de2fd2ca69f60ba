"""Teachable Machine's flow in the browser (issue 23): a student makes a two-class dataset from uploads and the
camera (Chromium's fake camera), trains a small CNN on it, predicts a new camera photo with Grad-CAM; a second
student cannot see it until it is shared, and then cannot change it."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests.e2e.browser import AGAIN_S, PATIENT_MS, click_until, wait_for_app
from tests.e2e.conftest import start_server, stop_server, stop_workers
from vision_core.runs import store as runs


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("own-dataset-e2e")
    (base / "runs").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VISION_CORE_DATA", str(base / "data"))  # start_server passes the environment on
        proc, url = start_server(base / "runs")
    yield url, base
    stop_server(proc)
    stop_workers(base / "runs")


def student(browser):
    """A fresh browser context: its own cookies, so its own person, with the camera allowed."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, permissions=["camera"])
    page = context.new_page()
    page.set_default_timeout(PATIENT_MS)
    return page


def photos(folder, name: str, colour: tuple[int, int, int], count: int) -> list[str]:
    paths = []
    rng = np.random.default_rng(sum(colour))
    for i in range(count):
        pixels = np.clip(np.array(colour) + rng.normal(0, 25, (90, 120, 3)), 0, 255).astype(np.uint8)
        path = folder / f"{name}-{i}.png"
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
    return paths


def type_and_press(page, label: str, text: str, button: str, shown=None) -> None:
    """Type ``text`` and press ``button``; with ``shown`` (a locator), until it shows, as a person types and
    presses again when nothing happened: on a loaded server a form submitted while the previous click's rerun was
    still redrawing it was lost (nothing added, the test waited 5 minutes for the class)."""
    box = page.get_by_label(label, exact=True)
    for _ in range(3):
        wait_for_app(page)
        for _ in range(3):  # a rerun still on its way redraws the form and empties its box: type again after it
            box.fill(text)
            page.wait_for_timeout(500)
            if box.input_value() == text:
                break
        page.get_by_role("button", name=button, exact=True).click()
        wait_for_app(page)
        if shown is None:
            return
        try:
            shown.wait_for(timeout=AGAIN_S * 1000)
            return
        except PlaywrightTimeout:
            wait_for_app(page)  # idle and still not shown: the press was lost; a second one that arrives after a
            if shown.is_visible():  # slow first one is refused as a duplicate and changes nothing
                return
    shown.wait_for()


def class_panel(page, index: int):
    return page.locator(f".st-key-make_class_{index}")


def uploader(page, class_name: str):
    """The class's file input. By its visible region: the emptied uploader of the last addition may linger hidden
    in the page for a moment (its key changed), and only the visible one is the class's now."""
    region = page.get_by_role("region", name=f"Or add pictures of {class_name}")
    return region.get_by_test_id("stFileUploaderDropzoneInput")


def test_make_train_predict_and_a_classmate_cannot_change_it(server, browser, shot, tmp_path):
    url, base = server
    maker = student(browser)
    maker.goto(url + "/make_dataset")
    wait_for_app(maker)
    maker.get_by_text("No dataset yet").wait_for()
    # Each step waits for what it made before the next one types: a box typed into while the previous click's
    # rerun is still on its way is emptied by that rerun (the form clears its box after an addition).
    type_and_press(maker, "New dataset", "Colours", "Create")
    maker.get_by_label("New class", exact=True).wait_for()
    type_and_press(maker, "New class", "blue", "Add class", shown=class_panel(maker, 0))
    type_and_press(maker, "New class", "red", "Add class", shown=class_panel(maker, 1))
    try:
        class_panel(maker, 1).wait_for(timeout=60_000)  # classes are listed sorted: blue, red
    except Exception:
        shot(maker, "second-class-missing", top=True)  # what the page showed instead, for whoever reads the failure
        raise

    for name, colour in (("blue", (40, 60, 210)), ("red", (210, 50, 40))):
        uploader(maker, name).set_input_files(photos(tmp_path, name, colour, 6))
        maker.get_by_text(re.compile(rf"Added 6 photos to\s+{name}")).wait_for()
        wait_for_app(maker)
    # A file with a picture's name that is no picture: refused by name, nothing else changes.
    notes = tmp_path / "notes.png"
    notes.write_bytes(b"not a picture at all")
    uploader(maker, "blue").set_input_files(str(notes))
    maker.get_by_text("is not an image we can use").wait_for()
    wait_for_app(maker)

    # The camera: one click, one photo (Chromium's fake camera: a test pattern).
    class_panel(maker, 1).get_by_role("button", name="Take Photo").click()
    maker.get_by_text(re.compile(r"Added 1 photo to\s+red")).wait_for()
    wait_for_app(maker)
    assert class_panel(maker, 0).get_by_text("6 photos").count() == 1
    assert class_panel(maker, 1).get_by_text("7 photos").count() == 1
    maker.get_by_text("has only 6 photos").first.wait_for()  # the warning under ten per class
    shot(maker, "dataset-made", top=True)

    # A classmate: the dataset is private, so not even listed.
    classmate = student(browser)
    try:
        classmate.goto(url + "/make_dataset")
        wait_for_app(classmate)
        classmate.get_by_text("No dataset yet").wait_for()

        maker.get_by_text("Share with the class (read-only)").click()
        wait_for_app(maker)
        classmate.reload()
        wait_for_app(classmate)
        classmate.get_by_text("Made by a classmate").wait_for()
        assert classmate.get_by_role("button", name="Remove class").count() == 0
        assert classmate.get_by_role("button", name="✕").count() == 0
        assert classmate.locator("[data-testid='stCameraInput']").count() == 0
        assert classmate.get_by_label("New class", exact=True).count() == 0
        classmate.locator("[data-testid='stImage']").nth(12).wait_for()  # read-only, all 13 photos are there
        shot(classmate, "classmate-read-only", top=True)
    finally:
        classmate.context.close()

    # Train on it: a tiny run (2 epochs on 64×64 photos), its live curves on the same page.
    epochs = maker.get_by_label("Epochs", exact=True)
    epochs.fill("2")
    epochs.press("Enter")
    wait_for_app(maker)
    maker.get_by_role("button", name="▶ Train on it").click()
    maker.locator("[data-testid='stMetric']").filter(has_text="Test accuracy").wait_for()  # shown once finished
    shot(maker, "trained")
    [run] = runs.list_runs(base / "runs")
    assert run.config.dataset_options["folder"] == "own-Colours" and run.config.model == "tinyvgg"

    # Predict, through the link under the curves: the page starts on the camera; a photo gives probabilities
    # and Grad-CAM.
    maker.get_by_role("link", name="Try it on the camera (Predict)").click()
    wait_for_app(maker)
    assert f"run={run.run_id}" in maker.url
    # The previous page's camera inputs stay drawn (stale) until Predict's run replaces them: wait for Predict's one.
    take = maker.get_by_role("button", name="Take Photo")
    expect(take).to_have_count(1, timeout=PATIENT_MS)
    # The camera's button answers once its stream runs: a click before that takes no photo and is clicked again.
    click_until(maker, take, maker.get_by_text("What the model sees").first)
    maker.get_by_text("Where did it look?").wait_for()
    prediction = maker.locator("[data-testid='stMetric']").filter(has_text="Prediction")
    assert prediction.locator("[data-testid='stMetricValue']").inner_text() in ("blue", "red")
    maker.get_by_text(re.compile("Grad-CAM: (blue|red)")).first.wait_for()
    shot(maker, "predicted-with-grad-cam")
    maker.context.close()
    assert [p.name for p in (base / "data" / "imagefolder").iterdir()] == ["own-Colours"]
