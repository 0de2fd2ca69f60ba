"""In the browser: names that are Markdown images, links and HTML (class folders, a run's name and message, an
uploaded file's name) are shown as typed on every page that shows them, and nothing in them acts (issue 16.5).

The DOM of each page must hold no <img> from another origin, no javascript: or example.invalid link, no injected
<script> or onerror attribute, and no dialog may open; the names must be there, as text.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.e2e.browser import wait_for_app
from tests.e2e.conftest import start_server, stop_server
from tests.pages.test_untrusted_text import FOLDER_CLASSES, RUN_ID, write_hostile
from vision_core.training import setups

INJECTED = """() => {
  const bad = [];
  for (const img of document.querySelectorAll('img')) {
    const src = img.getAttribute('src') || '';
    if (!src.startsWith('data:') && !src.startsWith('blob:') && new URL(src, location.href).origin !== location.origin)
      bad.push('img ' + src);
  }
  for (const a of document.querySelectorAll('a')) {
    const href = a.getAttribute('href') || a.getAttribute('xlink:href') || '';
    if (/^\\s*javascript:/i.test(href) || href.includes('example.invalid')) bad.push('a ' + href + ' in ' + (a.closest('[data-testid]') || a).getAttribute('data-testid') + ': ' + (a.parentElement || a).outerHTML.slice(0, 300));
  }
  for (const s of document.querySelectorAll('script')) if ((s.textContent || '').includes('alert(1)')) bad.push('script');
  for (const el of document.querySelectorAll('[onerror]')) bad.push('onerror on ' + el.tagName);
  return bad;
}"""

SHOWN = "<img src=x onerror=alert(1)>"  # one of the class folders, as the page must show it


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile-e2e")
    root, data, config = write_hostile(base)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VISION_CORE_DATA", str(data))  # start_server passes the environment on
        proc, url = start_server(root)
    yield url, config
    stop_server(proc)


def check(page, where: str) -> None:
    wait_for_app(page)
    page.wait_for_timeout(1500)  # charts and images drawn
    assert page.evaluate(INJECTED) == [], where


def test_hostile_names_are_text_on_every_page(hostile_app, page, shot):
    url, config = hostile_app
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    page.set_default_timeout(120_000)  # a cold server on a busy CPU loads torch and the dataset first
    page.goto(f"{url}/train?run={RUN_ID}&setup={setups.encode(config)}")
    try:
        page.get_by_text("Stopped by you").wait_for()
    except Exception:
        shot(page, "train-not-ready")
        raise
    page.get_by_text("test images of").wait_for()  # the preview of the hostile image folder, with its captions
    check(page, "train")
    assert page.get_by_text(SHOWN, exact=True).count() >= 1  # a caption, as typed
    assert page.get_by_text(FOLDER_CLASSES[0], exact=True).count() >= 1
    shot(page, "train")

    page.goto(f"{url}/runs")
    page.get_by_text("Compare curves").wait_for()
    check(page, "runs")
    shot(page, "runs")

    page.goto(f"{url}/regularisation?runs={RUN_ID}")
    page.get_by_text("Your experiment").wait_for()
    check(page, "regularisation")

    page.goto(f"{url}/inside?run={RUN_ID}")
    page.get_by_text("First-layer filters").first.wait_for()
    page.get_by_role("tab", name="Feature maps").click()
    check(page, "inside")

    page.goto(f"{url}/evaluate?run={RUN_ID}")
    page.get_by_text("Test accuracy").first.wait_for()
    page.get_by_role("tab", name="Confusion matrix").click()
    check(page, "evaluate")
    assert page.get_by_text(SHOWN).count() >= 1
    shot(page, "evaluate")

    page.goto(f"{url}/predict?run={RUN_ID}")
    page.get_by_text("Classes:").wait_for()
    picture = io.BytesIO()
    Image.new("RGB", (20, 20), (200, 30, 30)).save(picture, format="PNG")
    page.locator("input[type=file]").set_input_files(
        {"name": "<img src=x onerror=alert(1)>.png", "mimeType": "image/png", "buffer": picture.getvalue()})
    page.get_by_text("Where did it look?").wait_for()
    check(page, "predict")
    shot(page, "predict")
    assert dialogs == []
