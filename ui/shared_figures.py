"""Figures and tables shared by the whole class: built once per input, frozen, and drawn for every student from there.

``@shared_figures(max_entries=…)`` is ``st.cache_resource`` (one build per input for every session of the server)
for a function that returns figures or tables, alone or in a tuple / list / dict, plus their frozen form: each
figure becomes a ``FrozenFigure`` (vision_core/figures/frozen.py), the dict Plotly sends, made once instead of on
every ``st.plotly_chart`` of every student's every rerun; each pandas table becomes the Arrow table
``st.dataframe`` sends (``pa.Table.from_pandas``, as Streamlit converts it itself, index included), made once
instead of on every ``st.dataframe``. Such a figure is read with ``to_dict()`` only (its ``fig.data`` is empty: the
projector's click fallback reads the traces from ``to_dict()``); such a table is for showing.

Example::

    @shared_figures(max_entries=32)
    def confusion_figure(run_path: str, normalized: bool): ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pandas as pd
import pyarrow as pa
import streamlit as st

from vision_core.figures.frozen import frozen


def as_sent(value):
    """``value`` with every figure frozen and every pandas table an Arrow table, in tuples / lists / dicts too."""
    if isinstance(value, pd.DataFrame):
        return pa.Table.from_pandas(value)
    if isinstance(value, (tuple, list)):
        return type(value)(as_sent(v) for v in value)
    if isinstance(value, dict):
        return {k: as_sent(v) for k, v in value.items()}
    return frozen(value)


def shared_figures(*, max_entries: int, show_spinner: bool | str = False) -> Callable[[Callable], Callable]:
    def decorate(build: Callable) -> Callable:
        @functools.wraps(build)  # Streamlit keys the cache on the wrapped function's name, source and parameters
        def build_frozen(*args, **kwargs):
            return as_sent(build(*args, **kwargs))

        return st.cache_resource(max_entries=max_entries, show_spinner=show_spinner)(build_frozen)

    return decorate
