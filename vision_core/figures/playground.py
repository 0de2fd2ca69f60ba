"""Plotly figures for the 2-D playground: data in, ``go.Figure`` out (no Streamlit, no I/O).

They are redrawn several times a second while a model trains, so each must be cheap on both ends:

- in the browser, a Plotly *heat map* trace is slow to redraw (3–4× the cost of the rest of a frame on a busy
  2-core machine), so the score maps are coloured here and sent as small PNG *image* traces, which the
  browser only has to paste;
- on the server, the figures are written as plain dicts and sent as they are (``FrozenFigure``): Plotly's
  property validation costs 20–30× more than building the dicts (benchmarks/playground_speed.py), and even
  unvalidated trace objects plus ``to_dict`` at each draw were a quarter of a Playground rerun (py-spy). The
  tests validate every figure once with ``go.Figure(fig.to_dict())``.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from vision_core.figures.frozen import FrozenFigure
from vision_core.figures.png import png_source
from vision_core.lessons.playground import History, PlaygroundData, thin

STYLE = {
    # TensorFlow Playground's colours: orange = class 0 / negative, blue = class 1 / positive.
    "class0": "#f59322",
    "class1": "#0877bd",
    "scale": [[0.0, "#f59322"], [0.5, "#e8eaeb"], [1.0, "#0877bd"]],
    "blank": (255, 255, 255),  # NaN cells: the gaps between hidden-unit pictures
    "train": "#1f77b4",  # train / test curves (matplotlib's first two colours)
    "test": "#ff7f0e",
    "gap": 4,  # blank cells between hidden-unit pictures
}


def _figure(data: list[dict], layout: dict) -> FrozenFigure:
    """A figure from plain dicts, sent as they are: no validation, no trace objects, no ``to_dict`` copy at each
    draw (see the module docstring; read it with ``to_dict()``)."""
    return FrozenFigure({"data": data, "layout": layout})


def colorize(values: np.ndarray, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """(H, W) values → (H, W, 3) uint8 on the orange – grey – blue scale (``low`` orange, ``high`` blue); NaN white.

    Example: ``colorize(np.array([[0.0, 1.0]]))[0, 1]`` is the class-1 blue (8, 119, 189).
    """
    stops = np.array([[int(c[1:][i:i + 2], 16) for i in (0, 2, 4)] for _, c in STYLE["scale"]], dtype=np.float64)
    t = np.clip((np.asarray(values, dtype=np.float64) - low) / (high - low), 0, 1) * 2  # 0 … 2 across 3 stops
    nan = np.isnan(t)
    t = np.where(nan, 0, t)
    lower = np.minimum(t.astype(int), 1)  # which segment: 0 (orange → grey) or 1 (grey → blue)
    frac = (t - lower)[..., None]
    rgb = stops[lower] * (1 - frac) + stops[lower + 1] * frac
    rgb[nan] = STYLE["blank"]
    return np.round(rgb).astype(np.uint8)


def boundary_figure(xs: np.ndarray, ys: np.ndarray, p: np.ndarray, data: PlaygroundData, *,
                    show_test: bool = True) -> go.Figure:
    """The class-1 score over the plane (orange 0 … blue 1) with the train points (filled) and test points
    (hollow) on top. ``p`` rows go up the y axis (``Playground.boundary``). Example:
    ``boundary_figure(*pg.boundary(60), pg.data)``."""
    dx, dy = xs[1] - xs[0], ys[1] - ys[0]
    traces = [{"type": "image", "source": png_source(colorize(p)), "x0": xs[0], "dx": dx, "y0": ys[0], "dy": dy,
               "zsmooth": "fast", "hoverinfo": "skip", "name": "score"}]
    sets = [("train", data.x_train, data.y_train)]
    if show_test and not data.same_split:
        sets.append(("test", data.x_test, data.y_test))
    for name, x, y in sets:
        labels = y.numpy().astype(int)
        colors = np.where(labels == 1, STYLE["class1"], STYLE["class0"])
        filled = name == "train"
        size = 14 if len(labels) <= 20 else 8  # the tutorial's four points must be easy to see
        marker = ({"color": colors, "size": size, "line": {"color": "white", "width": 1}} if filled else
                  {"color": "rgba(0,0,0,0)", "size": size + 1, "line": {"color": colors, "width": 2}})
        traces.append({"type": "scatter", "mode": "markers", "name": f"{name} points", "x": x[:, 0].numpy(),
                       "y": x[:, 1].numpy(), "marker": marker, "customdata": labels,
                       "hovertemplate": f"{name} point (%{{x:.2f}}, %{{y:.2f}})<br>class %{{customdata}}"
                                        "<extra></extra>"})
    x0, x1, y0, y1 = data.bounds
    layout = {"height": 440, "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
              "legend": {"orientation": "h", "y": -0.08}, "uirevision": "boundary",
              "xaxis": {"range": [x0, x1], "constrain": "domain", "showgrid": False, "zeroline": False},
              "yaxis": {"range": [y0, y1], "autorange": False, "scaleanchor": "x", "constrain": "domain",
                        "showgrid": False, "zeroline": False}}
    return _figure(traces, layout)


def _scaled(maps: np.ndarray, center: float, span: float | None) -> np.ndarray:
    """Each unit's values mapped to [−1, 1] around ``center`` (by its own largest deviation when no span)."""
    shifted = maps - center
    if span is None:
        span_per_unit = np.abs(shifted).reshape(len(maps), -1).max(1)
        return shifted / np.maximum(span_per_unit, 1e-9)[:, None, None]
    return np.clip(shifted / span, -1, 1)


