"""Pure Plotly figure builders for training: data in, ``go.Figure`` out (no I/O, no Streamlit)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

RAW_COLOR = "rgba(99, 110, 250, 0.30)"
SMOOTH_COLOR = "rgb(99, 110, 250)"
VAL_COLOR = "rgb(239, 85, 59)"
TRAIN_COLOR = "rgb(0, 160, 120)"


def smooth(values: Sequence[float], weight: float = 0.9) -> list[float]:
    """TensorBoard-style exponential moving average, debiased so the first points are not dragged to 0."""
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**i))
    return out


def training_curves(snapshot: dict[str, Any], title: str = "") -> go.Figure:
    """Loss per step (raw + smoothed) and per epoch, validation accuracy, learning rate.

    ``snapshot`` is ``LiveState.snapshot()`` (or the same keys rebuilt from a run's metrics.csv).
    """
    fig = make_subplots(rows=1, cols=3, subplot_titles=("Loss", "Accuracy", "Learning rate"),
                        horizontal_spacing=0.07)
    steps = snapshot.get("steps") or []
    epochs = snapshot.get("epochs") or []
    steps_per_epoch = max(snapshot.get("steps_per_epoch") or 0, 1)
    if steps:
        x = [s[0] for s in steps]
        loss = [s[1] for s in steps]
        fig.add_trace(go.Scatter(x=x, y=loss, name="train loss (step)", mode="lines",
                                 line={"color": RAW_COLOR, "width": 1}), 1, 1)
        fig.add_trace(go.Scatter(x=x, y=smooth(loss), name="train loss (smoothed)", mode="lines",
                                 line={"color": SMOOTH_COLOR, "width": 2}), 1, 1)
        fig.add_trace(go.Scatter(x=x, y=smooth([s[2] for s in steps]), name="train acc (smoothed)",
                                 mode="lines", line={"color": SMOOTH_COLOR, "width": 2}), 1, 2)
    # Epoch points sit at the step where the epoch ended, so both scales share one x axis.
    def epoch_series(key):
        pts = [(e["epoch"] * steps_per_epoch, e[key]) for e in epochs if e.get(key) is not None]
        return [p[0] for p in pts], [p[1] for p in pts]

    for key, name, color, col in [("train_loss", "train loss (epoch)", TRAIN_COLOR, 1),
                                  ("val_loss", "val loss", VAL_COLOR, 1),
                                  ("train_acc", "train acc (epoch)", TRAIN_COLOR, 2),
                                  ("val_acc", "val acc", VAL_COLOR, 2)]:
        x, y = epoch_series(key)
        if x:
            fig.add_trace(go.Scatter(x=x, y=y, name=name, mode="lines+markers",
                                     line={"color": color, "width": 2}), 1, col)
    x, y = epoch_series("lr")
    if x:
        fig.add_trace(go.Scatter(x=x, y=y, name="learning rate", mode="lines+markers",
                                 line={"color": "gray", "shape": "hv"}), 1, 3)
    for col in (1, 2, 3):
        fig.update_xaxes(title_text="step", row=1, col=col)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_yaxes(tickformat=".1e", rangemode="tozero", row=1, col=3)  # learning rates are small numbers
    fig.update_layout(height=340, margin={"l": 40, "r": 10, "t": 40 if not title else 70, "b": 40},
                      title=title or None, legend={"orientation": "h", "y": -0.25},
                      uirevision="keep")  # keeps the user's zoom while the chart updates
    return fig


def overlay_curves(runs: dict[str, Any], metric: str = "val_acc") -> go.Figure:
    """One line per run of ``metric`` against epoch; ``runs`` maps a label to a metrics DataFrame."""
    fig = go.Figure()
    for label, df in runs.items():
        if df is None or metric not in getattr(df, "columns", []):
            continue
        rows = df.dropna(subset=[metric])
        if rows.empty:
            continue
        fig.add_trace(go.Scatter(x=rows["epoch"] + 1, y=rows[metric], name=label, mode="lines+markers"))
    fig.update_layout(xaxis_title="epoch", yaxis_title=metric, height=360, xaxis={"dtick": 1},
                      margin={"l": 40, "r": 10, "t": 30, "b": 40}, legend={"orientation": "h", "y": -0.25})
    return fig


def parameter_bars(rows: Sequence[Any]) -> go.Figure:
    """Parameters per layer (rows of ``models.summary``), to show where the parameters live."""
    rows = [r for r in rows if r.params]
    total = sum(r.params for r in rows) or 1
    fig = go.Figure(go.Bar(
        x=[r.name for r in rows], y=[r.params for r in rows],
        text=[f"{r.params:,} ({100 * r.params / total:.1f}%)" for r in rows], textposition="outside",
        marker_color=SMOOTH_COLOR,
    ))
    fig.update_layout(yaxis_title="parameters", height=300, margin={"l": 40, "r": 10, "t": 20, "b": 40})
    return fig


def class_counts(classes: Sequence[str], counts: Sequence[int], title: str = "Images per class") -> go.Figure:
    fig = go.Figure(go.Bar(x=list(classes), y=list(counts), marker_color=TRAIN_COLOR))
    fig.update_layout(title=title, height=260, margin={"l": 40, "r": 10, "t": 40, "b": 40})
    return fig


def to_display(images: torch.Tensor, size: int = 84) -> list[np.ndarray]:
    """uint8 or [0,1] float (N, C, H, W) → list of H×W(×3) uint8 arrays upscaled (nearest) to about ``size`` px.

    Nearest-neighbour keeps the pixels visible, which is the point for 8×8 to 32×32 images.
    """
    if images.dtype != torch.uint8:
        images = (images.clamp(0, 1) * 255).round().to(torch.uint8)
    _, c, h, w = images.shape
    factor = max(1, size // max(h, w))
    big = images.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)
    arrays = big.permute(0, 2, 3, 1).cpu().numpy()  # (N, H, W, C)
    return [a[..., 0] if c == 1 else a for a in arrays]
