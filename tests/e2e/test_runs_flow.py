"""In the browser: a page waiting for a run's first checkpoint opens it by itself; the Runs page as two students
see it (one cannot delete the other's run, a damaged folder is listed with its reason)."""

from __future__ import annotations

import json
import shutil
import threading

import torch

from tests.e2e.browser import wait_for_app
from tests.e2e.conftest import new_page, start_server, stop_server
from ui.identity import PERSON_COOKIE, owner_id
from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.models import zoo as models
from vision_core.runs import store as runs
from vision_core.training import engine

ALICE, BOB = "a" * 24, "b" * 24


def finished_run(root, run_id: str, owner: str | None) -> runs.RunRecord:
    """A finished LeNet-on-digits folder with real (untrained) weights, written without training."""
    run = runs.create_run(RunConfig(dataset="digits", model="lenet", epochs=1), root, run_id=run_id, owner=owner)
    dataset = datasets.load("digits")
    runs.write_data_info(run, engine.data_info(dataset))
    model = models.build("lenet", in_channels=dataset.channels, num_classes=len(dataset.classes),
                         image_size=dataset.image_size)
    weights = {"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}, "epoch": 0}
    for name in ("best", "last"):
        torch.save(weights, run.path / "checkpoints" / f"{name}.ckpt")
    rows = ["epoch,step,train_loss_step,val_acc,val_loss"]
    rows += [f"0,{step},{2.3 - step * 0.04 + 0.1 * (step % 3)},," for step in range(30)]
    rows += ["0,29,,0.55,1.4"]
    (run.path / "metrics.csv").write_text("\n".join(rows) + "\n")
    runs.write_summary(run, {"test_acc": 0.5, "test_loss": 1.0, "train_seconds": 2.0, "device": "CPU"})
    runs.write_status(run, "finished", epoch=1)
    (run.path / "heartbeat").unlink(missing_ok=True)  # no process behind it (a fresh beat would make it undeletable for 20 s)
    return run


def as_person(browser, url: str, token: str):
    page = new_page(browser)
    page.context.add_cookies([{"name": PERSON_COOKIE, "value": token, "url": url}])
    return page


def test_no_checkpoint_yet_opens_the_run_by_itself(browser, tmp_path, shot):
    run = finished_run(tmp_path, "20260101-000000-training", owner_id(ALICE))
    runs.write_status(run, "running", epoch=0)
    parked = tmp_path.parent / f"{tmp_path.name}-parked"
    shutil.move(run.path / "checkpoints", parked)
    beating = threading.Event()

    def heartbeat():  # stands in for the training process
        while not beating.wait(1.0):
            runs.touch_heartbeat(run)

    threading.Thread(target=heartbeat, daemon=True).start()
    proc, url = start_server(tmp_path)
    page = as_person(browser, url, ALICE)
    try:
        page.goto(f"{url}/evaluate?run={run.run_id}")
        wait_for_app(page)
        page.get_by_text("No checkpoint yet").wait_for()
        page.get_by_text("looking again every").wait_for()
        shot(page, "waiting-for-a-checkpoint", top=True)
        shutil.move(parked, run.path / "checkpoints")  # the first epoch ends
        page.get_by_text("Still running").wait_for()  # no reload by the test
        assert page.get_by_text("No checkpoint yet").count() == 0
        shot(page, "opened-by-itself", top=True)
    finally:
        beating.set()
        page.context.close()
        stop_server(proc)


def test_runs_page_as_two_students(browser, tmp_path, shot):
    finished_run(tmp_path, "20260101-000001-alice", owner_id(ALICE))
    broken = finished_run(tmp_path, "20260101-000002-broken", owner_id(ALICE))
    config = json.loads((broken.path / "config.json").read_text())
    (broken.path / "config.json").write_text(json.dumps({**config, "optimizer": "bogus"}))
    proc, url = start_server(tmp_path)
    alice, bob = as_person(browser, url, ALICE), as_person(browser, url, BOB)
    try:
        bob.goto(f"{url}/runs")
        wait_for_app(bob)
        bob.get_by_text("Someone else's run").wait_for()
        bob.get_by_text("optimizer must be one of").wait_for()  # the damaged folder, with its reason
        assert bob.get_by_role("button", name="Delete run").count() == 0
        assert bob.get_by_role("button", name="Delete", exact=True).count() == 0
        bob.get_by_role("radio", name="step").wait_for()
        bob.locator("[data-testid='stPlotlyChart']").first.wait_for()
        wait_for_app(bob)
        shot(bob, "someone-elses-runs", top=True)

        alice.goto(f"{url}/runs")
        wait_for_app(alice)
        alice.get_by_role("button", name="Delete", exact=True).click()  # the damaged folder's popover
        alice.get_by_role("button", name="Delete for good").click()
        alice.get_by_text("Deleted 20260101-000002-broken").wait_for()
        assert not broken.path.exists()
        alice.get_by_role("button", name="Delete run").click()
        alice.get_by_role("button", name="Delete for good").click()
        alice.get_by_text("Deleted 20260101-000001-alice").wait_for()
        assert runs.list_runs(tmp_path) == [] and runs.list_damaged(tmp_path) == []
        shot(alice, "all-deleted", top=True)
    finally:
        alice.context.close()
        bob.context.close()
        stop_server(proc)
