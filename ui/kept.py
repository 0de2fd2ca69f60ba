"""Widgets whose value a page keeps in ``st.session_state``: give the widget that value as its default too.

A value put in ``st.session_state`` (a page's first settings, a recipe, a set-up link, a "back to the example"
button) reaches the browser once, as a "set value" on the widget. A browser that draws the widget before that
lands (a rerun cut short on a busy server, or the moment between drawing a box and filling it in) shows the
widget's own default (0 for a number box, the first option of a menu) and sends it back with the next click: on a
loaded classroom server a shared link's learning rate became 0 and Start was disabled. With the default equal to
the kept value there is nothing to lose. (Streamlit logs a warning about a widget given both; .streamlit/config.toml
turns that warning off, as here it is the design.)

    st.number_input("Kernel size", 1, 8, kept("pool_kernel"), key="pool_kernel")
    st.selectbox("Network", names, index=kept_index(names, "shape_model"), key="shape_model")
"""

from __future__ import annotations

from typing import Any

import streamlit as st


def kept(key: str, fallback: Any = None) -> Any:
    """The value kept for the widget ``key`` (``fallback`` when none is)."""
    return st.session_state.get(key, fallback)


def kept_index(options: list[Any], key: str, fallback: int | None = 0) -> int | None:
    """``kept`` for a menu or a radio: the position of the kept choice (``fallback`` when none is kept)."""
    choice = st.session_state.get(key)
    return options.index(choice) if choice in options else fallback
