"""Plotly figures for the convolution and pooling pages: data in, ``go.Figure`` out (no Streamlit, no I/O).

Every grid is a heat map with its numbers written in the cells (when small enough to read), rows downwards
like an image, square cells. Outlines mark the current window (or output cell); a dashed frame marks the
real input inside its padding.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import plotly.graph_objects as go

STYLE = {
    "window": "#f59e0b",  # the cells under the kernel, and the output cell being computed
    "winner": "#16a34a",  # the max in a max-pooling window
    "frame": "#6b7280",  # the real input inside the padding
    "changed": "#dc2626",  # cells that changed in the invariance demo
    "diverging": "RdBu_r",  # signed values: kernels, products, outputs (0 = white)
    "image": "gray",  # non-negative pixel values
    "picked": "#7c3aed",  # a clicked input cell and the output cells it feeds
    "max_text_cells": 24 * 24,  # above this many cells, numbers are left out (they would be unreadable)
    "cell_px": 34,
    "zoom_side": 9,  # a larger input is shown as a zoomed window of this many cells around the kernel
    "zoom_cell_px": 46,
    "max_text_side": 12,  # numbers are written only when a grid is at most this many cells wide (legible)
}


def format_number(value: float) -> str:
    """Short cell text: whole numbers without decimals, others with up to 3 significant digits; ±∞ as symbols."""
    if not np.isfinite(value):
        return "" if np.isnan(value) else ("−∞" if value < 0 else "∞")
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}"


def _as_grid(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        return values[None]
    if values.ndim != 2:
        raise ValueError(f"a grid figure needs 1-D or 2-D values, got shape {values.shape}")
    return values


def _cell_rect(row: int, col: int, color: str, width: float = 3, dash: str = "solid") -> dict:
    return {"type": "rect", "x0": col - 0.5, "x1": col + 0.5, "y0": row - 0.5, "y1": row + 0.5,
                "line": {"color": color, "width": width, "dash": dash}, "fillcolor": "rgba(0,0,0,0)", "layer": "above"}


def grid_figure(values: np.ndarray, title: str = "", *, signed: bool | None = None, outline: Iterable = (),
                outline_color: str = STYLE["window"], marks: Iterable = (), frame: tuple | None = None,
                show_text: bool | None = None, zrange: tuple[float, float] | None = None,
                hover_name: str = "value", origin: tuple[int, int] = (0, 0), picked: Iterable = (),
                axis_titles: tuple[str, str] | None = None, zoom_frame: tuple | None = None,
                clickable: bool = False) -> go.Figure:
    """A heat map of a 1-D or 2-D grid with its numbers, outlined cells and an optional dashed frame.

    ``origin``: the axis coordinates (row, column) of ``values[0, 0]`` (e.g. (−1, −1) when the grid starts
    with one padding cell), so the axes read what the page's text says. ``outline`` / ``marks`` / ``picked``:
    (row, col) cells in those axis coordinates (row 0 for 1-D); ``frame`` / ``zoom_frame``: (row0, row1, col0,
    col1) inclusive, dashed grey / dotted orange. NaN cells stay blank (not computed yet); −∞ cells
    (max-pooling padding) are blank and read "−∞". ``clickable``: Plotly heat maps send no click selections to
    Streamlit, so an invisible square marker sits on every cell (trace 1, x = column, y = row); a click selects
    it. Example: ``grid_figure(np.eye(3), "identity", outline=[(1, 1)])``.
    """
    grid = _as_grid(values)
    finite = grid[np.isfinite(grid)]
    if signed is None:
        signed = bool(finite.size and finite.min() < 0)
    if zrange is None:
        if signed:
            bound = float(np.abs(finite).max()) if finite.size else 1.0
            zrange = (-(bound or 1.0), bound or 1.0)
        else:
            zrange = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            if zrange[0] == zrange[1]:
                zrange = (zrange[0] - 1, zrange[1] + 1) if zrange[0] else (0.0, 1.0)
    if show_text is None:
        show_text = grid.size <= STYLE["max_text_cells"]
    text = np.vectorize(format_number, otypes=[str])(grid) if show_text else None
    rows, cols = grid.shape
    row0, col0 = origin
    heatmap = go.Heatmap(
        z=np.where(np.isfinite(grid), grid, np.nan), text=text, texttemplate="%{text}" if show_text else None,
        x=np.arange(cols) + col0, y=np.arange(rows) + row0,
        colorscale=STYLE["diverging"] if signed else STYLE["image"], zmin=zrange[0], zmax=zrange[1],
        showscale=False, xgap=1, ygap=1,
        hovertemplate=f"row %{{y}}, column %{{x}}<br>{hover_name} %{{z:.4g}}<extra></extra>",
    )
    fig = go.Figure(heatmap)
    cell = STYLE["cell_px"] if grid.size <= STYLE["max_text_cells"] else max(4, 480 // max(rows, cols))
    if clickable:
        heatmap.hoverinfo = "skip"  # the markers carry the hover label (and receive the clicks)
        heatmap.hovertemplate = None
        cols_index, rows_index = np.meshgrid(np.arange(cols) + col0, np.arange(rows) + row0)
        fig = go.Figure([heatmap, go.Scatter(
            x=cols_index.ravel(), y=rows_index.ravel(), mode="markers", showlegend=False, name="cells",
            marker={"symbol": "square", "size": max(6, int(cell * 0.9)), "color": "rgba(0,0,0,0)"},
            customdata=grid.ravel(),
            hovertemplate=f"row %{{y}}, column %{{x}}<br>{hover_name} %{{customdata:.4g}}<br><i>click me</i>"
                          "<extra></extra>")])
    shapes = [_cell_rect(r, c, outline_color) for r, c in outline]
    shapes += [_cell_rect(r, c, STYLE["winner"], width=5) for r, c in marks]
    shapes += [_cell_rect(r, c, STYLE["picked"], width=4) for r, c in picked]
    for box, color, dash in ((frame, STYLE["frame"], "dash"), (zoom_frame, STYLE["window"], "dot")):
        if box is not None:
            r0, r1, c0, c1 = box
            shapes.append({"type": "rect", "x0": c0 - 0.5, "x1": c1 + 0.5, "y0": r0 - 0.5, "y1": r1 + 0.5,
                           "layer": "above", "line": {"color": color, "width": 2, "dash": dash}})
    fig.update_layout(
        title={"text": title, "font": {"size": 14}}, shapes=shapes, margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        height=min(640, max(110, rows * cell + 60 + (20 if axis_titles else 0))), plot_bgcolor="rgba(0,0,0,0)",
    )
    # Explicit ranges: a frame reaching outside a zoomed view must not widen the axes.
    fig.update_xaxes(showgrid=False, zeroline=False, tickmode="array" if cols <= 32 else "auto",
                     tickvals=list(range(col0, col0 + cols)) if cols <= 32 else None, constrain="domain",
                     range=[col0 - 0.5, col0 + cols - 0.5], title=axis_titles[1] if axis_titles else None)
    fig.update_yaxes(showgrid=False, zeroline=False, range=[row0 + rows - 0.5, row0 - 0.5], scaleanchor="x",
                     constrain="domain", tickmode="array" if rows <= 32 else "auto",
                     tickvals=list(range(row0, row0 + rows)) if rows <= 32 else None, showticklabels=rows > 1,
                     title=axis_titles[0] if axis_titles and rows > 1 else None)
    return fig


def _window_cells(coords: Sequence[np.ndarray]) -> list[tuple[int, int]]:
    if len(coords) == 1:  # 1-D: one row
        return [(0, int(c)) for c in coords[0]]
    return [(int(r), int(c)) for r in coords[0] for c in coords[1]]


def _frame(padding: Sequence[tuple[int, int]], shape: Sequence[int]) -> tuple | None:
    if not any(b or a for b, a in padding):
        return None
    if len(shape) == 1:
        (b, _), = padding
        return (0, 0, b, b + shape[0] - 1)
    (top, _), (left, _) = padding
    return (top, top + shape[0] - 1, left, left + shape[1] - 1)


def input_window_figure(padded: np.ndarray, padding: Sequence[tuple[int, int]], input_shape: Sequence[int],
                        padded_coords: Sequence[np.ndarray], title: str = "Input (padded)",
                        marks: Iterable = ()) -> go.Figure:
    """One channel of the padded input with the current window outlined and the real input framed."""
    grid = np.asarray(padded, dtype=np.float64)
    finite = grid[np.isfinite(grid)]
    return grid_figure(grid, title, signed=bool(finite.size and finite.min() < 0),
                       outline=_window_cells(padded_coords), marks=marks, frame=_frame(padding, input_shape),
                       hover_name="input")


def view_box(shape: Sequence[int], focus: Sequence[float], side: int) -> tuple[int, int, int, int]:
    """The ``side`` × ``side`` view (row0, row1, col0, col1, inclusive) of a grid of ``shape`` centred as near
    ``focus`` (row, col) as the grid's edges allow; the whole axis when it is shorter than ``side``."""
    box = []
    for n, f in zip(shape, focus):
        if n <= side:
            box += [0, n - 1]
            continue
        start = int(min(max(round(f - (side - 1) / 2), 0), n - side))
        box += [start, start + side - 1]
    return tuple(box)


