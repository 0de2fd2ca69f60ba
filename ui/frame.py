"""Every page runs inside app.py's frame (navigation, sidebar, wide layout, identity).

Streamlit treats a folder named ``pages/`` next to the main script as a legacy multipage app until
the main script has called ``st.navigation`` once in this server process. So on a cold server, the
first browser that opens a link straight onto ``/train`` or ``/runs`` gets that page script run
alone: no sidebar, no wide layout, no person. ``ensure_app_frame()``, called at the top of every
page, notices that and reruns the request through app.py (once per server process).
"""

from __future__ import annotations

import streamlit as st


def ensure_app_frame() -> None:
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False  # what st.navigation in app.py would have set
        st.rerun()
