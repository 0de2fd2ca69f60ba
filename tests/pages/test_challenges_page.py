"""AppTest: the Challenges page (the teacher creates and freezes, a student only reads the leaderboard) and the
Train form entered through a challenge link (its rules refused with the limit named)."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.apptest import APP
from ui.challenge_board import display_name
from vision_core.config import RunConfig
from vision_core.runs import challenges
from vision_core.runs import store as runs

PASSWORD = "the-teacher-password"


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("VISION_CORE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VISION_CORE_CLASSROOM", str(tmp_path / "classroom.toml"))
    monkeypatch.setenv("VISION_CORE_TEACHER_PASSWORD", PASSWORD)
    return tmp_path / "runs"


def open_as(path: str, *, teacher: bool, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["_person_token"] = ("t" if teacher else "s") * 24
    if teacher:
        at.session_state["_teacher"] = True  # what the password box sets once the password is right
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.switch_page(path)
    return at.run()


def table(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def scored_run(root, owner, accuracy, parameters):
    run = runs.create_run(RunConfig(dataset="digits", model="tinyvgg", challenge="small-nets"), root, owner=owner)
    runs.write_summary(run, {"parameters": parameters, "train_seconds": 3.0, "epochs_completed": 1})
    runs.write_status(run, "finished")
    challenges.write_score(run.path, {"challenge": "small-nets", "accuracy": accuracy, "correct": int(accuracy * 300),
                                      "images": 300, "seed": 7, "checkpoint": "best", "finished_at": time.time(),
                                      "scored_at": time.time()})


def test_a_student_cannot_create_or_freeze_a_challenge(root):
    at = open_as("pages/challenges.py", teacher=False)
    assert not at.exception
    assert not [t for t in at.text_input if t.key == "challenge_title"]
    assert "No challenge yet. The teacher creates one here" in at.info[0].value
    challenges.create_challenge("Small nets", "digits", root=root, name="small-nets", seed=7)
    at = open_as("pages/challenges.py", teacher=False)
    assert not [b for b in at.button if b.key == "challenge_freeze"]
    assert not [t for t in at.text_input if t.key == "challenge_title"]


def test_the_teacher_creates_a_challenge_and_freezes_it(root):
    at = open_as("pages/challenges.py", teacher=True)
    at.text_input(key="challenge_title").input("Small nets")
    at.number_input(key="challenge_max_params").set_value(50_000)
    at.number_input(key="challenge_seed").set_value(7)
    at.button(key="FormSubmitter:challenge_new-Create the challenge").click()
    at.run()
    assert not at.exception and not at.error
    made = challenges.load_challenge("small-nets", root)
    assert (made.dataset, made.max_parameters, made.seed, made.held_out) == ("digits", 50_000, 7, 300)
    assert "at most 50,000 parameters" in " ".join(m.value for m in at.markdown)
    at.button(key="challenge_freeze").click().run()
    assert challenges.load_challenge("small-nets", root).frozen


def test_a_held_out_split_bigger_than_the_training_images_is_refused_on_the_form(root):
    at = open_as("pages/challenges.py", teacher=True)
    at.text_input(key="challenge_title").input("Too many")
    at.number_input(key="challenge_held_out").set_value(5000)
    at.button(key="FormSubmitter:challenge_new-Create the challenge").click()
    at.run()
    assert "leaves no training images: the training pool has 1,438" in at.error[0].value.replace("\\", "")
    assert challenges.scan_challenges(root) == ([], [])


def test_everyone_sees_the_best_run_per_person_in_order(root):
    challenges.create_challenge("Small nets", "digits", root=root, name="small-nets", seed=7, held_out=300)
    scored_run(root, "aaaa", 0.80, 9000)
    scored_run(root, "aaaa", 0.91, 9000)
    scored_run(root, "bbbb", 0.95, 30000)
    at = open_as("pages/challenges.py", teacher=False, query={"challenge": "small-nets"})
    board = table(at, "rank")
    assert list(board["name"]) == [display_name("bbbb"), display_name("aaaa")]
    assert list(board["held-out accuracy (%)"]) == [95.0, 91.0]
    assert list(board["parameters"]) == [30000, 9000]
    assert len(table(at, "counts")) == 3  # the class's runs, every one of them


def test_the_train_form_entered_through_a_challenge_link_refuses_a_model_over_its_limit(root):
    challenges.create_challenge("Small nets", "digits", root=root, name="small-nets", max_parameters=50_000)
    at = open_as("pages/train.py", teacher=False, query={"challenge": "small-nets"})
    assert at.selectbox(key="train_challenge").value == "small-nets"
    assert at.button(key="train_start").disabled  # LeNet, the form's default, has 61,706 parameters
    assert any("This model has 61,706 parameters; the challenge “Small nets” allows at most 50,000" in w.value
               for w in at.warning)
    at.selectbox(key="train_model").set_value("tinyvgg").run()
    assert not at.button(key="train_start").disabled


def test_a_link_to_a_challenge_that_is_not_open_says_so_and_trains_outside_it(root):
    at = open_as("pages/train.py", teacher=False, query={"challenge": "no-such-one"})
    assert any("is not open (or does not exist)" in e.value for e in at.error)
    assert not at.button(key="train_start").disabled