def convolution_input_figure(padded: np.ndarray, padding: Sequence[tuple[int, int]], input_shape: Sequence[int],
                             padded_coords: Sequence[np.ndarray], title: str = "Input", *, picked: Iterable = (),
                             zoom_side: int = STYLE["zoom_side"]) -> tuple[go.Figure, tuple | None]:
    """One channel of the padded input, axes in the input's own coordinates (padding cells are −1, −2, … and
    n, n+1, …), the kernel's window outlined, the real input framed, ``picked`` cells (input coordinates) in purple.

    A grid more than ``zoom_side`` cells wide or high is shown as a zoomed ``zoom_side``² view around the window,
    with its numbers; returns (figure, the view in input coordinates, or None when the whole grid is shown).
    """
    grid = np.atleast_2d(np.asarray(padded, dtype=np.float64))
    one_d = len(input_shape) == 1
    top, left = (0, padding[0][0]) if one_d else (padding[0][0], padding[1][0])
    window = _window_cells(padded_coords)  # padded coordinates
    center = np.mean([r for r, _ in window]), np.mean([c for _, c in window])
    zoomed = not one_d and max(grid.shape) > zoom_side
    r0, r1, c0, c1 = view_box(grid.shape, center, zoom_side) if zoomed else (0, grid.shape[0] - 1, 0, grid.shape[1] - 1)
    view = grid[r0:r1 + 1, c0:c1 + 1]
    origin = (r0 - top, c0 - left)  # input coordinates of the view's first cell
    frame = _frame(padding, input_shape)
    frame = None if frame is None else (frame[0] - top, frame[1] - top, frame[2] - left, frame[3] - left)
    finite = grid[np.isfinite(grid)]
    fig = grid_figure(view, title, signed=bool(finite.size and finite.min() < 0),
                      zrange=None if not zoomed else _zrange(finite), origin=origin,
                      outline=[(r - top, c - left) for r, c in window], frame=frame, picked=picked,
                      show_text=max(view.shape) <= STYLE["max_text_side"], hover_name="input",
                      axis_titles=None if one_d else ("row", "column"), clickable=True)
    if zoomed:  # larger cells, so that Plotly writes the numbers at a readable size
        fig.update_layout(height=view.shape[0] * STYLE["zoom_cell_px"] + 100)
    box = (origin[0], origin[0] + view.shape[0] - 1, origin[1], origin[1] + view.shape[1] - 1)
    return fig, box if zoomed else None


