"""AppTest: the app shell, Home, Train and Runs pages render, and a short training started from Train completes."""

from __future__ import annotations

import os
import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.apptest import APP, open_page, wait_until_done
from tests.patience import PATIENT_S
from vision_core.classroom import jobs
from vision_core.config import RunConfig
from vision_core.runs import store as runs
from vision_core.training import engine
from vision_core.training.live import RemoteControl


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    yield tmp_path
    for run in runs.list_runs(tmp_path):  # leave no worker behind
        if run.state in runs.ACTIVE_STATUSES:
            RemoteControl(run.path).stop()
    for run in runs.list_runs(tmp_path):
        if run.state in runs.ACTIVE_STATUSES:
            wait_until_done(run.run_id)


def test_app_shell_and_home_render(runs_dir):
    at = AppTest.from_file(APP, default_timeout=PATIENT_S).run()
    assert not at.exception
    assert any("CNN Lab" in t.value for t in at.title)
    assert at.button(key="home_quickstart")


def test_train_page_has_its_widgets(runs_dir):
    at = open_page("pages/train.py")
    assert not at.exception
    assert at.selectbox(key="train_dataset").value == "digits"
    assert at.selectbox(key="train_model").value == "lenet"
    assert at.selectbox(key="train_preset")
    assert not at.button(key="train_start").disabled
    assert any("61,706 parameters" in m.value for m in at.markdown)  # the live summary of LeNet on digits


def test_a_model_that_does_not_fit_disables_start(runs_dir):
    at = open_page("pages/train.py")
    at.selectbox(key="train_image_size").set_value("28 × 28").run()
    assert not at.exception
    # LeNet adapts its flatten size to 28×28 ...
    assert not at.button(key="train_start").disabled
    # ... but a net too deep for tiny inputs cannot take 1×28×28 with 6 pooling blocks.
    at.selectbox(key="train_model").set_value("custom").run()
    at.text_input(key="train_opt_blocks").set_value("6").run()
    assert not at.exception
    assert at.button(key="train_start").disabled
    assert at.error and "cannot take" in at.error[0].value


def test_a_preset_whose_data_is_missing_falls_back_to_embedded_data(runs_dir, monkeypatch):
    monkeypatch.setenv("VISION_CORE_DATA", str(runs_dir / "no-data"))
    at = open_page("pages/train.py")
    at.selectbox(key="train_preset").set_value("tinyvgg_fashion")
    at.button(key="train_load_preset").click().run()
    assert not at.exception
    assert at.selectbox(key="train_model").value == "tinyvgg"
    assert at.selectbox(key="train_optimizer").value == "sgd"
    assert at.selectbox(key="train_dataset").value == "digits"
    assert any("not on disk" in i.value for i in at.info)


def test_short_training_started_from_the_page_completes(runs_dir):
    at = open_page("pages/train.py")
    at.text_input(key="train_epochs").set_value("2").run()
    at.button(key="train_start").click().run()
    assert not at.exception
    run_id = at.query_params["run"]
    run_id = run_id[0] if isinstance(run_id, list) else run_id
    assert runs.load_run(run_id).owner  # the browser's person owns it
    run = wait_until_done(run_id)
    assert run.state == "finished", run.status
    assert run.status["pid"] != os.getpid()  # trained in a worker process, not in the server
    at.run()
    assert not at.exception
    assert any(m.label == "Test accuracy" for m in at.metric)
    assert runs.load_run(run_id).summary["epochs_completed"] == 2


def test_runs_page_lists_runs_and_overlays_them(runs_dir):
    at = open_page("pages/runs.py")
    assert not at.exception
    assert at.info and "No runs yet" in at.info[0].value
    for seed in (1, 2):
        engine.train(RunConfig(dataset="digits", model="linear", epochs=1, seed=seed, snapshot_every=0),
                     trainer_options={"limit_train_batches": 3})
    at = open_page("pages/runs.py")
    assert not at.exception
    assert len(at.dataframe[0].value) == 2
    assert at.selectbox(key="runs_manage")


def test_home_quickstart_starts_a_first_run(runs_dir):
    at = AppTest.from_file(APP, default_timeout=PATIENT_S).run()
    at.button(key="home_quickstart").click().run()
    assert not at.exception
    run_id = at.query_params["run"]
    run_id = run_id[0] if isinstance(run_id, list) else run_id
    run = runs.load_run(run_id)
    assert (run.config.dataset, run.config.model) == ("digits", "lenet")
    assert jobs.manager().refresh().get(run_id) is not None  # queued or training
    RemoteControl(run.path).stop()
    wait_until_done(run_id)


