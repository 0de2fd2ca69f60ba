"""Page scripts take turns (ui/turns.py): clicks first, then in order of arrival, never longer than the longest wait."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from tests.pages.apptest import open_page
from ui import turns


def _queue_behind_a_holder(gate: turns.Turns, arrivals: list[tuple[str, int]]) -> list[str]:
    """Hold the gate's one place, let ``arrivals`` queue up one after another, release: the order they ran in."""
    ran: list[str] = []
    holding = gate.turn(turns.SWITCH)
    holding.__enter__()
    threads = []
    for name, priority in arrivals:
        def work(name=name, priority=priority):
            with gate.turn(priority) as held:
                assert held
                ran.append(name)
        thread = threading.Thread(target=work)
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + 10
        while gate.waiting < len(threads):  # queued before the next arrives: the order of arrival is known
            assert time.monotonic() < deadline
            time.sleep(0.001)
    holding.__exit__(None, None, None)
    for thread in threads:
        thread.join(timeout=10)
    return ran


def test_clicks_go_first_then_everyone_in_order_of_arrival():
    gate = turns.Turns(at_once=1, longest_wait_s=30)
    ran = _queue_behind_a_holder(gate, [("new 1", turns.NEW_SESSION), ("switch 1", turns.SWITCH),
                                        ("click 1", turns.CLICK), ("new 2", turns.NEW_SESSION),
                                        ("click 2", turns.CLICK), ("switch 2", turns.SWITCH)])
    assert ran == ["click 1", "click 2", "new 1", "switch 1", "new 2", "switch 2"]


def test_a_free_place_is_taken_at_once_and_given_back_after_an_error():
    gate = turns.Turns(at_once=2, longest_wait_s=30)
    with gate.turn(turns.SWITCH) as first, gate.turn(turns.SWITCH) as second:
        assert first and second  # two places: nobody waits
    with pytest.raises(RuntimeError), gate.turn(turns.CLICK):
        raise RuntimeError("a page's error (or st.stop / st.rerun, which raise too)")
    assert gate._free == 2  # both places are back
    with gate.turn(turns.SWITCH) as held:
        assert held


def test_nobody_waits_longer_than_the_longest_wait():
    gate = turns.Turns(at_once=1, longest_wait_s=0.2)
    with gate.turn(turns.SWITCH):  # a script that holds its place for long
        started = time.monotonic()
        with gate.turn(turns.CLICK) as held:
            waited = time.monotonic() - started
            assert not held  # it ran without a place ...
    assert 0.2 <= waited < 5  # ... after the longest wait
    assert gate.waiting == 0 and gate._free == 1  # and left nothing behind: the next one goes at once
    with gate.turn(turns.SWITCH) as held:
        assert held


def test_the_place_passes_to_the_next_in_line_without_being_taken_by_a_newcomer():
    gate = turns.Turns(at_once=1, longest_wait_s=30)
    ran = _queue_behind_a_holder(gate, [("waiting", turns.SWITCH)])
    assert ran == ["waiting"]
    assert gate._free == 1 and gate.waiting == 0


def test_a_session_s_runs_are_told_apart_by_the_page_it_was_on(monkeypatch):
    monkeypatch.setattr(turns, "st", SimpleNamespace(session_state={}))  # one session's state
    assert turns.priority("losses") == turns.NEW_SESSION  # its first run: a first visit or a refresh
    assert turns.priority("losses") == turns.CLICK  # the same page again: a widget was used
    assert turns.priority("pooling") == turns.SWITCH
    assert turns.priority("") == turns.SWITCH  # Home
    assert turns.priority("") == turns.CLICK


def test_every_page_runs_inside_a_turn():
    at = open_page("pages/losses.py")
    assert at.session_state["turns_last_page"] == "losses"
    assert turns.TURNS._free == turns.AT_ONCE  # given back when the run ended


def test_a_waiting_page_is_told_how_many_come_before_it():
    gate = turns.Turns(at_once=1, longest_wait_s=30)
    told: list[int] = []

    def page(priority: int) -> None:
        with gate.turn(priority, when_waiting=told.append):
            pass

    holding = gate.turn(turns.SWITCH)
    holding.__enter__()
    threads = []
    for priority in (turns.SWITCH, turns.NEW_SESSION, turns.CLICK):
        threads.append(threading.Thread(target=page, args=(priority,)))
        threads[-1].start()
        while gate.waiting < len(threads):
            time.sleep(0.001)
    assert told == [0, 1, 0]  # the click goes before both: nobody before it
    holding.__exit__(None, None, None)
    for thread in threads:
        thread.join(timeout=10)
    page(turns.SWITCH)  # a free place: no wait, nothing told
    assert told == [0, 1, 0]


def test_the_busy_line_shows_only_behind_several_pages():
    lines: list[str] = []
    say = turns.waiting_notice(SimpleNamespace(caption=lines.append))
    say(turns.SAY_SO_FROM - 1)
    assert lines == []  # a short wait: no flicker
    say(12)
    assert lines == ["⏳ The server is busy: 12 pages of your classmates come before this one (a second or two)."]


def test_a_page_interrupted_while_it_waits_leaves_the_line_and_loses_no_place():
    # Drawing the busy line can raise (Streamlit stops or reruns a script at its next element when the student
    # clicked again): the waiter must leave the line, or the place later handed to it would be lost for good.
    gate = turns.Turns(at_once=1, longest_wait_s=30)

    def interrupted(ahead: int) -> None:
        raise KeyboardInterrupt("the student clicked again")  # a BaseException, as Streamlit's are

    with gate.turn(turns.SWITCH):
        with pytest.raises(KeyboardInterrupt), gate.turn(turns.CLICK, when_waiting=interrupted):
            pass
        assert gate.waiting == 0
    assert gate._free == 1
    with gate.turn(turns.SWITCH) as held:  # the place is there for the next one, at once
        assert held
