"""The overfitting picture: training vs validation curves of every variant of an experiment, overlaid.

Pure builder (data in, ``go.Figure`` out). One colour per variant, the same in both panels; solid = training,
dashed = validation; accuracy on the left, loss on the right; at each variant's last epoch with both
accuracies a bracket joins its two accuracy curves and says the gap in percentage points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vision_core.figures.runs import RUN_COLORS
from vision_core.figures.text import plotly_text
from vision_core.lessons.experiments import final_gap, is_number


@dataclass(frozen=True)
class VariantCurves:
    """One variant: its legend label and its per-epoch records (``live.json``'s ``epochs`` list)."""

    label: str
    epochs: list[dict]


def _series(epochs: Sequence[dict], key: str) -> tuple[list[int], list[float]]:
    points = [(int(e["epoch"]), float(e[key])) for e in epochs
              if isinstance(e, dict) and is_number(e.get(key)) and is_number(e.get("epoch"))]
    return [p[0] for p in points], [p[1] for p in points]


# The gap labels sit beside their brackets, at least this share of the accuracy axis apart: a label is about
# 20 px tall and the panel about 260 px, so two variants whose gaps end at the same height never overlap.
LABEL_SPACING = 0.1


def spread(wanted: Sequence[float], spacing: float, low: float, high: float) -> list[float]:
    """Heights as close to ``wanted`` as possible, at least ``spacing`` apart, inside [low, high] when they fit.

    Example: ``spread([0.5, 0.51], 0.1, 0, 1)`` → ``[0.5, 0.61]`` (up to rounding): the second moves up.
    """
    order = sorted(range(len(wanted)), key=lambda i: wanted[i])
    placed: dict[int, float] = {}
    previous = -math.inf
    for i in order:  # upwards, each at least ``spacing`` above the one below
        placed[i] = max(wanted[i], previous + spacing, low)
        previous = placed[i]
    overflow = previous - high
    if overflow > 0:  # the top one is past the axis: move the whole column down (no lower than ``low``)
        room = min(placed.values()) - low
        for i in placed:
            placed[i] -= min(overflow, max(room, 0))
    return [placed[i] for i in range(len(wanted))]


def overfitting_figure(curves: Sequence[VariantCurves], height: int = 440) -> go.Figure:
    """Training (solid) and validation (dashed) accuracy and loss per epoch of every variant, with the gaps.

    Example: ``overfitting_figure([VariantCurves("dropout 0", [{"epoch": 1, "train_acc": 0.9, "val_acc": 0.7}])])``.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Accuracy", "Loss"), horizontal_spacing=0.08)
    accuracies: list[float] = []
    gaps = []
    for index, variant in enumerate(curves):
        color = RUN_COLORS[index % len(RUN_COLORS)]
        label = plotly_text(variant.label)  # a run name: from a student
        for col, metric in ((1, "acc"), (2, "loss")):
            for split, dash, name in (("train", "solid", "training"), ("val", "dash", "validation")):
                x, y = _series(variant.epochs, f"{split}_{metric}")
                if metric == "acc":
                    accuracies += y
                fig.add_trace(go.Scatter(
                    x=x, y=y, mode="lines+markers" if len(x) < 2 else "lines",
                    name=f"{label} · {name}", legendgroup=label, showlegend=col == 1,
                    line={"color": color, "dash": dash, "width": 2.5 if split == "train" else 2},
                    hovertemplate=f"{label}<br>{name} {'accuracy' if metric == 'acc' else 'loss'}: "
                                  + ("%{y:.1%}" if metric == "acc" else "%{y:.4f}") + "<br>epoch %{x}<extra></extra>",
                ), row=1, col=col)
        gap = final_gap(variant.epochs)
        if gap is not None:
            fig.add_trace(go.Scatter(  # the bracket: a vertical segment between the two accuracies
                x=[gap.epoch, gap.epoch], y=[gap.train_acc, gap.val_acc], mode="lines+markers",
                line={"color": color, "width": 1.5}, marker={"symbol": "line-ew-open", "size": 10, "color": color},
                legendgroup=label, showlegend=False, hoverinfo="skip", name=f"{label} · gap",
            ), row=1, col=1)
            gaps.append((gap, color))
    epochs = [int(e["epoch"]) for v in curves for e in v.epochs if isinstance(e, dict) and is_number(e.get("epoch"))]
    first, last = min(epochs, default=1), max(epochs, default=1)
    fig.update_xaxes(title_text="epoch", dtick=max(1, math.ceil(last / 10)))  # whole epochs only
    fig.update_yaxes(title_text="accuracy", tickformat=".0%", row=1, col=1)
    fig.update_yaxes(title_text="loss", row=1, col=2)
    if gaps:
        # A fixed accuracy axis, so the labels can be spaced in its units; room on the right for them.
        low, high = min(accuracies), max(accuracies)
        pad = 0.06 * max(high - low, 0.1)
        low, high = max(low - pad, 0.0), min(high + pad, 1.02)
        heights = spread([(g.train_acc + g.val_acc) / 2 for g, _ in gaps], LABEL_SPACING * (high - low),
                         low + 0.04 * (high - low), high - 0.04 * (high - low))
        room = max(1.5, 0.45 * (last - first + 1))  # a label is about a fifth of the panel's width
        for (gap, color), y in zip(gaps, heights):
            # A thin line from the bracket's middle to its label, which may have moved to keep clear of another.
            fig.add_annotation(x=gap.epoch, y=(gap.train_acc + gap.val_acc) / 2, xref="x", yref="y",
                               ax=gap.epoch + 0.15 * room, ay=y, axref="x", ayref="y", showarrow=True,
                               arrowhead=0, arrowwidth=1, arrowcolor=color, xanchor="left",
                               text=f"gap {gap.gap * 100:+.1f} pts", font={"color": color, "size": 12},
                               bgcolor="rgba(255,255,255,0.85)", name="gap label")
        fig.update_yaxes(range=[low, high], row=1, col=1)
        step = max(1, math.ceil(last / 10))  # ticks on the epochs only, not on the room for the labels
        fig.update_xaxes(range=[first - 0.3, last + room], tickvals=list(range(first, last + 1, step)), row=1, col=1)
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10}, hovermode="closest",
                      legend={"orientation": "h", "yanchor": "top", "y": -0.18, "xanchor": "left", "x": 0})
    return fig