def _zrange(finite: np.ndarray) -> tuple[float, float]:
    """The whole grid's colour range, so a zoomed view keeps the colours of the overview."""
    if not finite.size:
        return (0.0, 1.0)
    if finite.min() < 0:
        bound = float(np.abs(finite).max()) or 1.0
        return (-bound, bound)
    low, high = float(finite.min()), float(finite.max())
    return (low, high) if high > low else (low - 1, high + 1)


def input_overview_figure(padded: np.ndarray, padding: Sequence[tuple[int, int]], input_shape: Sequence[int],
                          padded_coords: Sequence[np.ndarray], view: tuple, title: str = "Whole input",
                          picked: Iterable = ()) -> go.Figure:
    """The whole padded input without numbers, axes in input coordinates: the window outlined, the zoomed
    view ``view`` (input coordinates, inclusive) dotted, so a student sees where the zoom is."""
    grid = np.asarray(padded, dtype=np.float64)
    top, left = padding[0][0], padding[1][0]
    frame = _frame(padding, input_shape)
    frame = None if frame is None else (frame[0] - top, frame[1] - top, frame[2] - left, frame[3] - left)
    finite = grid[np.isfinite(grid)]
    fig = grid_figure(grid, title, signed=bool(finite.size and finite.min() < 0), show_text=False,
                      origin=(-top, -left), outline=[(r - top, c - left) for r, c in _window_cells(padded_coords)],
                      frame=frame, zoom_frame=view, picked=picked, hover_name="input", axis_titles=("row", "column"),
                      clickable=True)
    # A thumbnail: a few ticks, a fixed height (the cells are small anyway).
    fig.update_layout(height=260)
    fig.update_xaxes(tickmode="auto", tickvals=None, nticks=6)
    fig.update_yaxes(tickmode="auto", tickvals=None, nticks=6)
    return fig


