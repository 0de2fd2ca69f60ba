"""Pure Plotly builder for the learning-rate range test: loss against lr (log axis), with the suggestions marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go


def range_test_curve(lrs: Sequence[float], losses: Sequence[float], smoothed: Sequence[float],
                     suggestions: Mapping[str, float | None], height: int = 360) -> go.Figure:
    """Raw losses (faint), the smoothed curve, and a dashed line per suggestion (name → lr; None is left out)."""
    fig = go.Figure([
        go.Scatter(x=list(lrs), y=list(losses), mode="lines", name="loss per batch", opacity=0.35,
                   line={"color": "#7f7f7f"}, hovertemplate="lr %{x:.2e}<br>loss %{y:.3f}<extra></extra>"),
        go.Scatter(x=list(lrs), y=list(smoothed), mode="lines", name="smoothed", line={"color": "#1f77b4", "width": 3},
                   hovertemplate="lr %{x:.2e}<br>smoothed loss %{y:.3f}<extra></extra>"),
    ])
    for (name, lr), colour in zip(suggestions.items(), ("#d62728", "#2ca02c", "#9467bd")):
        if lr is None:
            continue
        fig.add_vline(x=lr, line={"dash": "dash", "color": colour})
        fig.add_trace(go.Scatter(x=[lr], y=[min(smoothed)], mode="markers", name=f"{name}: {lr:.2g}",
                                 marker={"color": colour, "size": 10, "symbol": "diamond"},
                                 hovertemplate=f"{name}<br>lr %{{x:.2e}}<extra></extra>"))
    fig.update_layout(title="Learning-rate range test", height=height, margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      xaxis={"title": "learning rate (log scale)", "type": "log"}, yaxis_title="training loss",
                      legend={"orientation": "h", "y": -0.25})
    top = max(smoothed[0] * 1.5, min(smoothed) + 0.5) if smoothed else None  # the divergence would hide the dip
    if top is not None:
        fig.update_yaxes(range=[min(min(losses), min(smoothed)) * 0.9, top])
    return fig
