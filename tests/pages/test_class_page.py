"""AppTest: the Class page (pages/class.py). Everyone sees the wall; only the teacher sees controls; the
projector view (?projector=1) draws no button and no sidebar."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from streamlit.testing.v1 import AppTest

from tests.core.test_class_wall import at_chance, fake_run, learning
from tests.pages.apptest import APP
from vision_core.classroom import names
from vision_core.runs import challenges
from vision_core.runs import store as runs

PASSWORD = "class-page-password"
TEACHER_BUTTONS = {"class_pause", "class_stop", "class_delete"}


@pytest.fixture
def class_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    monkeypatch.setenv("VISION_CORE_TEACHER_PASSWORD", PASSWORD)
    monkeypatch.setenv("VISION_CORE_WARM_WORKERS", "0")
    made = [fake_run(tmp_path, "student01", "running", learning()),
            fake_run(tmp_path, "student02", "running", at_chance()),
            fake_run(tmp_path, "student03", "running", learning(), live_status="paused")]
    for run in made:  # "a worker trains them": the page's scheduler must never start one
        runs.claim_training(run.path, "cli")
    names.book(tmp_path).set_name("student01", "Ada Lovelace")
    runs.rename_run(made[0], "<img src=x onerror=alert(1)> **bold**")
    names.book(tmp_path).set_name("student02", "Bob O'Neil")
    return made


def open_class(*, teacher: bool = False, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.session_state["_person_token"] = "t" * 24
    if teacher:
        at.session_state["_teacher"] = True
    at.run()  # first run: the page's url_path ("class") is not its file name, so st.navigation must have run once
    at.switch_page("pages/class.py")
    return at.run()


def wall_html(at: AppTest) -> str:
    return "".join(element.proto.body for element in at.get("html") if "cw-table" in element.proto.body)


def button_keys(at: AppTest) -> set[str]:
    return {b.key for b in at.button}


def test_a_student_sees_every_run_with_names_and_status_and_no_controls(class_runs):
    at = open_class()
    assert not at.exception
    table = wall_html(at)
    assert table.count("<tr>") == 1 + 3  # a header and one row per run
    assert "Ada Lovelace" in table and "Bob O&#x27;Neil" in table
    assert names.pseudonym("student03") in table
    assert "stuck at chance" in table and "paused" in table and "training" in table
    sparklines = [unquote(part.split('"')[0]) for part in table.split("data:image/svg+xml,")[1:]]
    assert len(sparklines) == 3 * 2 and all("<polyline" in svg for svg in sparklines)  # loss and accuracy per run
    assert "&lt;img src=x onerror=alert(1)&gt; **bold**" in table and "<img src=x" not in table  # a run name: text
    assert not TEACHER_BUTTONS & button_keys(at)
    assert not any(k.startswith("class_") for k in button_keys(at))
    assert "Teacher" not in [s.value for s in at.subheader]


def test_the_teacher_sees_controls_and_can_pause_a_run_from_the_wall(class_runs):
    at = open_class(teacher=True)
    assert not at.exception
    assert {"class_stop", "class_delete"} <= button_keys(at)
    first = class_runs[0].run_id  # Ada's, training
    at.selectbox(key="class_run").set_value(first).run()
    assert TEACHER_BUTTONS <= button_keys(at)
    at.button(key="class_pause").click().run()
    assert not at.exception
    from vision_core.runs.live_files import RemoteControl

    assert RemoteControl(runs.load_run(first).path).paused
    assert any("Pausing" in s.value for s in at.success)


def test_the_projector_view_draws_no_button_no_input_and_no_sidebar(class_runs):
    at = open_class(teacher=True, query={"projector": "1"})  # even the teacher's projector shows no controls
    assert not at.exception
    assert "Ada Lovelace" in wall_html(at) and "'cw-table cw-projector'" in wall_html(at)
    assert len(at.button) == 0 and len(at.text_input) == 0 and len(at.selectbox) == 0
    assert len(at.get("button_group")) == 0  # the status filter
    assert len(at.sidebar.get("page_link")) == 0 and len(at.sidebar.get("expandable")) == 0
    assert any("display: none" in e.proto.body for e in at.get("html"))  # projector style: large, no chrome


@pytest.mark.parametrize("value", ["yes", "true", "0", "<script>", "1 "])
def test_only_projector_1_turns_it_on(class_runs, value):
    at = open_class(query={"projector": value})
    assert not at.exception
    assert "'cw-table cw-projector'" not in wall_html(at) and "'cw-table'" in wall_html(at)
    assert len(at.sidebar.get("page_link")) > 0


# ---- challenges on the wall and on the projector (issue 20: filters by challenge; the projector's leaderboard)
def with_a_challenge(root) -> str:
    """A challenge, a student's run training for it, and a finished, scored run of another student."""
    challenges.create_challenge("Small nets", "digits", root=root, name="small-nets", seed=3, held_out=300,
                                max_parameters=50_000)
    runs.claim_training(fake_run(root, "student04", "running", learning(), challenge="small-nets").path, "cli")
    done = fake_run(root, "student05", "finished", learning(), challenge="small-nets")
    runs.write_summary(done, {"parameters": 9_240, "train_seconds": 12.0, "epochs_completed": 1, "test_acc": 0.9})
    challenges.write_score(done.path, {"challenge": "small-nets", "accuracy": 0.87, "correct": 261, "images": 300,
                                       "seed": 3, "checkpoint": "best", "finished_at": 1000.0, "scored_at": 1001.0})
    names.book(root).set_name("student05", "Grace Hopper")
    return "small-nets"


def test_the_wall_filters_the_runs_of_one_challenge(class_runs, tmp_path):
    name = with_a_challenge(tmp_path)
    at = open_class()
    assert wall_html(at).count("<tr>") == 1 + 5  # every run by default
    at.selectbox(key="class_challenge").set_value(name).run()
    assert not at.exception
    table = wall_html(at)
    assert table.count("<tr>") == 1 + 2 and "Grace Hopper" in table and "Ada Lovelace" not in table


def test_the_projector_shows_the_leaderboard_without_controls(class_runs, tmp_path):
    with_a_challenge(tmp_path)
    at = open_class(query={"projector": "1", "view": "leaderboard"})
    assert not at.exception
    assert any("Leaderboard" in t.value for t in at.title)
    board = at.dataframe[0].value
    assert list(board["name"]) == ["Grace Hopper"] and list(board["held-out accuracy (%)"]) == [87.0]
    assert not button_keys(at) and not at.selectbox and not at.text_input
    at = open_class(query={"projector": "1", "view": "<script>"})  # an unknown view: the cycle, wall first or board
    assert not at.exception and not button_keys(at)
