"""AppTest: the Evaluate page with no runs, a trained run, a run still training, a run without or with a
broken checkpoint, picking a (truth, prediction) cell, and comparing runs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.apptest import figures_built, use_runs
from tests.patience import PATIENT_S
from vision_core.config import RunConfig
from vision_core.runs import store as runs
from vision_core.training import engine

APP = Path(__file__).resolve().parents[2] / "app.py"
PAGE = "pages/evaluate.py"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real, short LeNet-on-digits run (a few batches), shared by this file's tests."""
    root = tmp_path_factory.mktemp("trained")
    config = RunConfig(dataset="digits", model="lenet", epochs=1, snapshot_every=0, name="eval-page")
    engine.train(config, root=root, trainer_options={"limit_train_batches": 5})
    (run,) = runs.list_runs(root)
    return run


@pytest.fixture
def runs_dir(tmp_path, monkeypatch, trained):
    """A fresh runs folder holding a copy of the trained run."""
    use_runs(tmp_path, monkeypatch, trained)
    return tmp_path


def open_page(run_id: str | None = None) -> AppTest:
    """The page inside app.py's navigation (as users see it; st.page_link needs it), on ``?run=run_id``."""
    at = AppTest.from_file(str(APP), default_timeout=PATIENT_S)
    if run_id:
        at.query_params["run"] = run_id
    at.switch_page(PAGE)
    return at.run()


def table_with(at: AppTest, column: str):
    """The st.dataframe that has this column (tables without selection keep no key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_no_runs_shows_a_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    at = open_page()
    assert not at.exception
    assert any("No runs yet" in i.value for i in at.info)


def test_a_trained_run_shows_its_metrics_matching_the_summary(runs_dir, trained):
    at = open_page(trained.run_id)
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics.keys() >= {"Test accuracy", "Test loss", "Test images", "Mistakes"}
    # The page evaluates the best checkpoint, as the engine's own test did.
    assert float(metrics["Test accuracy"].rstrip("%")) / 100 == pytest.approx(trained.summary["test_acc"], abs=1e-3)
    assert float(metrics["Test loss"]) == pytest.approx(trained.summary["test_loss"], abs=1e-3)
    assert at.download_button(key="eval_cm_png")
    assert len(table_with(at, "precision")) == 10


def test_choosing_a_cell_with_the_select_boxes_shows_its_images(runs_dir, trained):
    at = open_page(trained.run_id)
    at.selectbox(key="eval_truth").set_value("0")
    at.selectbox(key="eval_pred").set_value("0").run()
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "predicted as **0**" in captions
    count = int(next(c.value for c in at.caption if "predicted as **0**" in c.value).split()[0])
    assert count > 0  # a trained LeNet gets some zeros right
    spec = next(c.proto.spec for c in at.get("plotly_chart") if c.proto.id.endswith("-eval_pair_images"))
    assert "Pred: 0 | Truth: 0" in spec  # the grid of that cell's images is drawn, titled
    assert at.selectbox(key="eval_truth").value == "0"


def framed_cell(at: AppTest) -> tuple[float, float, float, float]:
    """The (x0, x1, y0, y1) of the frame drawn on the confusion matrix (category i spans i ± 0.5)."""
    spec = json.loads(next(c.proto.spec for c in at.get("plotly_chart") if c.proto.id.endswith("-eval_cm")))
    (frame,) = spec["layout"]["shapes"]
    return frame["x0"], frame["x1"], frame["y0"], frame["y1"]


def test_the_cell_whose_images_are_shown_is_framed_in_the_matrix(runs_dir, trained):
    """Issue 19.13: the matrix did not show which cell the images below belong to."""
    at = open_page(trained.run_id)
    at.selectbox(key="eval_truth").set_value("3")
    at.selectbox(key="eval_pred").set_value("8").run()
    assert not at.exception
    assert framed_cell(at) == (7.5, 8.5, 2.5, 3.5)  # column "8" (predicted), row "3" (truth)
    at.selectbox(key="eval_pred").set_value("0").run()
    assert framed_cell(at) == (-0.5, 0.5, 2.5, 3.5)  # the frame follows the boxes


def test_a_click_on_a_cell_fills_the_boxes_and_frames_it_in_the_same_run(runs_dir, trained):
    at = open_page(trained.run_id)
    at.session_state["eval_cm"] = {"selection": {"points": [{"curve_number": 1, "point_index": 3 * 10 + 8}]}}
    at.run()
    assert not at.exception
    assert (at.selectbox(key="eval_truth").value, at.selectbox(key="eval_pred").value) == ("3", "8")
    assert framed_cell(at) == (7.5, 8.5, 2.5, 3.5)


def test_the_png_download_says_what_it_gives(runs_dir, trained):
    label = open_page(trained.run_id).download_button(key="eval_cm_png").label
    assert "mlxtend" not in label and "PNG" in label and "picture" in label


def test_prediction_grid_rerolls_and_fixed_seed(runs_dir, trained):
    at = open_page(trained.run_id)
    at.slider(key="eval_grid_n").set_value(4).run()
    at.button(key="eval_grid_reroll").click().run()
    assert not at.exception
    assert any(" of 4 right" in c.value for c in at.caption)
    at.toggle(key="eval_grid_fixed").set_value(True).run()
    assert at.button(key="eval_grid_reroll").disabled


def test_comparing_two_runs_lists_both(runs_dir, trained):
    copy_id = trained.run_id[:-4] + "copy"
    shutil.copytree(runs_dir / trained.run_id, runs_dir / copy_id)
    at = open_page(trained.run_id)
    at.multiselect(key="eval_compare").set_value([copy_id]).run()
    assert not at.exception
    table = table_with(at, "test accuracy")
    assert list(table["run"]) == [trained.run_id, copy_id]


def test_a_run_still_training_shows_its_latest_epoch(runs_dir, trained):
    run = runs.load_run(trained.run_id)
    runs.write_status(run, "running")  # this process's pid: alive, so it stays "running"
    at = open_page(trained.run_id)
    assert not at.exception
    assert any("Still running" in c.value and "epoch" in c.value for c in at.caption)
    assert "eval_checkpoint" not in [r.key for r in at.radio]  # no choice while training: always the latest


def test_a_run_without_a_checkpoint_says_so(runs_dir, trained):
    for ckpt in (runs_dir / trained.run_id / "checkpoints").iterdir():
        ckpt.unlink()
    at = open_page(trained.run_id)
    assert not at.exception
    assert any("no checkpoint yet" in i.value for i in at.info)


def test_a_corrupt_checkpoint_is_an_error_message_not_a_traceback(runs_dir, trained):
    for ckpt in (runs_dir / trained.run_id / "checkpoints").iterdir():
        ckpt.write_bytes(os.urandom(512))
    at = open_page(trained.run_id)
    assert not at.exception
    assert any("not a checkpoint we can read safely" in e.value for e in at.error)


def test_a_second_student_opening_the_page_gets_the_same_figures_built_once(runs_dir, trained):
    """Each page view reruns the whole page, every tab: its figures are built once per checkpoint and choice, and
    a second session (another student, a refresh) builds none of them again."""
    with figures_built() as first:
        one = open_page(trained.run_id)
    with figures_built() as second:
        two = open_page(trained.run_id)
    assert not one.exception and not two.exception
    assert first[0] >= 5  # per class, confusion matrix, three image grids
    assert second[0] == 0
    assert [c.proto.spec for c in two.get("plotly_chart")] == [c.proto.spec for c in one.get("plotly_chart")]
