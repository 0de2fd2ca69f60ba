"""Who is using this browser: a person (their own runs) and, with the teacher's password, the teacher.

A classroom server has no accounts. Each browser gets a random, unguessable token in a cookie the
first time it opens the app; it survives refreshes and new tabs (a new Streamlit session reads it
from ``st.context.cookies``). Run folders store only a hash of it (``owner``), so nothing on disk or
on a page reveals a token. The teacher enters a password (``VISION_CORE_TEACHER_PASSWORD`` or
``teacher_password`` in ``.streamlit/secrets.toml``) once; a second cookie, an HMAC of the person's
token under that password, keeps teacher mode across refreshes and stops working when the password
changes. Wrong passwords are counted by the server, per browser and for the whole class, and cost a growing
wait (vision_core/classroom/password_tries.py): a reload or a new cookie does not reset them.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import secrets
import time

import streamlit as st

from vision_core.classroom.password_tries import PasswordTries, Recent
from vision_core.classroom.password_tries import shared as shared_tries
from vision_core.runs.store import runs_root

PERSON_COOKIE = "cnnlab_person"
TEACHER_COOKIE = "cnnlab_teacher"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
_COOKIE_DAYS = 180


def _cookie(name: str) -> str:
    """A cookie of this browser ('' when absent; AppTest and bare runs have no real cookies)."""
    try:
        value = st.context.cookies.get(name, "")
    except Exception:  # noqa: BLE001 — no browser behind this session
        return ""
    return value if isinstance(value, str) else ""


def _token() -> str:
    """This browser's secret token (made and stored in a cookie on the first visit)."""
    state = st.session_state
    if "_person_token" not in state:
        token = _cookie(PERSON_COOKIE)
        if not _TOKEN.match(token):
            token = secrets.token_urlsafe(24)
            state["_set_cookies"] = {**state.get("_set_cookies", {}), PERSON_COOKIE: token}
        state["_person_token"] = token
    return state["_person_token"]


def owner_id(token: str) -> str:
    """What a run folder stores: a short one-way hash of the token."""
    return hashlib.sha256(f"cnnlab-person:{token}".encode()).hexdigest()[:20]


def current_person() -> str:
    """The owner id of whoever uses this browser (stable across refreshes and tabs)."""
    return owner_id(_token())


def teacher_password() -> str | None:
    """The configured teacher password, or None when teacher mode is not set up."""
    password = os.environ.get("VISION_CORE_TEACHER_PASSWORD")
    if not password and _a_secrets_file_exists():
        try:
            password = st.secrets.get("teacher_password")
        except Exception:  # noqa: BLE001 — a broken secrets.toml simply means no password
            password = None
    return str(password) if password else None


def _a_secrets_file_exists() -> bool:
    """Streamlit keeps secrets it has read, but without a secrets.toml it looks for one again, and raises, on every
    call: ~4 ms of server CPU on every rerun of every page (the sidebar asks). Two stats instead."""
    from streamlit import config

    return any(os.path.exists(path) for path in config.get_option("secrets.files"))


def _teacher_proof(token: str, password: str) -> str:
    return hmac.new(password.encode(), f"cnnlab-teacher:{token}".encode(), hashlib.sha256).hexdigest()


def is_teacher() -> bool:
    state = st.session_state
    password = teacher_password()
    if not password:
        return False
    if state.get("_teacher"):
        return True
    proof = _cookie(TEACHER_COOKIE)
    if proof and hmac.compare_digest(proof, _teacher_proof(_token(), password)):
        state["_teacher"] = True
    return bool(state.get("_teacher"))


def may_manage(owner: str | None) -> bool:
    """Pause, step, stop, delete, rename, download: the run's owner and the teacher only.

    A run without an owner (started from the command line) is the teacher's to manage.
    """
    return is_teacher() or (owner is not None and owner == current_person())


def password_tries() -> PasswordTries:
    """The server's count of wrong teacher passwords (shared by every session; kept in the runs folder)."""
    return shared_tries(runs_root())


def _wait_text(seconds: float) -> str:
    """``95`` → '1 min 35 s', rounded up: never says 0 s while still waiting."""
    seconds = max(1, math.ceil(seconds))
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def _try_password(entered: str) -> str | None:
    """None when ``entered`` is the teacher password (teacher mode on); else the sentence to show.

    While this browser (or the whole class) has to wait, the password is not even compared: the right one
    waits too, so a guesser never learns that a refused guess was right.
    """
    state = st.session_state
    password = teacher_password()
    if not password:
        return "Teacher mode is not set up on this server."
    tries, me = password_tries(), current_person()
    wait = tries.wait_s(me)
    if wait > 0:
        return f"Too many wrong passwords: try again in {_wait_text(wait)}."
    if hmac.compare_digest(entered.encode(), password.encode()):
        tries.succeeded(me)
        state["_teacher"] = True
        state["_set_cookies"] = {**state.get("_set_cookies", {}),
                                 TEACHER_COOKIE: _teacher_proof(_token(), password)}
        return None
    wait = tries.failed(me)
    return "Wrong password." + (f" Too many wrong passwords: try again in {_wait_text(wait)}." if wait > 0 else "")


def guessing_note(recent: Recent) -> str | None:
    """'3 wrong teacher passwords in the last hour (2 browsers), the last at 14:05.' — None when there were none."""
    if not recent.count:
        return None
    browsers = f" ({recent.browsers} browsers)" if recent.browsers > 1 else ""
    last = time.strftime("%H:%M", time.localtime(recent.last)) if recent.last is not None else "?"
    plural = "s" if recent.count > 1 else ""
    return f"⚠️ {recent.count} wrong teacher password{plural} in the last hour{browsers}, the last at {last}."


def teacher_box() -> None:
    """The sidebar's teacher login / logout; in teacher mode, whether someone has been guessing the password."""
    if not teacher_password():
        return
    state = st.session_state
    if is_teacher():
        st.caption("🎓 Teacher mode: you manage every run.")
        note = guessing_note(password_tries().recent())
        if note:
            st.caption(note)
        if st.button("Leave teacher mode", key="identity_leave_teacher"):
            state["_teacher"] = False
            state["_set_cookies"] = {**state.get("_set_cookies", {}), TEACHER_COOKIE: ""}
            st.rerun()
        return
    with st.expander("Teacher"):
        entered = st.text_input("Teacher password", type="password", key="identity_password")
        if st.button("Enter teacher mode", key="identity_enter_teacher") and entered:
            problem = _try_password(entered)
            if problem is None:
                st.rerun()
            st.error(problem)
        else:
            wait = password_tries().wait_s(current_person())
            if wait > 0:
                st.caption(f"Too many wrong passwords: the next try in {_wait_text(wait)}.")


def write_cookies() -> None:
    """Send the cookies made during this run to the browser (call once per script run, in the frame)."""
    pending = st.session_state.pop("_set_cookies", None)
    if not pending:
        return
    max_age = _COOKIE_DAYS * 24 * 3600
    parts = []
    for name, value in pending.items():
        # Values are our own tokens / hex digests ([A-Za-z0-9_-]): nothing to escape.
        age = max_age if value else 0
        parts.append(f'document.cookie = "{name}={value}; max-age={age}; path=/; SameSite=Strict";')
    st.html(f"<script>{' '.join(parts)}</script>", unsafe_allow_javascript=True, width=1)
