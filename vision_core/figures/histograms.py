"""Pure Plotly builders for weights and gradients over training (TensorBoard's histograms and distributions).

Data in (``analysis.histograms.Histograms`` per snapshot), ``go.Figure`` out; no I/O, no Streamlit. A layer's
histograms over the steps are one heat map: a column per snapshot, the share of the layer's parameters in each
bin as the colour, so a distribution that widens, drifts or collapses is seen at a glance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from vision_core.analysis.histograms import Histograms, grad_edges

WEIGHT_ROWS = 48  # bins of the common weight axis every snapshot is re-binned onto
HEAT_SCALE = "Viridis"
LINE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def rebin(edges: np.ndarray, counts: np.ndarray, new_edges: np.ndarray) -> np.ndarray:
    """Spread ``counts`` over ``new_edges``, each bin's count evenly over its width (a zero-width bin goes whole
    to the new bin that holds it). The total is kept. Example: ``rebin([0, 2], [4], [0, 1, 2]) == [2, 2]``."""
    edges, counts, new_edges = (np.asarray(a, dtype=float) for a in (edges, counts, new_edges))
    out = np.zeros(len(new_edges) - 1)
    for low, high, count in zip(edges[:-1], edges[1:], counts):
        if count == 0:
            continue
        if high <= low:
            out[min(max(np.searchsorted(new_edges, low, side="right") - 1, 0), len(out) - 1)] += count
            continue
        overlap = np.clip(np.minimum(new_edges[1:], high) - np.maximum(new_edges[:-1], low), 0, None)
        out += count * overlap / (high - low)
    return out


def _row(histograms: Histograms, layer: str) -> int | None:
    return histograms.layers.index(layer) if layer in histograms.layers else None


def _shares(columns: list[np.ndarray]) -> np.ndarray:
    """(bins, snapshots) shares of each column's total; a column with nothing counted stays blank (NaN)."""
    z = np.stack(columns, axis=1)
    totals = z.sum(axis=0, keepdims=True)
    return np.where(totals > 0, z / np.where(totals > 0, totals, 1), np.nan)


def _heatmap(steps: Sequence[int], centres: np.ndarray, z: np.ndarray, value_label: str, title: str,
             y_title: str, height: int) -> go.Figure:
    fig = go.Figure(go.Heatmap(
        x=list(steps), y=centres, z=z, colorscale=HEAT_SCALE, zmin=0, colorbar={"title": "share", "tickformat": ".0%"},
        hovertemplate=f"step %{{x}}<br>{value_label} %{{y:.3g}}<br>%{{z:.1%}} of the parameters<extra></extra>"))
    fig.update_layout(title=title, height=height, margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      xaxis_title="training step", yaxis_title=y_title)
    return fig


def weight_heatmap(steps: Sequence[int], snapshots: Sequence[Histograms], layer: str, height: int = 320) -> go.Figure:
    """One layer's weight histograms over the steps, all on one value axis (the widest range seen)."""
    rows = [(step, h, _row(h, layer)) for step, h in zip(steps, snapshots)]
    rows = [(step, h, r) for step, h, r in rows if r is not None]
    if not rows:
        raise ValueError(f"no snapshot has histograms for layer {layer!r}")
    low = min(float(h.weight_range[r, 0]) for _, h, r in rows)
    high = max(float(h.weight_range[r, 1]) for _, h, r in rows)
    if high <= low:
        high = low + 1e-6  # one constant value (a fresh BatchNorm scale): a thin band around it
    axis = np.linspace(low, high, WEIGHT_ROWS + 1)
    z = _shares([rebin(h.weight_edges(r).numpy(), h.weight_counts[r].numpy(), axis) for _, h, r in rows])
    return _heatmap([s for s, _, _ in rows], (axis[:-1] + axis[1:]) / 2, z, "weight",
                    f"{layer}: weights over training", "weight value", height)


def gradient_heatmap(steps: Sequence[int], snapshots: Sequence[Histograms], layer: str,
                     height: int = 320) -> go.Figure:
    """One layer's gradient magnitudes (log10 |g|) over the steps; a step without gradients stays blank."""
    rows = [(step, h, _row(h, layer)) for step, h in zip(steps, snapshots)]
    rows = [(step, h, r) for step, h, r in rows if r is not None]
    if not rows:
        raise ValueError(f"no snapshot has histograms for layer {layer!r}")
    edges = grad_edges(rows[0][1].grad_counts.shape[1]).numpy()
    z = _shares([h.grad_counts[r].numpy() for _, h, r in rows])
    return _heatmap([s for s, _, _ in rows], (edges[:-1] + edges[1:]) / 2, z, "log10 |gradient|",
                    f"{layer}: gradient magnitudes over training", "log10 |gradient|  (−6 = one millionth)", height)


def gradient_norm_lines(steps: Sequence[int], snapshots: Sequence[Histograms], height: int = 320) -> go.Figure:
    """Each layer's gradient norm over the steps, on a log axis: vanishing gradients are the lowest lines."""
    layers = list(dict.fromkeys(name for h in snapshots for name in h.layers))
    fig = go.Figure()
    for i, layer in enumerate(layers):
        xs, ys = [], []
        for step, h in zip(steps, snapshots):
            r = _row(h, layer)
            value = float(h.grad_norm[r]) if r is not None else float("nan")
            if np.isfinite(value) and value > 0:
                xs.append(step)
                ys.append(value)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=layer,
                                 line={"color": LINE_COLOURS[i % len(LINE_COLOURS)]},
                                 hovertemplate=f"{layer}<br>step %{{x}}<br>‖gradient‖ %{{y:.3g}}<extra></extra>"))
    fig.update_layout(title="Gradient norm per layer", height=height, margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      xaxis_title="training step", yaxis={"title": "‖gradient‖ (log scale)", "type": "log"})
    return fig


def gradient_norm_bars(layers: Sequence[str], norms: Mapping[str, Sequence[float]], height: int = 340) -> go.Figure:
    """Per variant (a legend entry), each layer's gradient norm as a bar, on a log axis (the lesson's picture)."""
    fig = go.Figure()
    for i, (label, values) in enumerate(norms.items()):
        fig.add_trace(go.Bar(x=list(layers), y=[float(v) for v in values], name=label,
                             marker_color=LINE_COLOURS[i % len(LINE_COLOURS)],
                             hovertemplate=f"{label}<br>%{{x}}: ‖gradient‖ %{{y:.3g}}<extra></extra>"))
    fig.update_layout(barmode="group", height=height, title="Gradient norm per layer, first step",
                      margin={"l": 60, "r": 20, "t": 50, "b": 40}, xaxis_title="layer (input → output)",
                      yaxis={"title": "‖gradient‖ (log scale)", "type": "log"})
    return fig


def loss_lines(curves: Mapping[str, tuple[Sequence[int], Sequence[float]]], height: int = 300) -> go.Figure:
    """Training loss per variant (label → (steps, losses))."""
    fig = go.Figure()
    for i, (label, (steps, losses)) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=list(steps), y=[float(v) for v in losses], mode="lines", name=label,
                                 line={"color": LINE_COLOURS[i % len(LINE_COLOURS)]}))
    fig.update_layout(title="Training loss", height=height, margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      xaxis_title="training step", yaxis_title="cross-entropy")
    return fig
