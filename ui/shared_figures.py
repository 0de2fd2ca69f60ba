"""Figures shared by the whole class: built once per input, frozen, and drawn for every student from there.

``@shared_figures(max_entries=…)`` is ``st.cache_resource`` (one build per input for every session of the server)
for a function that returns figures, alone or in a tuple / list / dict, plus ``FrozenFigure``
(vision_core/figures/frozen.py): each figure is turned into the dict Plotly sends once, instead of on every
``st.plotly_chart`` of every student's every rerun. Such a figure is read with ``to_dict()`` only; a page that
reads ``fig.data`` after drawing (the projector's click fallback) keeps plain ``st.cache_resource``.

Example::

    @shared_figures(max_entries=32)
    def confusion_figure(run_path: str, normalized: bool): ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import streamlit as st

from vision_core.figures.frozen import frozen


def shared_figures(*, max_entries: int, show_spinner: bool | str = False) -> Callable[[Callable], Callable]:
    def decorate(build: Callable) -> Callable:
        @functools.wraps(build)  # Streamlit keys the cache on the wrapped function's name, source and parameters
        def build_frozen(*args, **kwargs):
            return frozen(build(*args, **kwargs))

        return st.cache_resource(max_entries=max_entries, show_spinner=show_spinner)(build_frozen)

    return decorate
