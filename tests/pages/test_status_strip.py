"""AppTest: the sidebar's *Training now* strip. A student sees their own runs, each with a link, and the rest of the
class as one line with a link to the Class page (it redraws every few seconds for every student on every page: a handful
of elements, not one pair per run of the class)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.core.test_class_wall import fake_run, learning
from tests.pages.apptest import APP
from ui.identity import owner_id
from vision_core.classroom import jobs
from vision_core.runs import store as runs

TOKEN = "s" * 24


def strip(tmp_path, monkeypatch, mine: int, others: int, queued: int = 0) -> AppTest:
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    monkeypatch.setenv("VISION_CORE_WARM_WORKERS", "0")
    me = owner_id(TOKEN)
    made = [fake_run(tmp_path, me, "running", learning()) for _ in range(mine)]
    made += [fake_run(tmp_path, f"student{i:02d}", "running", learning()) for i in range(others)]
    for run in made:
        runs.touch_heartbeat(run)
        runs.claim_training(run.path, "cli")  # "a worker trains them": the page's scheduler must start none
    for i in range(queued):
        waiting = fake_run(tmp_path, f"waiter{i}", "queued", submitted=0.0, kind="cpu", estimate_mb=50.0)
        runs.claim_training(waiting.path, "cli")
    jobs.manager().refresh()
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["_person_token"] = TOKEN
    return at.run()


def sidebar_text(at: AppTest) -> list[str]:
    return [e.value for e in at.sidebar.markdown] + [e.value for e in at.sidebar.caption]


def run_links(at: AppTest) -> list[str]:
    return [link.proto.query_string for link in at.sidebar.get("page_link") if "run=" in link.proto.query_string]


def test_my_runs_are_listed_with_links_and_the_class_is_one_line(tmp_path, monkeypatch):
    at = strip(tmp_path, monkeypatch, mine=1, others=25, queued=2)
    assert not at.exception
    assert len(run_links(at)) == 1  # only my run: 25 classmates do not make 50 elements per refresh
    text = "\n".join(sidebar_text(at))
    assert "**lenet** on **digits** · running · epoch 3/10" in text
    assert "The rest of the class: 25 running · 2 queued" in text
    assert "See every run of the class" in [link.proto.label for link in at.sidebar.get("page_link")
                                            if link.proto.page == "class"]


def test_many_runs_of_mine_are_counted_after_the_first_three(tmp_path, monkeypatch):
    at = strip(tmp_path, monkeypatch, mine=5, others=0)
    assert len(run_links(at)) == 3
    assert "…and 2 more of yours on the Runs page." in sidebar_text(at)
    assert not any("rest of the class" in line for line in sidebar_text(at))


def test_nobody_training(tmp_path, monkeypatch):
    at = strip(tmp_path, monkeypatch, mine=0, others=0)
    assert "No training running." in sidebar_text(at)


def test_the_strip_redraws_every_2_s_while_my_run_moves_else_every_5_s(tmp_path, monkeypatch):
    import streamlit as st

    from ui import status_strip

    intervals: list[float] = []
    original = st.fragment

    def recording(func=None, *, run_every=None):
        decorate = original(run_every=run_every)

        def recorded(f):
            if f is status_strip._strip:
                intervals.append(run_every)
            return decorate(f)

        return recorded if func is None else recorded(func)

    monkeypatch.setattr(st, "fragment", recording)
    strip(tmp_path / "idle", monkeypatch, mine=0, others=3)
    strip(tmp_path / "mine", monkeypatch, mine=1, others=3)
    assert intervals == [status_strip.IDLE_S, status_strip.WATCHING_S] == [5.0, 2.0]