def kernel_figure(kernel: np.ndarray, title: str = "Kernel") -> go.Figure:
    """The kernel as applied (already flipped for true convolution), 0 = white."""
    return grid_figure(kernel, title, signed=True, hover_name="weight")


def products_figure(products: np.ndarray, title: str = "Window × kernel") -> go.Figure:
    """The element-wise products whose sum is the output cell."""
    return grid_figure(products, title, signed=True, hover_name="product")


def output_progress_figure(output_map: np.ndarray, done: int, current: Sequence[int] | None,
                           title: str = "Output", *, picked: Iterable = (), show_text: bool | None = None,
                           axis_titles: tuple[str, str] | None = None, clickable: bool = False) -> go.Figure:
    """The output map filled in up to cell ``done`` (row-major, inclusive count), the current cell outlined.

    The colour range is the full map's, so colours do not shift while the map fills in. ``picked``: output
    cells to mark in purple (those a clicked input cell feeds).
    """
    grid = _as_grid(output_map)
    finite = grid[np.isfinite(grid)]
    bound = float(np.abs(finite).max()) if finite.size else 1.0
    signed = bool(finite.size and finite.min() < 0)
    zrange = (-(bound or 1.0), bound or 1.0) if signed else (float(finite.min()), float(finite.max()) or 1.0)
    shown = grid.copy().reshape(-1)
    shown[done:] = np.nan
    outline = [] if current is None else [(0, current[0])] if len(current) == 1 else [tuple(current)]
    return grid_figure(shown.reshape(grid.shape), title, signed=signed, outline=outline, zrange=zrange,
                       hover_name="output", picked=picked, show_text=show_text, axis_titles=axis_titles,
                       clickable=clickable)


def pooling_input_figure(padded: np.ndarray, padding: Sequence[tuple[int, int]], input_shape: Sequence[int],
                         padded_coords: Sequence[np.ndarray], argmax: tuple[int, int] | None,
                         title: str = "Input (padded)") -> go.Figure:
    """The padded input with the pooling window outlined and, for max pooling, the winning cell marked."""
    marks = [] if argmax is None else [(int(padded_coords[0][argmax[0]]), int(padded_coords[1][argmax[1]]))]
    return input_window_figure(padded, padding, input_shape, padded_coords, title, marks=marks)


def changed_figure(values: np.ndarray, changed: np.ndarray, title: str) -> go.Figure:
    """A grid with the cells that changed outlined in red (the invariance demo)."""
    cells = [(int(r), int(c)) for r, c in zip(*np.nonzero(_as_grid(changed)))]
    return grid_figure(values, title, outline=cells, outline_color=STYLE["changed"])


def bar_figure(values: Sequence[float], labels: Sequence[str], title: str) -> go.Figure:
    """One bar per channel (global average pooling: one number per feature map)."""
    fig = go.Figure(go.Bar(x=list(labels), y=list(values), text=[format_number(v) for v in values],
                           textposition="outside"))
    fig.update_layout(title=title, height=260, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig
