"""AppTest: the Inside page's weights-and-gradients and embedding-projector tabs, the vanishing-gradients lesson,
and the Train page's learning-rate range test."""

from __future__ import annotations

import os

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.pages.apptest import APP, chart, chart_keys, open_page, use_runs, wait_until_done
from vision_core.analysis import projector
from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.runs import store as runs
from vision_core.training import engine

PAGE = "pages/inside.py"
FAST = {"limit_train_batches": 6, "limit_val_batches": 2, "limit_test_batches": 2}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    engine.train(RunConfig(dataset="digits", model="lenet", epochs=1, snapshot_every=2, name="tboard"),
                 root=root, trainer_options=FAST)
    (run,) = runs.list_runs(root)
    return run


@pytest.fixture
def runs_dir(tmp_path, monkeypatch, trained):
    use_runs(tmp_path, monkeypatch, trained)
    return tmp_path




def test_weights_gradients_and_the_projector_of_a_trained_run(runs_dir, trained):
    at = open_page(PAGE, query_params={"run": trained.run_id})
    assert not at.exception, at.exception
    assert {"inside_hist_weights", "inside_hist_grads", "inside_hist_norms", "inside_proj_before",
            "inside_proj_after"} <= chart_keys(at)
    assert at.selectbox(key="inside_hist_layer").options == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    weights = chart(at, "inside_hist_weights")["data"][0]
    assert weights["x"] == [0, 2, 4, 6] and "conv1" in chart(at, "inside_hist_weights")["layout"]["title"]["text"]
    at.selectbox(key="inside_hist_layer").set_value("fc3").run()
    assert "fc3" in chart(at, "inside_hist_grads")["layout"]["title"]["text"]
    # The "after" projection is the core's PCA of the best checkpoint, one trace per class.
    data = datasets.load("digits")
    expected = projector.embed(runs.load_model(trained, "best"), data.test, data.normalize)
    traces = chart(at, "inside_proj_after")["data"]
    assert [t["name"] for t in traces] == data.classes
    zero = torch.tensor([[x, y] for x, y in zip(traces[0]["x"], traces[0]["y"])])
    torch.testing.assert_close(zero, expected.coords[expected.labels == 0], atol=1e-4, rtol=1e-4)
    assert not any("lesson" in c.proto.id for c in at.get("plotly_chart"))  # the lesson waits for its toggle


def test_a_run_without_histograms_says_so(runs_dir, trained):
    (runs_dir / trained.run_id / "snapshots.pt").unlink()
    at = open_page(PAGE, query_params={"run": trained.run_id})
    assert not at.exception, at.exception
    assert any("no weight histograms" in i.value for i in at.info)
    assert "inside_proj_after" in chart_keys(at)  # the projector needs no snapshots


def test_the_vanishing_gradients_lesson(runs_dir, trained):
    at = open_page(PAGE, query_params={"run": trained.run_id})
    at.toggle(key="inside_lesson_on").set_value(True)
    at.run(timeout=600)
    assert not at.exception, at.exception
    bars = {t["name"]: t["y"] for t in chart(at, "inside_lesson_norms")["data"]}
    assert set(bars) == {"sigmoid", "relu", "sigmoid + BatchNorm", "relu + BatchNorm"}
    assert bars["sigmoid"][0] * 10 <= bars["relu"][0]  # fc1
    assert any("smaller with sigmoid than with ReLU" in c.value for c in at.caption)
    at.radio(key="inside_lesson_variant").set_value("relu").run()
    assert "fc1" in chart(at, "inside_lesson_fc1")["layout"]["title"]["text"]


def test_the_lr_range_test_on_the_train_page_fills_the_learning_rate(tmp_path, monkeypatch):
    """The button queues a job that a worker runs (this process, the server's, never trains); the result then fills
    the learning rate, survives a refresh, and a classmate asking for the same set-up shares it."""
    from vision_core.runs import range_tests
    from vision_core.training import lr_finder

    def in_the_server(*args, **kwargs):
        raise AssertionError("lr_range_test ran in the server's process")

    monkeypatch.setattr(lr_finder, "lr_range_test", in_the_server)
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    at = open_page("pages/train.py")
    assert not at.exception, at.exception
    at.slider(key="train_lrf_batches").set_value(30)
    at.button(key="train_lrf_run").click()
    at.run(timeout=600)
    assert not at.exception, at.exception
    (test,) = runs.list_jobs(runs.LR_RANGE_TEST, tmp_path)  # queued at once, owned by this browser's person
    assert test.job == {"num_batches": 30} and test.owner and not runs.list_runs(tmp_path)
    assert "train_lrf_chart" not in chart_keys(at)  # the page returned before any result
    done = wait_until_done(test.run_id)
    assert done.state == "finished", done.status
    assert done.status["pid"] != os.getpid()  # the worker's, not this process's
    at.run()
    assert not at.exception, at.exception
    spec = chart(at, "train_lrf_chart")
    assert len(spec["data"][0]["x"]) == 30 and spec["layout"]["xaxis"]["type"] == "log"
    use = at.button(key="train_lrf_use_steepest")
    value = float(use.label.rsplit(": ", 1)[1])
    assert value == float(f"{range_tests.read_result(done).steepest:.2g}")
    use.click().run()
    assert not at.exception, at.exception
    assert at.number_input(key="train_lr").value == pytest.approx(value)

    # A refresh (a new session of the same browser) shows the result again without a click.
    again = AppTest.from_file(APP, default_timeout=120)
    again.session_state["_person_token"] = at.session_state["_person_token"]
    again.switch_page("pages/train.py")
    again.session_state["train_lrf_batches"] = 30
    again.run()
    assert not again.exception, again.exception
    assert len(chart(again, "train_lrf_chart")["data"][0]["x"]) == 30
    # A classmate asking for the same set-up shares it: no second job, and the page says why.
    classmate = open_page("pages/train.py")
    classmate.slider(key="train_lrf_batches").set_value(30)
    classmate.button(key="train_lrf_run").click().run()
    assert not classmate.exception, classmate.exception
    assert len(runs.list_jobs(runs.LR_RANGE_TEST, tmp_path)) == 1
    assert "train_lrf_chart" in chart_keys(classmate)
    assert any("tested already" in c.value for c in classmate.caption)


