"""Wrong teacher passwords counted by the server (issue 16.4): per browser, for the class, across restarts."""

from __future__ import annotations

import threading

import pytest

from vision_core.classroom.password_tries import FILE_NAME, PasswordTries, shared


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def test_five_free_wrong_tries_then_a_wait_that_doubles(clock):
    tries = PasswordTries(clock=clock)
    assert [tries.failed("a") for _ in range(4)] == [0.0] * 4
    assert tries.wait_s("a") == 0.0
    assert tries.failed("a") == 30.0  # the 5th
    assert tries.wait_s("a") == 30.0
    clock.now += 10
    assert tries.wait_s("a") == 20.0  # counts down, nobody sleeps
    clock.now += 20
    assert tries.wait_s("a") == 0.0
    assert tries.failed("a") == 60.0  # the 6th: doubled
    clock.now += 60
    assert tries.failed("a") == 120.0
    assert tries.wait_s("b") == 0.0  # another browser is not slowed by a's guessing (below the class budget)


def test_the_wait_is_capped_and_a_quiet_hour_starts_a_browser_again(clock):
    tries = PasswordTries(clock=clock, max_wait_s=100.0)
    waits = []
    for _ in range(10):
        waits.append(tries.failed("a"))
        clock.now += waits[-1]
    assert waits[4:] == [30.0, 60.0, 100.0, 100.0, 100.0, 100.0]
    clock.now += 3601
    assert tries.failed("a") == 0.0  # an hour without a wrong try: a fresh start


def test_the_right_password_clears_its_browser_but_not_the_class_record(clock):
    tries = PasswordTries(clock=clock)
    for _ in range(4):
        tries.failed("teacher")
    tries.succeeded("teacher")
    assert tries.failed("teacher") == 0.0  # a typo after logging in is a first wrong try again
    recent = tries.recent()
    assert (recent.count, recent.browsers, recent.last) == (5, 1, clock.now)


def test_fresh_cookies_do_not_escape_the_class_budget(clock):
    """A student who clears cookies is a new browser each time: after 20 wrong tries in an hour, everyone waits."""
    tries = PasswordTries(clock=clock)
    for i in range(19):
        assert tries.failed(f"cookie-{i}") == 0.0
    assert tries.failed("cookie-19") == 30.0
    assert tries.wait_s("a-brand-new-cookie") == 30.0  # the teacher too: even the right password waits
    recent = tries.recent()
    assert (recent.count, recent.browsers) == (20, 20)
    clock.now += 3601
    assert tries.wait_s("a-brand-new-cookie") == 0.0
    assert tries.recent().count == 0  # the teacher's note covers the last hour


def test_counts_survive_a_server_restart_through_the_runs_folder(tmp_path, clock):
    first = PasswordTries(tmp_path / FILE_NAME, clock=clock)
    for _ in range(5):
        first.failed("a")
    again = PasswordTries(tmp_path / FILE_NAME, clock=clock)  # a new process reads the file
    assert again.wait_s("a") == 30.0
    assert again.recent().count == 5


def test_a_damaged_or_missing_file_counts_from_zero_and_is_rewritten(tmp_path, clock):
    (tmp_path / FILE_NAME).write_text("{not json")
    tries = PasswordTries(tmp_path / FILE_NAME, clock=clock)
    assert tries.wait_s("a") == 0.0
    tries.failed("a")
    assert PasswordTries(tmp_path / FILE_NAME, clock=clock).recent().count == 1


def test_shared_gives_every_session_the_same_counter(tmp_path):
    assert shared(tmp_path) is shared(tmp_path / ".")
    assert shared(tmp_path) is not shared(tmp_path / "other")


def test_concurrent_wrong_tries_are_all_counted(tmp_path, clock):
    tries = PasswordTries(tmp_path / FILE_NAME, clock=clock, class_free_tries=1000)
    threads = [threading.Thread(target=lambda i=i: [tries.failed(f"b{i}") for _ in range(10)]) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tries.recent().count == 80
    assert PasswordTries(tmp_path / FILE_NAME, clock=clock, class_free_tries=1000).recent().count == 80


def test_bad_settings_say_what_was_received():
    with pytest.raises(ValueError, match="free_tries must be a whole number ≥ 1, got 0"):
        PasswordTries(free_tries=0)
