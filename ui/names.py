"""What the class calls each person: the sidebar's "Your name" box, and the name a page shows for a run's owner.

The names live on the server (vision_core/classroom/names.py), keyed by the person's owner hash: set once in a
browser, they follow that browser's cookie across refreshes and tabs, and the same name appears on every page. A
name is shown only as text (``plain()`` where Markdown renders, ``html.escape`` in the class wall's table).
"""

from __future__ import annotations

import streamlit as st

from ui import identity
from ui.text import plain
from vision_core.classroom import names
from vision_core.runs.store import runs_root


def name_book() -> names.NameBook:
    """The runs folder's name book (one per server process, shared by every session)."""
    return names.book(runs_root())


def display(owner: str | None) -> str:
    """The name the class sees for ``owner`` (their chosen name, else their pseudonym)."""
    return name_book().display(owner)


def _save() -> None:
    """Button callback: store the name typed in the box for this browser's person."""
    typed = st.session_state.get("names_box", "")
    me = identity.current_person()
    try:
        if typed.strip():
            name_book().set_name(me, typed)
            st.session_state["names_flash"] = ("ok", "Saved: the class sees this name on your runs.")
        else:
            name_book().clear(me)
            st.session_state["names_flash"] = ("ok", "Cleared: the class sees your animal name again.")
    except names.BadName as exc:
        st.session_state["names_flash"] = ("error", str(exc))


def name_box() -> None:
    """The sidebar's "Your name" expander: what the class calls you now, and a box to change it."""
    me = identity.current_person()
    person = name_book().get(me)
    shown = display(me)
    with st.expander(f"Your name: {plain(shown)}"):
        if person is not None and person.hidden:
            st.caption("The teacher has hidden your name: the class sees your animal name.")
        st.text_input("Name the class sees", value=person.name if person and not person.hidden else "",
                      max_chars=names.MAX_CHARS, key="names_box", placeholder=names.pseudonym(me),
                      help=f"A name has {names.NAME_RULE}. Leave it empty to be {names.pseudonym(me)}.")
        st.button("Save name", key="names_save", on_click=_save)
        flash = st.session_state.pop("names_flash", None)
        if flash:
            (st.success if flash[0] == "ok" else st.error)(plain(flash[1]))
