"""Every page runs inside app.py's frame (navigation, sidebar, wide layout, identity).

Streamlit treats a folder named ``pages/`` next to the main script as a legacy multipage app until
the main script has called ``st.navigation`` once in this server process (and AppTest starts every
run that way). Then a page script runs alone: a link opened straight onto ``/train`` or ``/runs``
of a cold server got no sidebar, no wide layout, no person. ``ensure_app_frame()``, called at the
top of every page, notices it and runs app.py right there, which draws the frame and runs this
page inside it; then it ends the bare run. Nothing is lost: no widget of the page existed yet.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

APP = Path(__file__).resolve().parents[1] / "app.py"


def ensure_app_frame() -> None:
    from streamlit.runtime.pages_manager import PagesManager

    if not PagesManager.uses_pages_directory:
        return  # app.py's st.navigation is running this page: the normal case
    PagesManager.uses_pages_directory = False  # what st.navigation in app.py sets for the whole server
    code = compile(APP.read_text(), str(APP), "exec")
    exec(code, {"__name__": "__main__", "__file__": str(APP)})  # noqa: S102 — our own app.py, the usual entry
    st.stop()
