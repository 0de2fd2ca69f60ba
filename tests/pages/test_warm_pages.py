"""ui/warm_pages.py: the server's own visit of every page, against a stand-in for Streamlit's Runtime.

The real thing (a served dashboard opening its 15 pages) is tests/e2e/test_warm_pages.py; here the order of the
visit, what its browserless session keeps of Streamlit's messages, and that it always closes its session.
"""

from __future__ import annotations

import asyncio

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from ui import warm_pages

FINISHED = ForwardMsg.ScriptFinishedStatus
SIDEBAR = ["", "train", "convolution", "inside"]


def navigation(current: str) -> ForwardMsg:
    msg = ForwardMsg()
    for path in SIDEBAR:
        page = msg.navigation.app_pages.add()
        page.url_pathname = path
        page.page_script_hash = f"hash-{path}"
    msg.navigation.page_script_hash = f"hash-{current}"
    return msg


def finished(status) -> ForwardMsg:
    msg = ForwardMsg()
    msg.script_finished = status
    return msg


def exception(message: str) -> ForwardMsg:
    msg = ForwardMsg()
    msg.delta.new_element.exception.message = message
    return msg


class FakeRuntime:
    """Answers each rerun as a page would, from the event loop's next turn (as Streamlit's script thread does)."""

    def __init__(self, raise_on: str | None = None, hang_on: str | None = None) -> None:
        self.opened: list[str] = []
        self.closed: list[str] = []
        self.raise_on, self.hang_on = raise_on, hang_on
        self.client = None

    def connect_session(self, client, user_info) -> str:
        assert user_info == {}
        self.client = client
        return "own-session"

    def handle_backmsg(self, session_id: str, msg) -> None:
        assert session_id == "own-session"
        path = msg.rerun_script.page_name
        self.opened.append(path)
        if path == self.hang_on:
            return  # the page never ends
        replies = [navigation(path), finished(FINISHED.FINISHED_EARLY_FOR_RERUN)]  # an st.rerun() inside the page
        if path == self.raise_on:
            replies.append(exception("boom"))
        replies.append(finished(FINISHED.FINISHED_SUCCESSFULLY))
        loop = asyncio.get_running_loop()
        for reply in replies:
            loop.call_soon(self.client.write_forward_msg, reply)

    def close_session(self, session_id: str) -> None:
        self.closed.append(session_id)


@pytest.fixture
def runtime(monkeypatch):
    from streamlit.runtime import Runtime

    fake = FakeRuntime()
    monkeypatch.setattr(Runtime, "instance", classmethod(lambda cls: fake))
    return fake


def test_home_first_then_every_page_of_the_sidebar_once(runtime):
    took = asyncio.run(warm_pages.open_every_page())
    assert runtime.opened == SIDEBAR
    assert list(took) == SIDEBAR
    assert runtime.closed == ["own-session"]


def test_a_page_that_raises_is_reported_and_the_visit_goes_on(runtime, caplog):
    runtime.raise_on = "convolution"
    asyncio.run(warm_pages.open_every_page())
    assert runtime.opened == SIDEBAR
    assert any("'convolution' raised: boom" in r.getMessage() for r in caplog.records)
    assert not any("'inside'" in r.getMessage() for r in caplog.records)


def test_a_page_that_never_ends_is_left_and_the_visit_goes_on(runtime, caplog):
    runtime.hang_on = "train"
    took = asyncio.run(warm_pages.open_every_page(page_timeout_s=0.2))
    assert runtime.opened == SIDEBAR
    assert took["train"] >= 0.2
    assert any("'train' took over" in r.getMessage() for r in caplog.records)


def test_the_session_is_closed_when_the_visit_is_stopped(runtime):
    runtime.hang_on = "train"

    async def stop_it_midway():
        task = asyncio.create_task(warm_pages.open_every_page())
        while runtime.opened != ["", "train"]:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(stop_it_midway())
    assert runtime.closed == ["own-session"]


def test_only_the_run_s_own_end_counts_not_an_early_end_for_a_rerun():
    async def scenario():
        browser = warm_pages.NoBrowser(asyncio.get_running_loop())
        browser.write_forward_msg(finished(FINISHED.FINISHED_EARLY_FOR_RERUN))
        browser.write_forward_msg(finished(FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY))  # a timed strip refresh
        await asyncio.sleep(0)
        early = browser.ended.is_set()
        browser.write_forward_msg(finished(FINISHED.FINISHED_SUCCESSFULLY))
        await asyncio.sleep(0)
        return early, browser.ended.is_set()

    assert asyncio.run(scenario()) == (False, True)


@pytest.mark.parametrize(("pages", "imports", "wanted"), [
    (None, None, True), ("1", None, True), ("0", None, False), (None, "0", False), ("1", "0", False)])
def test_turned_off_by_either_setting(monkeypatch, pages, imports, wanted):
    for name, value in (("VISION_CORE_WARM_PAGES", pages), ("VISION_CORE_WARM_IMPORTS", imports)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert warm_pages.wanted() is wanted
