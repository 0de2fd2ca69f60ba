"""In the browser, as a class would: two students and a teacher on one server; a server restart mid-run."""

from __future__ import annotations

import re
import time

from tests.e2e.browser import click_until, wait_for_app
from tests.e2e.conftest import TEACHER_PASSWORD, new_page, start_server, stop_server
from tests.e2e.test_train_flow import chart_points, wait_points_above
from vision_core.runs import store as runs


def start_long_run(page, url: str) -> str:
    page.goto(url + "/train")
    wait_for_app(page)
    page.get_by_text("Set up a run").wait_for()
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("200")
    epochs.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="▶ Start training").click()
    page.wait_for_url(re.compile(r"[?&]run="))
    return re.search(r"run=([^&]+)", page.url).group(1)


def enter_teacher_mode(page, url: str) -> None:
    page.goto(url)
    wait_for_app(page)
    # The sidebar's status strip redraws every few seconds: a click on the expander that lands during a redraw is lost.
    click_until(page, page.get_by_text("Teacher", exact=True), page.get_by_label("Teacher password"))
    page.get_by_label("Teacher password").fill(TEACHER_PASSWORD)
    page.get_by_role("button", name="Enter teacher mode").click()
    page.get_by_text("Teacher mode: you manage every run").wait_for()


def test_a_student_cannot_stop_anothers_run_and_the_teacher_can(app_url, browser, runs_dir, shot):
    alice, bob, teacher = new_page(browser), new_page(browser), new_page(browser)
    try:
        run_id = start_long_run(alice, app_url)
        wait_points_above(alice, 0)
        assert alice.get_by_role("button", name="⏹ Stop").count() == 1

        # Bob watches Alice's run: curves yes, controls no.
        bob.goto(f"{app_url}/train?run={run_id}")
        wait_for_app(bob)
        bob.get_by_text("Someone else's run").wait_for()
        wait_points_above(bob, 0)
        assert bob.get_by_role("button", name="⏹ Stop").count() == 0
        assert bob.get_by_role("button", name="⏸ Pause").count() == 0
        shot(bob, "someone-elses-run", top=True)

        # Alice is still Alice after a refresh (the cookie), and keeps her controls.
        alice.reload()
        wait_for_app(alice)
        alice.get_by_role("button", name="⏹ Stop").wait_for()

        # The teacher manages everything.
        enter_teacher_mode(teacher, app_url)
        teacher.goto(f"{app_url}/train?run={run_id}")
        wait_for_app(teacher)
        teacher.get_by_role("button", name="⏹ Stop").click()
        teacher.get_by_text("Stopped by you").wait_for()
        assert runs.load_run(run_id, runs_dir).state == "stopped"
        shot(teacher, "teacher-stopped-it", top=True)
    finally:
        for page in (alice, bob, teacher):
            page.context.close()


def test_the_run_survives_a_server_restart_and_is_found_again(browser, tmp_path, shot):
    proc, url = start_server(tmp_path)
    port = int(url.rsplit(":", 1)[1])
    page = new_page(browser)
    try:
        run_id = start_long_run(page, url)
        before = wait_points_above(page, 0)
        stop_server(proc)  # the server goes away mid-run ...
        run = runs.load_run(run_id, tmp_path)
        version = (run.path / "live.json").stat().st_mtime
        time.sleep(3)
        assert (run.path / "live.json").stat().st_mtime > version  # ... the worker trains on
        assert runs.load_run(run_id, tmp_path).state == "running"

        proc, url = start_server(tmp_path, port=port, log_name="streamlit-2.log")
        page.goto(f"{url}/train?run={run_id}")
        wait_for_app(page)
        again = wait_points_above(page, before)
        assert wait_points_above(page, again) > again  # live curves again, from the new server
        shot(page, "after-server-restart", top=True)
        page.get_by_role("button", name="⏹ Stop").click()  # same browser, same person: still the owner
        page.get_by_text("Stopped by you").wait_for()
        assert chart_points(page) >= again
    finally:
        page.context.close()
        stop_server(proc)
        for run in runs.list_runs(tmp_path):
            if run.state in runs.ACTIVE_STATUSES:
                from vision_core.training.live import RemoteControl

                RemoteControl(run.path).stop()
