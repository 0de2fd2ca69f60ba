"""In the browser: a student names themself and starts a run; the teacher's Class page shows it under that name,
with controls; the projector view shows it without any."""

from __future__ import annotations

from tests.e2e.browser import click_until, wait_for_app
from tests.e2e.conftest import new_page
from tests.e2e.test_classroom import enter_teacher_mode, start_long_run
from vision_core.classroom import names
from vision_core.runs import store as runs


def set_name(page, url: str, name: str) -> None:
    page.goto(url)
    wait_for_app(page)
    page.get_by_text("Your name:").click()
    box = page.get_by_role("textbox", name="Name the class sees")
    box.fill(name)
    box.press("Enter")
    wait_for_app(page)
    click_until(page, page.get_by_role("button", name="Save name"), page.get_by_text(f"Your name: {name}"))


def test_the_teacher_sees_the_students_run_under_their_name_and_the_projector_shows_no_controls(
        app_url, browser, runs_dir, shot):
    student, teacher = new_page(browser), new_page(browser)
    try:
        set_name(student, app_url, "Ada Lovelace")
        shot(student, "student-named")
        run_id = start_long_run(student, app_url)

        # A student's own Class page: the wall, no controls.
        student.goto(f"{app_url}/class")
        wait_for_app(student)
        student.locator(".cw-table").get_by_text("Ada Lovelace").wait_for()
        assert student.get_by_role("button", name="⏹ Stop").count() == 0
        shot(student, "student-class-page", top=True)

        enter_teacher_mode(teacher, app_url)
        teacher.goto(f"{app_url}/class")
        wait_for_app(teacher)
        row = teacher.locator(".cw-table tr", has_text="Ada Lovelace")
        row.wait_for()
        assert "lenet" in row.inner_text()
        teacher.get_by_role("button", name="⏹ Stop").wait_for()
        shot(teacher, "teacher-class-page", top=True)

        # The wall pinned (another test's challenge may have put the leaderboard into the projector's cycle).
        teacher.goto(f"{app_url}/class?projector=1&view=wall")
        wait_for_app(teacher)
        teacher.locator(".cw-projector").get_by_text("Ada Lovelace").wait_for()
        assert teacher.locator("button:visible, input:visible, [role='combobox']:visible").count() == 0
        assert teacher.locator("[data-testid='stSidebar']:visible").count() == 0
        shot(teacher, "projector", top=True)

        # Back on the teacher's page: stop the student's run from the wall.
        teacher.goto(f"{app_url}/class")
        wait_for_app(teacher)
        teacher.get_by_role("button", name="⏹ Stop").click()
        teacher.get_by_text("Stopping").wait_for()
        assert names.book(runs_dir).display(runs.load_run(run_id, runs_dir).owner) == "Ada Lovelace"
    finally:
        for page in (student, teacher):
            page.context.close()