def test_a_run_stuck_at_chance_says_why_on_its_live_panel(runs_dir):
    # Adam at lr 10 on the digits: the loss explodes and accuracy stays at chance (issue 11 item 6).
    engine.train(RunConfig(dataset="digits", model="lenet", epochs=1, lr=10.0, snapshot_every=0))
    run = runs.list_runs(runs_dir)[0]
    assert run.state in ("finished", "failed")
    at = open_page("pages/train.py", query_params={"run": run.run_id})
    assert not at.exception
    assert any("learning rate" in w.value.lower() for w in at.warning), [w.value for w in at.warning]


def test_someone_elses_paused_run_refreshes_slowly_and_an_ended_run_never():
    from ui.live_panel import PAUSED_REFRESH_SECONDS, REFRESH_SECONDS, _refresh_every

    assert _refresh_every("running", mine=False) == REFRESH_SECONDS
    assert _refresh_every("paused", mine=True) == REFRESH_SECONDS  # its owner may step one batch at a time
    assert _refresh_every("paused", mine=False) == PAUSED_REFRESH_SECONDS > REFRESH_SECONDS
    assert _refresh_every("queued", mine=False) == REFRESH_SECONDS
    assert _refresh_every("finished", mine=True) is None and _refresh_every("failed", mine=False) is None


def test_a_starting_run_says_which_step_it_is_at(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    run = runs.create_run(RunConfig(dataset="digits", model="lenet", epochs=1), tmp_path)
    runs.write_status(run, "starting", "Loading the data and building the *model*…")
    at = open_page("pages/train.py", query_params={"run": run.run_id})
    assert any("Loading the data and building the \\*model\\*" in i.value for i in at.info)  # as text


def test_someone_elses_paused_run_says_only_what_the_viewer_can_do(tmp_path, monkeypatch):
    # Issue 19.7: it said "Resume, or step one batch at a time" and then that the viewer could not.
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    run = runs.create_run(RunConfig(dataset="digits", model="lenet", epochs=1), tmp_path, owner="someone-else")
    runs.write_status(run, "paused", "")
    at = open_page("pages/train.py", query_params={"run": run.run_id})
    infos = " ".join(i.value for i in at.info)
    assert "Paused by its owner" in infos and "Resume" not in infos


def test_the_sidebar_says_paused_for_a_paused_run(runs_dir):
    import threading

    from vision_core.training.live import JobControl

    config = RunConfig(dataset="digits", model="lenet", epochs=1, snapshot_every=0)
    run = runs.create_run(config, runs_dir)
    control = JobControl()
    control.pause()  # the engine writes "paused" to status.json, as a worker does when its owner pauses
    thread = threading.Thread(target=engine.train, args=(config,), kwargs={"run": run, "control": control},
                              daemon=True)
    thread.start()
    try:
        deadline = time.time() + 120
        while runs.load_run(run.run_id).state != "paused" and time.time() < deadline:
            time.sleep(0.1)
        assert jobs.manager().refresh().get(run.run_id).status == "paused"
        at = open_page("pages/home.py")
        assert not at.exception
        # Not this browser's run (a command-line one): the strip counts it with the rest of the class.
        lines = [c.value for c in at.sidebar.caption if "rest of the class" in c.value]
        assert lines == ["The rest of the class: 1 paused"], lines
    finally:
        control.stop()
        thread.join(120)


def test_the_live_header_shows_the_learning_rate_in_force_not_the_configs(runs_dir):
    import json

    run = runs.create_run(RunConfig(dataset="digits", model="lenet", epochs=2, lr=2e-3, snapshot_every=0), runs_dir)
    runs.write_status(run, "running")  # and a fresh heartbeat
    (run.path / "live.json").write_text(json.dumps({"version": 1, "status": "running", "lr": 0.02, "steps": [],
                                                    "epochs": []}))
    RemoteControl(run.path).set_lr(0.05)  # asked for, not applied yet
    at = open_page("pages/train.py", query_params={"run": run.run_id})
    assert not at.exception
    header = next(c.value for c in at.caption if c.value.startswith("Run `"))
    assert "lr 0.02 (0.05 from the next batch)" in header, header
    # No worker ever ran it: ended here, or the fixture's teardown waits ~20 s for its heartbeat to age.
    runs.write_status(run, "stopped")
