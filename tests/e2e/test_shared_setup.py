"""A teacher shares a locked Train set-up as a link; a student opening it sees the same form, locked, Start enabled."""

from __future__ import annotations

from tests.e2e.browser import wait_for_app
from tests.e2e.conftest import new_page
from vision_core.training import setups


def set_number(page, label: str, value: str) -> None:
    """Type ``value`` and press Enter; again when the box does not show it once the app is idle (on a loaded
    machine a rerun still on its way redrew the box over the typing, and the link kept the old learning rate)."""
    box = page.get_by_label(label, exact=True)
    for _ in range(3):
        box.fill(value)
        box.press("Enter")
        wait_for_app(page)
        if box.input_value() == value:
            return
    assert box.input_value() == value, label


def test_a_locked_link_opens_the_same_set_up_for_a_student(app_url, browser, page, shot):
    page.goto(app_url + "/train")
    wait_for_app(page)
    page.get_by_text("Set up a run").wait_for()
    set_number(page, "Epochs", "7")
    set_number(page, "Learning rate", "0.05")
    page.get_by_text("Share this set-up").click()
    locked = ""
    for _ in range(120):  # the share box follows the form once its rerun is drawn
        codes = page.get_by_test_id("stCode")
        locked = codes.last.inner_text().strip() if codes.count() else ""
        shared = setups.decode(locked.split("setup=")[1].split("&")[0]) if "?setup=" in locked else None
        if shared is not None and (shared.epochs, shared.lr) == (7, 0.05):
            break
        page.wait_for_timeout(500)
    assert locked.startswith(app_url + "/train?setup=") and locked.endswith("&locked=1")  # a full address
    config = setups.decode(locked.split("setup=")[1].split("&")[0])
    assert (config.epochs, config.lr) == (7, 0.05)
    shot(page, "teacher-share-box")

    student = new_page(browser)  # another browser: another person, nothing in common but the link
    try:
        student.goto(locked, wait_until="domcontentloaded")
        wait_for_app(student)
        student.get_by_text("is locked").wait_for()
        epochs = student.get_by_label("Epochs", exact=True)
        epochs.wait_for()  # the form draws section by section on a busy machine
        wait_for_app(student)
        assert epochs.input_value() == "7" and epochs.is_disabled()
        assert student.get_by_label("Learning rate", exact=True).input_value() == "0.05"
        assert student.get_by_role("button", name="▶ Start training").is_enabled()
        shot(student, "student-locked-form", top=True)
    finally:
        student.context.close()
