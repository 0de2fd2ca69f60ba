"""AppTest: the teacher password box against a guessing student (issue 16.4).

The wrong tries are counted by the server, so a reload (a new session with the same cookie) keeps them; while the
box is locked, even the right password waits, and says how long; the teacher sees that someone was guessing.
"""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.apptest import APP
from tests.patience import PATIENT_S
from vision_core.classroom import password_tries

PASSWORD = "the-right-one"
STUDENT = "s" * 24  # the student's browser token (the person cookie)
TEACHER = "t" * 24


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    monkeypatch.setenv("VISION_CORE_TEACHER_PASSWORD", PASSWORD)
    return tmp_path


def reload(token: str) -> AppTest:
    """A page load from the browser holding ``token``: a new session, as after a refresh."""
    at = AppTest.from_file(APP, default_timeout=PATIENT_S)
    at.session_state["_person_token"] = token
    at.switch_page("pages/home.py")
    return at.run()


def try_password(at: AppTest, password: str) -> AppTest:
    at.text_input(key="identity_password").input(password)
    return at.button(key="identity_enter_teacher").click().run()


def said(at: AppTest) -> str:
    return " | ".join([e.value for e in at.error] + [c.value for c in at.caption])


def teacher_mode(at: AppTest) -> bool:
    return "Teacher mode: you manage every run" in said(at)


def test_ten_wrong_passwords_over_five_reloads_lock_the_box_and_the_right_one_waits(root):
    answers = []
    for _ in range(5):
        at = reload(STUDENT)
        for _ in range(2):
            answers.append(said(try_password(at, "guess")))
    assert all("Wrong password" in a for a in answers[:4])
    assert "Too many wrong passwords: try again in 30 s" in answers[4]  # the 5th wrong one locks the box
    assert all("Too many wrong passwords" in a for a in answers[5:])  # reloads did not reset the count

    at = reload(STUDENT)
    assert "Too many wrong passwords: the next try in" in said(at)  # shown before any try
    at = try_password(at, PASSWORD)
    assert not teacher_mode(at)
    assert "Too many wrong passwords: try again in" in said(at)  # the right one waits out the delay too
    assert "Wrong password" not in said(at)  # and is not judged: a guesser learns nothing while locked

    tries = password_tries.shared(root)
    real = tries.clock
    tries.clock = lambda: real() + 31  # the wait is over
    assert teacher_mode(try_password(reload(STUDENT), PASSWORD))


def test_a_new_cookie_per_try_hits_the_class_budget(root):
    for i in range(20):
        try_password(reload(f"{i:024d}"), "guess")  # a fresh browser each time: never 5 from one
    at = try_password(reload(TEACHER), PASSWORD)
    assert not teacher_mode(at)
    wait = re.search(r"Too many wrong passwords: try again in (\d+) s", said(at))
    assert wait and 20 <= int(wait.group(1)) <= 30, said(at)  # 30 s, counting down while a busy machine reloads


def test_the_teacher_sees_that_someone_was_guessing(root):
    at = reload(STUDENT)
    for _ in range(3):
        try_password(at, "guess")
    at = try_password(reload(TEACHER), PASSWORD)
    assert teacher_mode(at)
    assert "3 wrong teacher passwords in the last hour, the last at" in said(at)


def test_the_password_comes_from_a_secrets_file_when_there_is_one(tmp_path, monkeypatch):
    """Without the environment variable: none while no secrets.toml exists (looked up with a stat, not by
    Streamlit's parser on every rerun), then the file's as soon as a teacher writes one."""
    import streamlit as st
    from streamlit import config

    from ui import identity

    monkeypatch.delenv("VISION_CORE_TEACHER_PASSWORD", raising=False)
    secrets_file = tmp_path / "secrets.toml"
    saved = config.get_option("secrets.files")
    config.set_option("secrets.files", [str(secrets_file)])
    try:
        assert identity.teacher_password() is None
        secrets_file.write_text('teacher_password = "from-the-file"\n')
        assert identity.teacher_password() == "from-the-file"
    finally:
        config.set_option("secrets.files", saved)
        st.secrets._secrets = None  # Streamlit keeps what it read: later tests must not see this file's secrets
