"""An animated step-through on a page (Convolution, Pooling): built once per input, stepped by the browser.

The figure (vision_core.figures.step_through) carries a frame per cell with Plotly's own Play / Pause /
Previous / Next buttons and slider, so stepping sends nothing to the server. What still reaches the server is a
click on a cell (jump there, or pick an input cell): the lesson's steps and the figure's frames are cached by
their inputs (``st.cache_resource``: built once, shared read-only by every student), and the page draws the
figure inside an ``st.fragment`` so a click reruns only that part.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import streamlit as st

from vision_core.figures import step_through as figs
from vision_core.lessons import convolution, pooling

CHART_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


@st.cache_resource(max_entries=16, show_spinner=False)
def convolution_steps(**settings: Any) -> convolution.ConvolutionSteps:
    """``convolution.convolution_steps(**settings)``, once per distinct input (raises ValueError as it does)."""
    return convolution.convolution_steps(**settings)


@st.cache_resource(max_entries=32, show_spinner="Preparing the step-through…")
def convolution_figure(settings_key: str, _steps: convolution.ConvolutionSteps, out_channel: int, start: int,
                       stop: int, map_title: str) -> figs.AnimatedFigure:
    """The frames of cells ``start`` … ``stop − 1``; ``settings_key`` names ``_steps`` (objects are not hashed)."""
    return figs.convolution_animation(_steps, out_channel, start, block=range(start, stop), map_title=map_title)


@st.cache_resource(max_entries=16, show_spinner=False)
def pooling_steps(x: np.ndarray, kind: str, kernel: int, stride: int, padding: int) -> pooling.PoolingSteps:
    return pooling.pooling_steps(x, kind, kernel, stride, padding)


@st.cache_resource(max_entries=32, show_spinner="Preparing the step-through…")
def pooling_figure(settings_key: str, _steps: pooling.PoolingSteps, channel: int, start: int,
                   stop: int) -> figs.AnimatedFigure:
    return figs.pooling_animation(_steps, channel, start, block=range(start, stop))


@st.cache_resource(max_entries=16, show_spinner=False)
def transposed_figure(x: np.ndarray, w: np.ndarray, stride: int, padding: int, output_padding: int, dilation: int,
                      bias: float) -> tuple[convolution.TransposedSteps, figs.AnimatedFigure]:
    steps = convolution.TransposedSteps(x, w, stride, padding, output_padding, dilation, bias)
    return steps, figs.transposed_animation(steps)


def settings_key(**settings: Any) -> str:
    """A cache key for settings holding arrays: their bytes' digest plus everything else's repr."""
    import hashlib

    digest = hashlib.sha1()
    for name, value in sorted(settings.items()):
        array = np.asarray(value) if isinstance(value, (np.ndarray, list)) else None
        digest.update(f"{name}={value!r}".encode() if array is None else
                      name.encode() + str(array.shape).encode() + np.ascontiguousarray(array, float).tobytes())
    return digest.hexdigest()


def clicked(key: str, figure: figs.AnimatedFigure) -> tuple[str, tuple[int, int]] | None:
    """(name of the clicked trace, (row, column) in its axes) of the last click on chart ``key``, or None.

    Plotly sends Streamlit clicks on markers only: the figures put invisible ones on every clickable cell."""
    state = st.session_state.get(key)
    points = [p for p in (state.selection.points if state else []) if "x" in p and "y" in p]
    if not points:
        return None
    data = figure.to_dict()["data"]
    index = points[0].get("curve_number", -1)
    name = data[index].get("name", "") if 0 <= index < len(data) else ""
    return name, (round(points[0]["y"]), round(points[0]["x"]))


def show(figure: figs.AnimatedFigure, key: str, on_click: Callable[[str, tuple[int, int]], None] | None = None) -> None:
    """Draw the animated ``figure``; ``on_click(trace name, (row, column))`` runs when a cell is clicked."""
    if on_click is None:
        st.plotly_chart(figure, key=key, config=CHART_CONFIG)
        return

    def handle() -> None:
        hit = clicked(key, figure)
        if hit is not None:
            on_click(*hit)

    st.plotly_chart(figure, key=key, on_select=handle, selection_mode="points", config=CHART_CONFIG)
