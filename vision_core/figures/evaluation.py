"""Pure Plotly figure builders for evaluation and prediction: data in, ``go.Figure`` out (no I/O, no Streamlit)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from vision_core.figures.text import plotly_text

RIGHT_COLOR = "rgb(0, 150, 70)"
WRONG_COLOR = "rgb(214, 39, 40)"
# Transparent at 0, so the picture shows through where the map is cold; opaque red where it is hot.
HEAT_SCALE = [[0.0, "rgba(0, 0, 255, 0)"], [0.25, "rgba(0, 200, 255, 0.35)"], [0.5, "rgba(0, 255, 0, 0.5)"],
              [0.75, "rgba(255, 220, 0, 0.65)"], [1.0, "rgba(255, 0, 0, 0.8)"]]
BAR_COLORS = {"precision": "rgb(99, 110, 250)", "recall": "rgb(239, 85, 59)", "f1": "rgb(0, 160, 120)"}


def _as_numpy(values) -> np.ndarray:
    return values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)


SELECTED_COLOR = "rgb(255, 127, 14)"  # orange: stands out on every shade of the blue scale


def confusion_heatmap(matrix, classes: Sequence[str], normalized: bool = False, title: str = "",
                      selected: tuple[str, str] | None = None) -> go.Figure:
    """Confusion matrix heat map: rows = true class (top to bottom), columns = predicted class.

    Plotly heat maps send no click selections to Streamlit, so an invisible square marker sits on
    every cell: clicking a cell selects that marker, whose ``point_index`` is ``truth * K + pred``
    (see ``cell_from_point_index``). ``selected`` = (true class, predicted class) gets a thick frame: the cell
    whose images the page shows below.
    """
    z = _as_numpy(matrix).astype(float)
    k = len(classes)
    if z.shape != (k, k):
        raise ValueError(f"Expected a {k}×{k} matrix for {k} classes, got shape {z.shape}")
    names = [plotly_text(c) for c in classes]  # class folder names come from students
    text = [[f"{v:.0%}" if normalized else f"{int(v)}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=names, text=text, texttemplate="%{text}", colorscale="Blues",
        zmin=0, zmax=1 if normalized else None, showscale=True, xgap=1, ygap=1, hoverinfo="skip",
    ))
    truth, pred = np.divmod(np.arange(k * k), k)
    fig.add_trace(go.Scatter(
        x=[names[p] for p in pred], y=[names[t] for t in truth], mode="markers", showlegend=False,
        marker={"symbol": "square", "size": max(8, 360 // max(k, 1)), "color": "rgba(0,0,0,0)"},
        customdata=np.stack([truth, pred], axis=1), text=[text[t][p] for t, p in zip(truth, pred)], name="cells",
        # The markers carry the hover label: a trace with hoverinfo "skip" would not receive clicks either.
        hovertemplate="truth %{y}<br>predicted %{x}<br>%{text}<br><i>click to see these images</i><extra></extra>",
    ))
    fig.update_layout(
        title=plotly_text(title) or ("Confusion matrix (share of each true class)" if normalized else "Confusion matrix (counts)"),
        xaxis={"title": "predicted class", "type": "category", "side": "bottom"},
        yaxis={"title": "true class", "type": "category", "autorange": "reversed"},
        height=max(320, 36 * k + 160), margin={"l": 60, "r": 20, "t": 50, "b": 60}, clickmode="event+select",
    )
    if selected is not None and all(str(c) in names for c in selected):
        t, p = names.index(str(selected[0])), names.index(str(selected[1]))
        # A category axis places category i at i: the cell spans i ± 0.5 on both axes (reversed y included).
        fig.add_shape(type="rect", xref="x", yref="y", x0=p - 0.5, x1=p + 0.5, y0=t - 0.5, y1=t + 0.5,
                      line={"color": SELECTED_COLOR, "width": 4}, fillcolor="rgba(0,0,0,0)", layer="above",
                      name="selected cell")
    return fig


def cell_from_point_index(point_index: int, num_classes: int) -> tuple[int, int]:
    """(truth, prediction) of the confusion cell whose marker has this index in ``confusion_heatmap``."""
    truth, pred = divmod(int(point_index), num_classes)
    if not 0 <= truth < num_classes:
        raise ValueError(f"point_index {point_index} is outside a {num_classes}×{num_classes} matrix")
    return truth, pred


def per_class_bars(table) -> go.Figure:
    """Grouped bars of precision, recall and F1 per class (``evaluation.per_class_table``)."""
    fig = go.Figure()
    for column, color in BAR_COLORS.items():
        fig.add_trace(go.Bar(x=[plotly_text(c) for c in table["class"]], y=list(table[column]), name=column,
                             marker_color=color, hovertemplate="%{x}: %{y:.1%}<extra>" + column + "</extra>"))
    fig.update_layout(barmode="group", yaxis={"range": [0, 1], "tickformat": ".0%"}, xaxis={"type": "category"}, height=320,
                      margin={"l": 40, "r": 20, "t": 30, "b": 40}, legend={"orientation": "h", "y": 1.12})
    return fig


def probability_bars(probabilities, classes: Sequence[str], top: int | None = None) -> go.Figure:
    """Horizontal bars of one image's class probabilities, the most likely class at the top and highlighted."""
    p = _as_numpy(probabilities).astype(float).reshape(-1)
    if len(p) != len(classes):
        raise ValueError(f"Got {len(p)} probabilities for {len(classes)} classes")
    order = np.argsort(-p, kind="stable")[: top or len(p)]
    colors = [RIGHT_COLOR if i == order[0] else "rgb(160, 170, 190)" for i in order]
    fig = go.Figure(go.Bar(
        x=p[order], y=[plotly_text(classes[i]) for i in order], orientation="h", marker_color=colors,
        text=[f"{v:.1%}" for v in p[order]], textposition="auto", hovertemplate="%{y}: %{x:.2%}<extra></extra>",
    ))
    fig.update_layout(xaxis={"range": [0, 1], "tickformat": ".0%", "title": "probability"},
                      yaxis={"autorange": "reversed", "type": "category"},
                      height=max(200, 28 * len(order) + 80), margin={"l": 80, "r": 20, "t": 20, "b": 40})
    return fig