def hidden_units_canvas(layer_maps: list[np.ndarray], center: float = 0.0, span: float | None = None
                        ) -> np.ndarray:
    """Every unit's picture scaled to [−1, 1], tiled one row per layer with NaN gaps (y upwards in each tile)."""
    r, gap = layer_maps[0].shape[-1], STYLE["gap"]
    widest = max(len(m) for m in layer_maps)
    canvas = np.full((len(layer_maps) * (r + gap) - gap, widest * (r + gap) - gap), np.nan)
    for layer, maps in enumerate(layer_maps):
        for unit, tile in enumerate(_scaled(maps, center, span)):
            top, left = layer * (r + gap), unit * (r + gap)
            canvas[top:top + r, left:left + r] = tile[::-1]  # the canvas's rows go down; the plane's y goes up
    return canvas


def hidden_units_figure(layer_maps: list[np.ndarray], center: float = 0.0, span: float | None = None
                        ) -> go.Figure:
    """Every hidden unit's output over the plane as one small picture: one row per hidden layer.

    One picture with blank gaps between the tiles (one trace instead of one subplot per unit keeps it cheap).
    ``layer_maps``: one (units, r, r) array per layer (``Playground.hidden_maps``); ``center`` is drawn white,
    ``span`` is the activation's half-range (None = each unit by its own largest value, for ReLU).
    """
    if not layer_maps:
        return _figure([], {"height": 60, "annotations": [{"text": "No hidden layer: a linear model",
                                                                "showarrow": False}]})
    canvas = hidden_units_canvas(layer_maps, center, span)
    r, step = layer_maps[0].shape[-1], layer_maps[0].shape[-1] + STYLE["gap"]
    widest, depth = max(len(m) for m in layer_maps), len(layer_maps)
    trace = {"type": "image", "source": png_source(colorize(canvas, -1, 1)), "x0": 0, "dx": 1, "y0": 0, "dy": 1,
             "zsmooth": "fast", "hoverinfo": "skip"}
    layout = {"height": 80 * depth + 40, "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
              "plot_bgcolor": "rgba(0,0,0,0)",
              "xaxis": {"tickmode": "array", "tickvals": [u * step + (r - 1) / 2 for u in range(widest)],
                        "ticktext": [f"unit {u + 1}" for u in range(widest)], "showgrid": False, "zeroline": False,
                        "constrain": "domain"},
              "yaxis": {"tickmode": "array", "tickvals": [i * step + (r - 1) / 2 for i in range(depth)],
                        "ticktext": [f"layer {i + 1}" for i in range(depth)], "autorange": "reversed",
                        "scaleanchor": "x", "showgrid": False, "zeroline": False, "constrain": "domain"}}
    return _figure([trace], layout)


def loss_curves_figure(history: History, log_y: bool = True, limit: int = 400) -> go.Figure:
    """Train and test loss against the step, each in its own colour (at most about ``limit`` points each)."""
    index = thin(len(history.step), limit)
    steps = np.asarray(history.step)[index]
    traces = []
    for name in ("train", "test"):
        values = np.asarray(getattr(history, f"{name}_loss"), dtype=np.float64)[index]
        if log_y:
            values = np.where(values > 0, values, np.nan)  # a log axis cannot show 0
        traces.append({"type": "scatter", "mode": "lines", "name": f"{name} loss", "x": steps, "y": values,
                       "line": {"color": STYLE[name], "width": 2}})
    layout = {"height": 260, "margin": {"l": 10, "r": 10, "t": 10, "b": 10}, "uirevision": "loss",
              "legend": {"orientation": "h", "y": 1.12}, "xaxis": {"title": {"text": "step"}},
              "yaxis": {"title": {"text": "loss"}, "type": "log" if log_y else "linear"}}
    return _figure(traces, layout)
