"""Page scripts take turns, the quickest kind of wait first: a class's burst of clicks is answered in order.

One dashboard process runs every student's script in its own thread, and Python runs one thread at a time. Left
alone, thirty scripts started together share the processor evenly and all finish at about the same moment: the
last one's time for everyone (protocol_class.py: p50 page view 3.4 s, p95 6.7 s, for 30 students who each needed
~50 ms). Given turns, the first finishes after one script's time, the second after two, and so on, so most wait far
less, and the server's event loop, which sends what the scripts drew, is not one thread among thirty.

Who goes first: a click on the page a student is on (a step, a radio), then page switches and new sessions (a
first visit, a refresh) in their order of arrival. Nobody waits for a turn longer than ``LONGEST_WAIT_S``: after
it, a script runs anyway (as without turns), so one slow script (a cold page's first view, a long computation)
delays the class by at most that much. Fragments (the timed status strip, live charts) do not take turns: they are
small and keep their rhythm.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st

# The order in which waiting scripts get their turn: clicks first; switches and new sessions in their order of
# arrival (new sessions put last waited out the whole class's switches: p50 4.1 s instead of 2.3 s).
CLICK, SWITCH, NEW_SESSION = 0, 1, 1
# Scripts running at the same time. Python runs one thread's Python at a time, so more than one gains no speed;
# two keep the class moving while one script waits on a disk or computes for long (a cold page's first view).
AT_ONCE = 2
LONGEST_WAIT_S = 2.0
SAY_SO_FROM = 3  # a page waiting behind this many or more says so at its top while it waits


class Turns:
    """A gate of ``at_once`` places, handed out by priority, then in order of arrival."""

    def __init__(self, at_once: int = AT_ONCE, longest_wait_s: float = LONGEST_WAIT_S) -> None:
        self._lock = threading.Lock()
        self._free = at_once
        self._longest_wait_s = longest_wait_s
        self._waiting: list[tuple[int, int, threading.Event]] = []  # a heap: (priority, arrival, woken)
        self._arrivals = itertools.count()

    @contextmanager
    def turn(self, priority: int, when_waiting: Callable[[int], None] | None = None) -> Iterator[bool]:
        """Wait for a place (at most the longest wait), hold it for the block; yields whether one was held.
        ``when_waiting(ahead)`` is called first when the script has to wait, with the number waiting before it."""
        held = self._acquire(priority, when_waiting)
        try:
            yield held
        finally:
            if held:
                self._release()

    def _acquire(self, priority: int, when_waiting: Callable[[int], None] | None = None) -> bool:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return True
            woken = threading.Event()
            entry = (priority, next(self._arrivals), woken)
            heapq.heappush(self._waiting, entry)
            ahead = sum(1 for other in self._waiting if other[:2] < entry[:2])
        try:
            if when_waiting is not None:
                when_waiting(ahead)  # draws on the page: may raise Streamlit's rerun or stop exceptions
            if woken.wait(self._longest_wait_s):
                return True  # _release handed its place to us
        except BaseException:
            if self._leave(woken):  # a place was handed over meanwhile: pass it on, or it is lost for good
                self._release()
            raise
        return self._leave(woken)  # waited long enough: run without a place (unless one came just now)

    def _leave(self, woken: threading.Event) -> bool:
        """Step out of the line; True when a place was handed over just before (the caller holds it then)."""
        with self._lock:
            if woken.is_set():
                return True
            self._waiting = [entry for entry in self._waiting if entry[2] is not woken]
            heapq.heapify(self._waiting)
            return False

    def _release(self) -> None:
        with self._lock:
            if self._waiting:
                heapq.heappop(self._waiting)[2].set()  # the place passes straight to the next in line
            else:
                self._free += 1

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)


TURNS = Turns()  # one per dashboard process: every session's scripts share it


def waiting_notice(place) -> Callable[[int], None]:
    """``when_waiting`` for a page: a line in ``place`` (an ``st.empty()``) while it waits behind several others."""
    def say(ahead: int) -> None:
        if ahead >= SAY_SO_FROM:
            place.caption(f"⏳ The server is busy: {ahead} pages of your classmates come before this one "
                          f"(a second or two).")
    return say


def priority(url_path: str) -> int:
    """This script run's kind, from the page this session ran last (kept in its session state)."""
    last = st.session_state.get("turns_last_page")
    st.session_state["turns_last_page"] = url_path
    if last is None:
        return NEW_SESSION
    return CLICK if last == url_path else SWITCH
