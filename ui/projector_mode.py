"""Projector mode (``?projector=1``): a page for the front of the room, read from the back row.

Large type, no sidebar, no controls, high contrast. app.py skips the sidebar and adds the style below to every
page; the Class page also leaves its controls undrawn. The query parameter is untrusted: only the exact value
``"1"`` turns it on (``?projector=yes``, ``?projector=<script>`` … leave the page as it is).
"""

from __future__ import annotations

import streamlit as st

QUERY_KEY = "projector"

# Every input and button Streamlit draws, by its test id: hidden on the projector (a lesson page keeps its
# defaults). Charts, tables, images and text stay.
_CONTROLS = ("stButton", "stDownloadButton", "stFormSubmitButton", "stPageLink", "stTextInput", "stTextArea",
             "stNumberInput", "stSelectbox", "stMultiSelect", "stSlider", "stSelectSlider", "stRadio", "stCheckbox",
             "stToggle", "stPopover", "stButtonGroup", "stFileUploader", "stColorPicker", "stDateInput",
             "stTimeInput", "stChatInput", "stExpander", "stCameraInput", "stSidebar", "stSidebarCollapsedControl",
             "stSidebarCollapseButton", "stToolbar", "stHeader", "stDecoration", "stStatusWidget")

STYLE = (
    "<style>"
    + ", ".join(f"[data-testid='{name}']" for name in _CONTROLS) + " {display: none !important;}"
    # Streamlit sizes its text in rem: a larger root size makes every text larger, headings included.
    "html {font-size: 26px;}"
    ".stApp, [data-testid='stMain'], [data-testid='stHeader'] {background: #000 !important;}"
    ".stApp, .stApp p, .stApp li, .stApp h1, .stApp h2, .stApp h3, .stApp span, .stApp td, .stApp th, "
    ".stApp label, .stApp div {color: #fff;}"
    "[data-testid='stMainBlockContainer'] {max-width: 100% !important; padding: 1rem 2rem !important;}"
    "[data-testid='stCaptionContainer'] {color: #ddd !important;}"
    "</style>"
)


def on() -> bool:
    """Whether this page is shown in projector mode (only ``?projector=1``)."""
    try:
        return st.query_params.get(QUERY_KEY) == "1"
    except Exception:  # noqa: BLE001 — no script run behind this call
        return False


def apply() -> None:
    """Large type, no sidebar, no controls, high contrast, for the rest of this page."""
    st.html(STYLE)
