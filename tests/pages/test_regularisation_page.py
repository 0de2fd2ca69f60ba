"""AppTest: the Overfitting lab page. One click queues every variant the per-person cap allows, the rest follow from
the page as places free up; the teacher starts the whole set; finished variants are drawn and tabulated."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.apptest import APP
from tests.patience import PATIENT_S
from ui.identity import owner_id
from vision_core.classroom import jobs
from vision_core.lessons import experiments as X
from vision_core.runs import store as runs
from vision_core.training import engine

TOKEN = "test-person-token-0123456789"
OTHER = "another-person-token-98765432"


class NoLauncher:
    """Starts nothing: the test decides what becomes of each queued run."""

    def launch(self, *args, **kwargs) -> None:
        raise AssertionError("nothing should be launched: the scheduler thread is off")

    def finished(self) -> dict:
        return {}


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    monkeypatch.delenv("VISION_CORE_TEACHER_PASSWORD", raising=False)
    scheduler = jobs.Scheduler(tmp_path, launcher=NoLauncher(), cpu_slots=1)
    scheduler.start = lambda: scheduler  # no scheduler thread: queued runs stay queued
    scheduler._gpus = []  # a CPU server, as the machines these tests run on, whatever this one has
    monkeypatch.setitem(jobs._managers, runs.runs_root(), scheduler)
    return tmp_path


def page(token: str = TOKEN, teacher: bool = False, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=PATIENT_S)
    at.session_state["_person_token"] = token
    if teacher:
        at.session_state["_teacher"] = True
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page("pages/regularisation.py")
    return at.run()


def url_ids(at) -> list[str]:
    value = at.query_params.get("runs", "")
    value = value[0] if isinstance(value, list) else value
    return [v for v in value.split(",") if v]


def table(at) -> list[dict]:
    """The results table as the browser shows it (st.table renders Markdown: names are sent escaped)."""
    (shown,) = at.table
    return shown.value.map(lambda v: re.sub(r"\\(.)", r"\1", v) if isinstance(v, str) else v).to_dict("records")


def test_the_page_offers_measured_presets_and_refuses_bad_values_in_one_sentence(root):
    at = page()
    assert not at.exception
    assert at.selectbox(key="reg_setup").value == "digits_mlp"
    assert at.selectbox(key="reg_factor").value == "dropout"
    assert at.text_input(key="reg_values_digits_mlp_dropout").value == "0, 0.5"
    assert at.button(key="reg_start").label == "▶ Train 2 runs, one after another"  # one CPU slot
    at.selectbox(key="reg_factor").set_value("train_limit").run()
    assert at.text_input(key="reg_values_digits_mlp_train_limit").value == "100, all"
    at.text_input(key="reg_values_digits_mlp_train_limit").set_value("100, lots").run()
    assert not at.exception
    assert at.button(key="reg_start").disabled
    (error,) = at.error
    assert error.value.replace("\\", "") == ("data size values are whole numbers of training images ≥ 1, or 'all'; "
                                              "got 'lots'")
    at.text_input(key="reg_values_digits_mlp_train_limit").set_value("100, **[x](y)**").run()
    assert r"got '\*\*\[x\]\(y\)\*\*'" in at.error[0].value  # what a student typed is shown, not rendered
    at.text_input(key="reg_values_digits_mlp_train_limit").set_value("100, 5000").run()
    at.button(key="reg_start").click().run()
    assert not at.exception
    assert "only 1,078 training images" in at.error[0].value.replace("\\", "")  # checked before queueing
    assert runs.list_runs(root) == []


def test_one_click_queues_what_the_cap_allows_and_the_page_submits_the_rest_when_a_place_frees(root):
    at = page()
    at.text_input(key="reg_values_digits_mlp_dropout").set_value("0, 0.25, 0.5").run()
    at.button(key="reg_start").click().run()
    assert not at.exception
    ids = url_ids(at)
    assert len(ids) == 2  # the per-person cap (2 by default)
    records = [runs.load_run(i) for i in ids]
    wanted = X.experiment("digits_mlp", "dropout", [0.0, 0.25, 0.5]).variants()
    assert [r.config.to_dict() for r in records] == [c.to_dict() for c in wanted[:2]]
    assert all(r.owner == owner_id(TOKEN) and r.state == "queued" for r in records)
    assert any("Started 2 of 3 runs" in w.value for w in at.warning)
    rows = table(at)
    assert [r["variant"] for r in rows] == ["dropout 0", "dropout 0.25", "dropout 0.5"]
    assert rows[2]["status"] == "waiting for one of your places"
    assert at.query_params["factor"] in ("dropout", ["dropout"])

    at.run()  # nothing freed: nothing more is queued
    assert url_ids(at) == ids
    runs.write_status(records[0], "finished")
    at.run()  # the live view notices the free place and queues the third variant
    assert not at.exception
    ids3 = url_ids(at)
    assert ids3[:2] == ids and len(ids3) == 3
    third = runs.load_run(ids3[2])
    assert third.config.to_dict() == wanted[2].to_dict() and third.owner == owner_id(TOKEN)
    assert [r["variant"] for r in table(at)] == ["dropout 0", "dropout 0.25", "dropout 0.5"]


def test_the_teacher_starts_the_whole_set_at_once(root, monkeypatch):
    monkeypatch.setenv("VISION_CORE_TEACHER_PASSWORD", "pw")
    at = page(teacher=True)
    at.selectbox(key="reg_factor").set_value("weight_decay").run()
    at.text_input(key="reg_values_digits_mlp_weight_decay").set_value("0, 0.001, 0.01, 0.1").run()
    at.button(key="reg_start").click().run()
    assert not at.exception
    ids = url_ids(at)
    assert [runs.load_run(i).config.weight_decay for i in ids] == [0.0, 0.001, 0.01, 0.1]
    assert not at.warning


def test_a_link_to_someone_elses_experiment_shows_it_and_starts_nothing(root):
    at = page()
    at.button(key="reg_start").click().run()
    ids = url_ids(at)
    params = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    params["values"] = "0, 0.5, 0.75"  # a third value the owner never asked for
    other = page(token=OTHER, **params)
    assert not other.exception
    assert len(runs.list_runs(root)) == 2  # nothing queued on the visitor's behalf
    assert [r["variant"] for r in table(other)] == ["dropout 0", "dropout 0.5"]
    assert not any(b.key == "reg_stop" for b in other.button)  # read-only for the visitor
    mine = page(**params)  # the owner, with the edited link: the runs are not its variants, nothing starts
    assert not mine.exception and len(runs.list_runs(root)) == 2
    assert mine.button(key="reg_stop")  # the owner may stop them
    mine.button(key="reg_stop").click().run()
    assert all(json.loads((root / i / "control.json").read_text())["stop"] for i in ids)


def test_finished_variants_are_drawn_with_their_gaps(root):
    exp = X.experiment("digits_mlp", "dropout", epochs=2)
    ids = []
    for config in exp.variants():
        run = runs.create_run(config, root, owner=owner_id(TOKEN))
        engine.train(config, run=run)
        ids.append(run.run_id)
    at = page(setup="digits_mlp", factor="dropout", values="0, 0.5", epochs="2", runs=",".join(ids))
    assert not at.exception
    assert at.selectbox(key="reg_factor").value == "dropout"
    assert at.number_input(key="reg_epochs_digits_mlp_dropout").value == 2  # the form shows the URL's experiment
    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith("-reg_chart")]
    spec = json.loads(chart.proto.spec)
    assert {t.get("legendgroup") for t in spec["data"]} == {"dropout 0", "dropout 0.5"}
    rows = table(at)
    assert [r["variant"] for r in rows] == ["dropout 0", "dropout 0.5"]
    for row, run_id in zip(rows, ids):
        snap = json.loads((root / run_id / "live.json").read_text())
        gap = X.final_gap(snap["epochs"])
        assert (row["status"], row["epoch"], row["training images"]) == ("finished", "2", "100")
        assert row["training accuracy"] == f"{gap.train_acc:.1%}" and row["validation accuracy"] == f"{gap.val_acc:.1%}"
        assert row["gap"] == f"{gap.gap * 100:+.1f} pts"
        assert row["test accuracy"] == f"{runs.load_run(run_id).summary['test_acc']:.1%}"
    assert not any(b.key == "reg_stop" for b in at.button)  # nothing left to stop


@pytest.mark.parametrize("params", [
    {"runs": "../../etc,not an id,", "setup": "x", "factor": "y", "values": "z", "epochs": "many"},
    {"setup": "digits_mlp", "factor": "dropout", "values": "0, 0.5", "epochs": "100000", "runs": "missing-run"},
])
def test_a_damaged_link_is_ignored_or_said_in_one_sentence(root, params):
    at = page(**params)
    assert not at.exception
    assert at.selectbox(key="reg_setup").value == "digits_mlp"
    assert runs.list_runs(root) == []
    if "missing-run" in params["runs"]:
        assert any("was deleted" in w.value for w in at.warning)


def test_a_broken_classroom_file_is_one_sentence_and_trains_nothing(root, tmp_path, monkeypatch):
    bad = tmp_path / "classroom.toml"
    bad.write_text("max_jobs_per_persn = 3\n")
    monkeypatch.setenv("VISION_CORE_CLASSROOM", str(bad))
    at = page()
    assert not at.exception
    assert "max_jobs_per_persn" in at.error[0].value.replace("\\", "")
    assert not any(b.key == "reg_start" for b in at.button)


# Issue 19.12: the button promised "side by side" while a one-slot CPU server trains the runs one after another.
@pytest.mark.parametrize("slots, teacher, values, label", [
    (1, False, "0, 0.5", "▶ Train 2 runs, one after another"),
    (4, False, "0, 0.5", "▶ Train 2 runs at the same time"),
    (4, False, "0, 0.25, 0.5", "▶ Train 3 runs, 2 at a time"),  # the per-person cap of 2
    (4, True, "0, 0.25, 0.5, 0.75", "▶ Train 4 runs at the same time"),  # the teacher has no cap
    (2, True, "0, 0.25, 0.5", "▶ Train 3 runs, 2 at a time"),
])
def test_the_button_says_how_the_runs_will_go_on_this_server(root, monkeypatch, slots, teacher, values, label):
    if teacher:
        monkeypatch.setenv("VISION_CORE_TEACHER_PASSWORD", "pw")
    jobs._managers[runs.runs_root()].cpu_slots = slots
    at = page(teacher=teacher)
    at.text_input(key="reg_values_digits_mlp_dropout").set_value(values).run()
    assert not at.exception
    assert at.button(key="reg_start").label == label
    said = " ".join(c.value for c in at.caption)
    assert ("This server trains 1 run at a time for the whole class" in said) == (slots == 1)


def finished_variant(root, config, epochs: list[dict]) -> str:
    """A finished variant written by hand: its live.json holds ``epochs``."""
    run = runs.create_run(config, root, owner=owner_id(TOKEN))
    (run.path / "live.json").write_text(json.dumps({"version": 1, "status": "finished", "epochs": epochs}))
    runs.write_status(run, "finished")
    return run.run_id


def test_two_gap_labels_ending_at_the_same_height_do_not_overlap(root):
    exp = X.experiment("digits_mlp", "dropout", epochs=3)
    ends = [(0.90, 0.70), (0.85, 0.75)]  # both gaps centred on 80 %: the labels used to sit 14 px apart
    ids = [finished_variant(root, config, [{"epoch": e, "train_acc": 0.5 + (top - 0.5) * e / 3,
                                            "val_acc": 0.5 + (bottom - 0.5) * e / 3, "train_loss": 1 / e,
                                            "val_loss": 1.2 / e} for e in (1, 2, 3)])
           for config, (top, bottom) in zip(exp.variants(), ends)]
    at = page(setup="digits_mlp", factor="dropout", values="0, 0.5", epochs="3", runs=",".join(ids))
    assert not at.exception
    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith("-reg_chart")]
    layout = json.loads(chart.proto.spec)["layout"]
    labels = [a for a in layout["annotations"] if a["text"].startswith("gap")]
    assert [a["text"] for a in labels] == ["gap +20.0 pts", "gap +10.0 pts"]
    low, high = layout["yaxis"]["range"]  # a fixed accuracy axis: the labels are spaced in its units
    assert abs(labels[0]["ay"] - labels[1]["ay"]) >= 0.099 * (high - low)
    assert all(low <= a["ay"] <= high for a in labels)
    assert [a["y"] for a in labels] == pytest.approx([0.8, 0.8])  # each line still starts at its own bracket