def _rgb_uint8(image) -> np.ndarray:
    """(C, H, W) uint8 or float [0, 1] → (H, W, 3) uint8 for go.Image."""
    a = _as_numpy(image)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0, 1) * 255).round().astype(np.uint8)
    if a.shape[0] == 1:
        a = np.repeat(a, 3, axis=0)
    return np.ascontiguousarray(a.transpose(1, 2, 0))


def image_grid(images: Sequence, titles: Sequence[str], correct: Sequence[bool] | None = None,
               subtitles: Sequence[str] | None = None, cols: int = 3) -> go.Figure:
    """A grid of images with a title each, green when ``correct`` else red (the tutorial's prediction grid).

    ``images`` are (C, H, W) tensors (uint8 or float in [0, 1]); ``subtitles`` (e.g. the top-3
    probabilities) go under each title in small type.
    """
    n = len(images)
    if n == 0:
        return go.Figure().update_layout(height=80, annotations=[{"text": "no images", "showarrow": False}])
    if len(titles) != n or (correct is not None and len(correct) != n):
        raise ValueError(f"Got {n} images but {len(titles)} titles / {len(correct or [])} correct flags")
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    # Titles and subtitles name classes (students' folder names): escaped, around our own <br> and <sub>.
    full_titles = [f"{plotly_text(t)}<br><sub>{plotly_text(subtitles[i])}</sub>" if subtitles else plotly_text(t)
                   for i, t in enumerate(titles)]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=full_titles,
                        horizontal_spacing=0.02, vertical_spacing=0.12 / max(rows, 1) + 0.04)
    for i, image in enumerate(images):
        fig.add_trace(go.Image(z=_rgb_uint8(image), hoverinfo="skip"), row=i // cols + 1, col=i % cols + 1)
    for i, annotation in enumerate(fig.layout.annotations):
        color = None if correct is None else (RIGHT_COLOR if correct[i] else WRONG_COLOR)
        annotation.font = {"color": color, "size": 13}
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_layout(height=rows * 210 + 30, margin={"l": 10, "r": 10, "t": 60, "b": 10}, showlegend=False)
    return fig


def saliency_overlay(display, heat, title: str = "Grad-CAM") -> go.Figure:
    """The image the model saw (left) and the same image with the heat map laid over it (right)."""
    rgb = _rgb_uint8(display)
    h = _as_numpy(heat).astype(float)
    if h.shape != rgb.shape[:2]:
        raise ValueError(f"Heat map shape {h.shape} does not match the image {rgb.shape[:2]}")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("what the model sees", plotly_text(title)), horizontal_spacing=0.04)
    fig.add_trace(go.Image(z=rgb, hoverinfo="skip"), row=1, col=1)
    fig.add_trace(go.Image(z=rgb, hoverinfo="skip"), row=1, col=2)
    fig.add_trace(go.Heatmap(z=h, zmin=0, zmax=1, colorscale=HEAT_SCALE, showscale=True,
                             hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>"), row=1, col=2)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed",
                     scaleanchor="x")
    fig.update_yaxes(scaleanchor="x2", row=1, col=2)
    fig.update_layout(height=330, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig
