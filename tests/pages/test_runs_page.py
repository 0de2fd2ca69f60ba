"""AppTest: the Runs page and the run picker against untrusted run folders, ownership and the delete race.

- four run folders with one bad value each (issue 8): every page still renders, the bad one is listed as damaged;
- delete removes exactly the run its confirmation named, whatever appeared in the table meanwhile;
- another person's run has no delete / rename / download; the teacher's view has them;
- strings from run folders never render as Markdown (links, images);
- which run Evaluate / Inside / Predict open by default (issue 13.4), and the TensorBoard-like controls (13.6).
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timedelta

import pytest
import torch

from tests.patience import PATIENT_S
from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.models import zoo as models
from vision_core.runs import store as runs
from vision_core.training import engine

ME = "a" * 24  # this browser's token (identity reads it from the session)
OTHER = "b" * 24
PAGES = ("pages/runs.py", "pages/evaluate.py", "pages/inside.py", "pages/predict.py", "pages/train.py")


def owner_id(token: str) -> str:
    from ui import identity

    return identity.owner_id(token)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished LeNet-on-digits run folder with real (untrained) weights, a metrics log and a summary,
    written by hand so these tests do not depend on the training engine; copied into each test's folder."""
    root = tmp_path_factory.mktemp("trained")
    run = runs.create_run(RunConfig(dataset="digits", model="lenet", epochs=2, snapshot_every=0), root,
                          run_id="template")
    dataset = datasets.load("digits")
    runs.write_data_info(run, engine.data_info(dataset))
    model = models.build("lenet", in_channels=dataset.channels, num_classes=len(dataset.classes),
                         image_size=dataset.image_size)
    weights = {"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}, "epoch": 1}
    for name in ("best", "last"):
        torch.save(weights, run.path / "checkpoints" / f"{name}.ckpt")
    rows = ["epoch,lr,step,test_acc,test_loss,train_acc,train_loss_epoch,train_loss_step,val_acc,val_loss"]
    for step in range(20):
        rows.append(f"{step // 10},,{step},,,,,{2.3 - step * 0.05},,")
        if step % 10 == 9:
            rows.append(f"{step // 10},0.001,{step},,,{0.3 + step / 40},{2.0 - step / 20},,{0.3 + step / 50},"
                        f"{2.0 - step / 25}")
    (run.path / "metrics.csv").write_text("\n".join(rows) + "\n")
    runs.write_summary(run, {"status": "finished", "test_acc": 0.7, "test_loss": 1.1, "best_val_acc": 0.68,
                             "epochs_completed": 2, "steps": 20, "train_seconds": 4.0, "device": "CPU",
                             "parameters": 61706})
    runs.write_status(run, "finished", epoch=2)
    return run


def copy_run(trained, root, run_id: str, owner: str | None = None, test_acc: float | None = None) -> None:
    """A copy of the trained run under ``run_id``, owned by ``owner`` (an owner id), finished."""
    shutil.copytree(trained.path, root / run_id)
    (root / run_id / "heartbeat").unlink(missing_ok=True)  # its process is long gone (a fresh beat would keep it undeletable)
    (root / run_id / "owner.json").write_text(json.dumps({"owner": owner}))
    if test_acc is not None:
        patch(root / run_id / "summary.json", test_acc=test_acc)


def patch(path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def page(path: str, token: str = ME, teacher: bool = False, monkeypatch=None, run: str | None = None):
    from streamlit.testing.v1 import AppTest

    from tests.pages.apptest import APP

    at = AppTest.from_file(APP, default_timeout=PATIENT_S)
    at.session_state["_person_token"] = token
    if teacher:
        at.session_state["_teacher"] = True
    if run is not None:
        at.query_params["run"] = run
    at.switch_page(path)
    return at.run()


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    monkeypatch.delenv("VISION_CORE_TEACHER_PASSWORD", raising=False)
    return tmp_path


def texts(at) -> str:
    return "\n".join([t.value for t in at.text] + [c.value for c in at.caption] + [m.value for m in at.markdown])


def test_four_damaged_folders_every_page_still_renders(trained, root):
    for run_id in ("good", "bad-optimizer", "bad-pid", "bad-metrics", "bad-summary"):
        copy_run(trained, root, run_id, owner_id(ME))
    patch(root / "bad-optimizer" / "config.json", optimizer="bogus")
    patch(root / "bad-pid" / "status.json", pid="abc")
    patch(root / "bad-summary" / "summary.json", test_acc="ninety")
    metrics = root / "bad-metrics" / "metrics.csv"
    columns = metrics.read_text().splitlines()[0].split(",")
    with open(metrics, "a") as f:
        f.write(",".join("oops" for _ in columns) + "\n")  # a whole row that is not numbers

    for path in PAGES:
        for run in (None, "bad-pid", "bad-metrics", "bad-summary", "bad-optimizer"):
            at = page(path, run=run)
            assert not at.exception, (path, run, at.exception)
    at = page("pages/runs.py")
    assert sorted(at.dataframe[0].value["run id"]) == ["bad-metrics", "bad-pid", "bad-summary", "good"]
    assert any("bad-optimizer" in t.value and "optimizer must be one of" in t.value for t in at.text)
    # The damaged run is skipped by the picker: a link to it says so and opens another run.
    at = page("pages/evaluate.py", run="bad-optimizer")
    assert any("not on disk" in w.value for w in at.warning)
    assert at.selectbox(key="eval_run").value != "bad-optimizer"


def test_the_owner_deletes_a_damaged_folder(trained, root):
    copy_run(trained, root, "good", owner_id(ME))
    copy_run(trained, root, "broken", owner_id(ME))
    patch(root / "broken" / "config.json", optimizer="bogus")
    at = page("pages/runs.py")
    at.button(key="runs_delete_broken").click().run()
    assert not at.exception
    assert not (root / "broken").exists() and (root / "good").exists()
    assert any("Deleted broken" in s.value for s in at.success)


def test_delete_removes_exactly_the_run_the_confirmation_named(trained, root):
    copy_run(trained, root, "20260101-000000-mine", owner_id(ME))
    at = page("pages/runs.py")
    assert at.selectbox(key="runs_manage").value == "20260101-000000-mine"
    confirm = at.button(key="runs_delete_20260101-000000-mine")
    # Meanwhile a classmate's run appears; it sorts first and would take the old row's place in the table.
    copy_run(trained, root, "20260101-000001-theirs", owner_id(ME))
    confirm.click().run()
    assert not at.exception
    assert not (root / "20260101-000000-mine").exists()
    assert (root / "20260101-000001-theirs").exists()
    assert [r.run_id for r in runs.list_runs(root)] == ["20260101-000001-theirs"]


def test_another_persons_run_is_read_only_and_the_teacher_manages_it(trained, root, monkeypatch):
    copy_run(trained, root, "theirs", owner_id(OTHER))
    copy_run(trained, root, "cli-run", None)  # started from the command line: the teacher's
    broken = "broken-theirs"
    copy_run(trained, root, broken, owner_id(OTHER))
    patch(root / broken / "config.json", lr="fast")
    for run_id in ("theirs", "cli-run"):
        at = page("pages/runs.py")
        at.selectbox(key="runs_manage").set_value(run_id).run()
        assert not at.exception
        assert not [b for b in at.button if b.key and b.key.startswith(("runs_delete", "runs_rename"))]
        assert "runs_download" not in [b.key for b in at.get("download_button")]
        assert any("Someone else's run" in c.value for c in at.caption)
    assert (root / "theirs").exists() and (root / broken).exists()

    # The owner sees the buttons ...
    at = page("pages/runs.py", token=OTHER)
    at.selectbox(key="runs_manage").set_value("theirs").run()
    assert at.button(key="runs_delete_theirs") and at.button(key="runs_rename_theirs")
    assert at.button(key=f"runs_delete_{broken}")
    # ... and so does the teacher, for every run.
    monkeypatch.setenv("VISION_CORE_TEACHER_PASSWORD", "s3cret")
    at = page("pages/runs.py", teacher=True)
    at.selectbox(key="runs_manage").set_value("cli-run").run()
    assert at.button(key="runs_delete_cli-run")
    at.button(key=f"runs_delete_{broken}").click().run()
    assert not at.exception and not (root / broken).exists()
    at.selectbox(key="runs_manage").set_value("theirs").run()
    at.button(key="runs_delete_theirs").click().run()
    assert not (root / "theirs").exists()


def test_a_stale_delete_button_cannot_delete_another_persons_run(trained, root):
    """Ownership is checked again when the button is pressed (it may have changed hands meanwhile)."""
    copy_run(trained, root, "mine", owner_id(ME))
    at = page("pages/runs.py")
    button = at.button(key="runs_delete_mine")
    (root / "mine" / "owner.json").write_text(json.dumps({"owner": owner_id(OTHER)}))
    button.click().run()
    assert (root / "mine").exists()
    assert any("not yours" in e.value for e in at.error)


def test_rename_and_strings_from_run_folders_render_as_text(trained, root):
    copy_run(trained, root, "mine", owner_id(ME))
    at = page("pages/runs.py")
    evil = "![x](http://example.invalid/x.png) [click](http://example.invalid)"
    at.text_input(key="runs_name_mine").input(evil)
    at.button(key="runs_rename_mine").click().run()
    assert not at.exception
    assert runs.load_run("mine").name == evil
    assert at.dataframe[0].value["name"].tolist() == [evil]  # a table cell: plain text
    for element in list(at.markdown) + list(at.caption) + list(at.success) + list(at.error) + list(at.info):
        assert "](http" not in element.value, element.value  # nothing from the folder reaches Markdown unescaped
    assert any(evil in t.value for t in at.text)


def test_runs_table_columns_legends_smoothing_axes_and_csv(trained, root):
    copy_run(trained, root, "r-adam", owner_id(ME))
    copy_run(trained, root, "r-sgd", owner_id(ME))
    patch(root / "r-sgd" / "config.json", optimizer="sgd", lr=0.1)
    at = page("pages/runs.py")
    assert not at.exception
    df = at.dataframe[0].value
    assert list(df.columns[:7]) == ["name", "id", "started", "model", "dataset", "optimizer", "learning rate"]
    assert list(df.columns)[-1] == "run id"
    assert "None" not in df.astype(str).to_string()  # numbers missing are NaN, shown as the placeholder
    assert at.selectbox(key="runs_metric").value == "val_acc"
    assert "validation accuracy" in at.selectbox(key="runs_metric").options
    assert at.radio(key="runs_x").options == ["step", "epoch", "time"]
    assert at.slider(key="runs_smoothing").value == 0.6
    for x in ("step", "epoch", "time"):
        at.radio(key="runs_x").set_value(x).run()
        assert not at.exception
    at.toggle(key="runs_log").set_value(True).run()
    at.slider(key="runs_smoothing").set_value(0.0).run()
    assert not at.exception
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = sorted(t["name"] for t in fig["data"] if t.get("showlegend", True) is not False)
    assert names == ["lenet · adam · lr 0.001", "lenet · sgd · lr 0.1"]  # the legend tells the runs apart
    assert fig["layout"]["yaxis"]["type"] == "log"
    assert fig["layout"]["xaxis"]["title"]["text"] == "training time (s)"
    assert "runs_csv" in [b.key for b in at.get("download_button")]


def test_pick_run_opens_this_persons_best_finished_run(trained, root):
    copy_run(trained, root, "20260101-000001-mine-worse", owner_id(ME), test_acc=0.5)
    copy_run(trained, root, "20260101-000002-mine-best", owner_id(ME), test_acc=0.9)
    copy_run(trained, root, "20260101-000003-theirs", owner_id(OTHER), test_acc=0.99)
    copy_run(trained, root, "20260101-000004-mine-diverged", owner_id(ME))
    patch(root / "20260101-000004-mine-diverged" / "summary.json", test_acc=None, best_val_acc=None)
    copy_run(trained, root, "20260101-000005-mine-no-checkpoint", owner_id(ME), test_acc=1.0)
    shutil.rmtree(root / "20260101-000005-mine-no-checkpoint" / "checkpoints")
    for path, key in (("pages/evaluate.py", "eval_run"), ("pages/inside.py", "inside_run"),
                      ("pages/predict.py", "pred_run")):
        at = page(path)
        assert not at.exception
        assert at.selectbox(key=key).value == "20260101-000002-mine-best", path
        at.run()  # a rerun: the picker still draws the run it holds (a browser drawing the default keeps it)
        picker = at.selectbox(key=key)
        assert picker.value == "20260101-000002-mine-best" and picker.proto.default == picker.index != 0, path
    # Someone with no run of their own gets the best of anyone's.
    at = page("pages/evaluate.py", token="c" * 24)
    assert at.selectbox(key="eval_run").value == "20260101-000003-theirs"
    # The URL wins; an invalid id in it is refused in one sentence.
    at = page("pages/evaluate.py", run="20260101-000001-mine-worse")
    assert at.selectbox(key="eval_run").value == "20260101-000001-mine-worse"
    at = page("pages/evaluate.py", run="../../etc")
    assert not at.exception and any("no valid run" in w.value for w in at.warning)


def test_no_checkpoint_yet_waits_and_opens_the_run_when_one_appears(trained, root):
    copy_run(trained, root, "training", owner_id(ME))
    checkpoints = root / "training" / "checkpoints"
    saved = root / "saved-checkpoints"
    shutil.move(checkpoints, saved)
    run = runs.load_run("training")
    runs.write_status(run, "running", epoch=0)  # a fresh heartbeat: it is alive
    at = page("pages/evaluate.py", run="training")
    assert not at.exception
    assert any("No checkpoint yet" in i.value and "by itself" in i.value for i in at.info)
    assert any("looking again every" in c.value for c in at.caption)  # the self-refreshing fragment
    shutil.move(saved, checkpoints)
    at.run()
    assert not at.exception
    assert not any("No checkpoint yet" in i.value for i in at.info)
    assert any("Still running" in c.value for c in at.caption)


def test_deleting_a_run_that_is_already_gone_says_so(trained, root):
    copy_run(trained, root, "mine", owner_id(ME))
    copy_run(trained, root, "other", owner_id(ME))
    at = page("pages/runs.py")
    at.selectbox(key="runs_manage").set_value("mine").run()
    button = at.button(key="runs_delete_mine")
    runs.delete_run("mine", root)  # another tab of the same student was quicker
    button.click().run()
    assert not at.exception
    assert any("already gone" in e.value for e in at.error)
    assert (root / "other").exists()


def test_the_owner_continues_a_stopped_run_from_the_runs_page(trained, root, monkeypatch):
    from vision_core.classroom import jobs

    scheduler = jobs.Scheduler(root, tick=60)
    scheduler.start = lambda: scheduler  # no worker: the test checks the run goes back in the queue
    monkeypatch.setattr(jobs, "manager", lambda root=None: scheduler)
    for run_id, owner in (("mine", ME), ("theirs", OTHER)):
        copy_run(trained, root, run_id, owner_id(owner))
        patch(root / run_id / "status.json", status="stopped", message="The last checkpoint holds the weights.")
    at = page("pages/runs.py")
    at.selectbox(key="runs_manage").set_value("theirs").run()
    assert not [b for b in at.button if b.key and b.key.startswith("runs_continue")]  # not theirs to continue
    at.selectbox(key="runs_manage").set_value("mine").run()
    at.button(key="runs_continue_mine").click().run()
    assert not at.exception, at.exception
    run = runs.load_run("mine", root)
    assert run.state == "queued" and run.status["resume"] == "last"
    assert "Continues from its last checkpoint" in run.status["message"]
    assert runs.load_run("theirs", root).state == "stopped"


def test_a_run_that_diverged_says_so_in_the_runs_table(trained, root):
    copy_run(trained, root, "wild", owner_id(ME))
    patch(root / "wild" / "status.json", diverged=True, message="Diverged: after all its epochs ...")
    at = page("pages/runs.py")
    assert not at.exception
    assert at.dataframe[0].value["status"].tolist() == ["finished (diverged)"]


def test_anyone_may_download_a_finished_run_as_code_the_checkpoint_only_its_owner(trained, root):
    copy_run(trained, root, "theirs", owner_id(OTHER))
    copy_run(trained, root, "mine", owner_id(ME))
    at = page("pages/runs.py")
    for run_id, label in (("theirs", "Download as code (notebook + script)"),
                          ("mine", "Download as code (notebook + script + checkpoint)")):
        at.selectbox(key="runs_manage").set_value(run_id).run()
        assert not at.exception
        buttons = {b.key: b for b in at.get("download_button")}
        assert "runs_code" in buttons and buttons["runs_code"].proto.label == label
    patch(root / "mine" / "status.json", status="running")
    at = page("pages/runs.py")
    at.selectbox(key="runs_manage").set_value("mine").run()
    assert "runs_code" not in [b.key for b in at.get("download_button")]  # not finished: nothing to reproduce yet


def test_unnamed_runs_are_told_apart_by_a_default_name_a_short_id_and_when_they_started(trained, root):
    """Issue 19.6: two unnamed runs of the same set-up were two empty names; "One run" said the id twice."""
    now = datetime.now().replace(microsecond=0)
    today = max(now - timedelta(seconds=5), now.replace(hour=0, minute=0, second=0))
    yesterday = now - timedelta(days=1)
    first, second = f"{yesterday:%Y%m%d-%H%M%S}-lenet-digits-7b2c", f"{today:%Y%m%d-%H%M%S}-lenet-digits-3fa1"
    copy_run(trained, root, first, owner_id(ME))
    copy_run(trained, root, second, owner_id(ME))
    at = page("pages/runs.py")
    assert not at.exception
    table = at.dataframe[0].value.set_index("run id")
    assert list(table.columns[:3]) == ["name", "id", "started"]
    assert table.loc[second, "name"] == f"lenet · digits · {today:%H:%M:%S}"
    assert table.loc[first, "name"] == f"lenet · digits · {yesterday:%H:%M:%S}"
    assert (table.loc[second, "id"], table.loc[first, "id"]) == ("3fa1", "7b2c")
    assert table.loc[second, "started"] == f"{today:%H:%M:%S} today"
    assert table.loc[first, "started"] == f"{yesterday:%H:%M:%S} yesterday"
    assert any("server's clock" in c.value for c in at.caption)  # whose time it is, said once

    box = at.selectbox(key="runs_manage")
    box.set_value(second).run()
    assert box.format_func(second) == f"lenet · digits · {today:%H:%M:%S} · 3fa1 (finished)"
    (line,) = [t.value for t in at.text if t.value.startswith("Run ")]
    assert line.count(second) == 1 and line.startswith(f"Run {second}: lenet on digits, started ")
    assert "by you" in line


def test_log_scale_ticks_are_round_numbers_written_plainly(trained, root):
    copy_run(trained, root, "r1", owner_id(ME))
    at = page("pages/runs.py")
    at.selectbox(key="runs_metric").set_value("train_loss_step")
    at.toggle(key="runs_log").set_value(True).run()
    assert not at.exception
    yaxis = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["yaxis"]
    assert yaxis["type"] == "log" and yaxis["tickmode"] == "array"
    values, labels = yaxis["tickvals"], yaxis["ticktext"]
    assert len(values) >= 2 and values == sorted(values)
    assert labels == [f"{v:g}" for v in values] and all(re.fullmatch(r"\d+(\.\d+)?", t) for t in labels)


def test_range_tests_are_listed_apart_and_never_offered_as_trained_models(trained, root):
    copy_run(trained, root, "20260101-000001-mine", owner_id(ME))
    test = runs.create_run(RunConfig(dataset="digits", model="lenet", epochs=1), root, run_id="20260101-000009-lrt",
                           owner=owner_id(ME), job={"kind": runs.LR_RANGE_TEST, "num_batches": 30})
    runs.write_status(test, "finished")
    shutil.copytree(trained.path / "checkpoints", test.path / "checkpoints", dirs_exist_ok=True)  # even with one
    for path, key in (("pages/evaluate.py", "eval_run"), ("pages/inside.py", "inside_run"),
                      ("pages/predict.py", "pred_run")):
        at = page(path)
        assert not at.exception, path
        assert len(at.selectbox(key=key).options) == 1 and at.selectbox(key=key).value == "20260101-000001-mine"
    at = page("pages/runs.py")
    assert not at.exception
    assert len(at.selectbox(key="runs_manage").options) == 1
    assert "20260101-000009-lrt: lenet on digits, batch 64, 30 batches, finished by you" in texts(at)
    at.button(key="runs_delete_20260101-000009-lrt").click().run()
    assert not at.exception
    assert not test.path.exists() and (root / "20260101-000001-mine").exists()


@pytest.mark.parametrize("path", ["pages/evaluate.py", "pages/inside.py", "pages/predict.py", "pages/runs.py"])
def test_a_run_page_draws_every_widget_at_the_value_it_holds_after_a_rerun(trained, root, path):
    """The pages that fill widgets from their state (the confusion matrix's chosen cell, a random image, the run
    picker) draw those widgets at that value, so a browser that draws before Streamlit's "set value" keeps it."""
    from tests.pages.test_widget_defaults import drawn_as

    copy_run(trained, root, "20260101-000001-first", owner_id(ME), test_acc=0.5)
    copy_run(trained, root, "20260101-000002-second", owner_id(ME), test_acc=0.4)
    at = page(path, run="20260101-000001-first")
    if path == "pages/inside.py":
        at.session_state["inside_image"] = 17
        at.session_state["inside_top_channel"] = 3
    at.run()
    assert not at.exception
    wrong = [f"{w.key}: draws {d!r}, holds {v!r}" for kind in ("selectbox", "slider", "number_input", "radio")
             for w in at.get(kind) if w.key for d, v in [drawn_as(w)] if d != v]
    assert not wrong, "\n".join(wrong)
