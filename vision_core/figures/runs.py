"""Comparing runs as people do in TensorBoard / W&B: pure builders for the Runs page (data in, figure or table out).

One colour per run, the same in every chart of the page; the legend names each run by what tells it apart
from the others (its name, then the hyper-parameters that differ); an exponential-moving-average smoothing
over a faint raw line; step / epoch / time on the x-axis; a log scale; and the curves as a CSV table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from vision_core.figures.text import plotly_text
from vision_core.figures.training import downsample, smooth

# Plotly's D3 palette without its grey (kept for the learning rate elsewhere): ten runs stay apart.
RUN_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
              "#393b79")
X_AXES = {"step": "training step", "epoch": "epoch", "time": "training time (s)"}

# The names metrics.csv uses (Lightning's) → what a student reads.
METRIC_LABELS = {
    "val_acc": "validation accuracy",
    "val_loss": "validation loss",
    "train_loss_step": "training loss (each step)",
    "train_loss_epoch": "training loss (epoch mean)",
    "train_acc": "training accuracy",
    "train_acc_epoch": "training accuracy",
    "lr": "learning rate",
    "test_acc": "test accuracy",
    "test_loss": "test loss",
}
_NOT_METRICS = ("step", "epoch", "time", "test_acc", "test_loss")  # axes, and one-point test results

# Hyper-parameters a legend may use to tell runs apart, in the order they are tried, with short names.
_LEGEND_KEYS = {"model": "", "dataset": "", "optimizer": "", "lr": "lr", "batch_size": "batch",
                "epochs": "epochs", "weight_decay": "wd", "momentum": "momentum", "scheduler": "sched",
                "augment": "aug", "model_options": "", "seed": "seed"}


def metric_label(name: str) -> str:
    """``val_acc`` → 'validation accuracy'; unknown names get their underscores spelled out."""
    if name in METRIC_LABELS:
        return METRIC_LABELS[name]
    words = name.replace("_", " ").split()
    spelled = {"val": "validation", "acc": "accuracy", "lr": "learning rate", "train": "training"}
    return " ".join(spelled.get(w, w) for w in words)


@dataclass
class RunCurves:
    """What the comparison needs from one run: an id, the legend label, its metrics.csv (numbers only)."""

    run_id: str
    label: str
    metrics: pd.DataFrame
    train_seconds: float | None = None  # from summary.json: puts a time axis on runs whose log has no time column


def plot_metrics(curves: Sequence[RunCurves]) -> list[str]:
    """The metric columns at least one run has a value for, the usual ones first."""
    present: list[str] = []
    for c in curves:
        for col in c.metrics.columns:
            if col not in _NOT_METRICS and col not in present and c.metrics[col].notna().any():
                present.append(col)
    order = list(METRIC_LABELS)
    return sorted(present, key=lambda m: (order.index(m) if m in order else len(order), m))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return ",".join(f"{k}={_fmt(v)}" for k, v in sorted(value.items())) or "none"
    return str(value)


def run_labels(configs: dict[str, dict[str, Any]], names: dict[str, str] | None = None,
               max_keys: int = 3) -> dict[str, str]:
    """A legend label per run id that tells the runs apart.

    The run's chosen name when it has one, else its model; then up to ``max_keys`` hyper-parameters whose
    values differ between the runs; the end of the run id when two labels would still be the same.
    Example: two LeNets at lr 0.01 and 0.001 → ``{"a": "lenet · lr 0.01", "b": "lenet · lr 0.001"}``.
    """
    names = names or {}
    differing = [k for k in _LEGEND_KEYS
                 if len({_fmt(c.get(k)) for c in configs.values()}) > 1][:max_keys]
    labels = {}
    for run_id, config in configs.items():
        head = names.get(run_id) or str(config.get("model", run_id))
        parts = [head]
        for key in differing:
            if key == "model" and not names.get(run_id):
                continue  # already the head
            short = _LEGEND_KEYS[key]
            parts.append(f"{short} {_fmt(config.get(key))}" if short else _fmt(config.get(key)))
        labels[run_id] = " · ".join(parts)
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    return {rid: (f"{label} · {rid[-4:]}" if counts[label] > 1 else label) for rid, label in labels.items()}


def started_text(when: datetime | None, now: datetime) -> str:
    """When a run started, as a class reads it on the Runs page: ``14:03:12 today``, ``09:15:40 yesterday``,
    ``3 Dec 14:03`` (``3 Dec 2025 14:03`` another year); '–' when unknown. Both times are the server's clock: the
    server does not know the viewer's time zone, and the page says so."""
    if when is None:
        return "–"
    if when.date() == now.date():
        return f"{when:%H:%M:%S} today"
    if when.date() == (now - timedelta(days=1)).date():
        return f"{when:%H:%M:%S} yesterday"
    day = f"{when.day} {when:%b}" + ("" if when.year == now.year else f" {when.year}")
    return f"{day} {when:%H:%M}"


# The labelled ticks of a log axis are round numbers, the roundest first (powers of ten, then 2 and 5, …), each
# kept only when it is far enough (in log units) from those already kept: a loss from 2.3 to 0.05 reads
# 0.05 0.1 0.2 0.5 1 2, never Plotly's "2 … 0.1 9 8 7", and no two labels crowd the top of a decade.
_LOG_MANTISSAS = ((1,), (2, 5), (3,), (1.5, 4, 6, 8), (1.2, 2.5, 7, 9))
LOG_MAX_TICKS = 8


def log_ticks(low: float, high: float) -> list[float] | None:
    """Tick values for a log axis showing [low, high] (both > 0): round numbers, at least a seventh of the axis
    apart, at most LOG_MAX_TICKS of them.

    None when fewer than two round numbers fall in the range (Plotly's own ticks are then fine).
    Example: ``log_ticks(0.05, 2.3)`` → ``[0.05, 0.1, 0.2, 0.5, 1.0, 2.0]``.
    """
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 or high <= low:
        return None
    spacing = math.log10(high / low) / (LOG_MAX_TICKS - 1)
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    kept: list[float] = []
    for mantissas in _LOG_MANTISSAS:
        for value in sorted(float(f"{m * 10.0 ** e:.12g}") for e in range(first, last + 1) for m in mantissas):
            if low <= value <= high and len(kept) < LOG_MAX_TICKS and \
                    all(abs(math.log10(value / k)) >= spacing * 0.999 for k in kept):
                kept.append(value)
    return sorted(kept) if len(kept) >= 2 else None


def _steps_per_epoch(df: pd.DataFrame) -> float | None:
    """Steps in one epoch, from the first row that closes an epoch (Lightning logs it at the epoch's last step)."""
    if "step" not in df.columns or "epoch" not in df.columns:
        return None
    for col in ("train_loss_epoch", "train_acc", "val_loss", "val_acc"):
        if col in df.columns:
            rows = df[df[col].notna() & df["epoch"].notna()]
            if len(rows):
                first = rows.iloc[0]
                return float(first["step"] + 1) / float(first["epoch"] + 1)
    return None


def x_values(df: pd.DataFrame, x: str, train_seconds: float | None = None) -> pd.Series | None:
    """The x coordinate of every row of a run's metrics: step, epoch (fractional within an epoch) or seconds.

    Seconds come from a ``time`` column when the log has one, else from the run's training time spread
    evenly over its steps (the run's average pace). None when the run cannot give that axis.
    """
    if x not in X_AXES:
        raise ValueError(f"x must be one of {list(X_AXES)}, got {x!r}")
    if "step" not in df.columns:
        return None
    step = df["step"].astype(float)
    if x == "step":
        return step
    if x == "epoch":
        per_epoch = _steps_per_epoch(df)
        if per_epoch:
            return (step + 1) / per_epoch
        return df["epoch"] + 1 if "epoch" in df.columns else None
    if "time" in df.columns and df["time"].notna().any():
        return df["time"] - df["time"].min()
    if train_seconds and math.isfinite(train_seconds) and train_seconds > 0 and step.max() >= 0:
        return (step + 1) * train_seconds / (step.max() + 1)
    return None


def compare_curves(curves: Sequence[RunCurves], metric: str, x: str = "step", smoothing: float = 0.0,
                   log_y: bool = False) -> go.Figure:
    """One colour per run (by its place in ``curves``); smoothed line in front of a faint raw one.

    ``smoothing`` is TensorBoard's: the weight of the exponential moving average in [0, 1).
    """
    if not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    fig = go.Figure()
    missing = []
    for i, run in enumerate(curves):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        df = run.metrics
        xs = x_values(df, x, run.train_seconds) if metric in df.columns else None
        if xs is None:
            missing.append(run.label)
            continue
        keep = df[metric].notna() & xs.notna() & np.isfinite(df[metric])
        if log_y:
            keep &= df[metric] > 0
        xv, yv = xs[keep].to_numpy(float), df.loc[keep, metric].to_numpy(float)
        if len(xv) == 0:
            missing.append(run.label)
            continue
        order = np.argsort(xv, kind="stable")
        xv, yv = xv[order], yv[order]
        # The label comes from a student: it is escaped, and reaches the hover through fullData.name only.
        hover = f"%{{fullData.name}}<br>{X_AXES[x]} %{{x:.4~g}}<br>{metric_label(metric)} %{{y:.4~g}}<extra></extra>"
        if smoothing > 0 and len(yv) > 1:
            rx, ry = downsample(xv, yv)
            fig.add_trace(go.Scatter(x=rx, y=ry, mode="lines", line={"color": color, "width": 1}, opacity=0.25,
                                     legendgroup=run.run_id, showlegend=False, hoverinfo="skip"))
            sx, sy = downsample(xv, smooth(yv, smoothing))
        else:
            sx, sy = downsample(xv, yv)
        fig.add_trace(go.Scatter(x=sx, y=sy, mode="lines+markers" if len(sx) <= 30 else "lines", name=plotly_text(run.label),
                                 line={"color": color, "width": 2}, legendgroup=run.run_id,
                                 hovertemplate=hover))
    if not fig.data:
        fig.add_annotation(text=f"No selected run has {metric_label(metric)} yet", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_layout(xaxis_title=X_AXES[x], yaxis_title=metric_label(metric), height=380, hovermode="closest",
                      showlegend=True,  # even for one run: the legend names it
                      margin={"l": 50, "r": 10, "t": 30, "b": 40},
                      legend={"orientation": "h", "y": -0.22, "title": {"text": ""}})
    fig.update_yaxes(type="log" if log_y else "linear")
    drawn = [y for trace in fig.data for y in trace.y] if log_y else []
    ticks = log_ticks(min(drawn), max(drawn)) if drawn else None
    if ticks:  # round numbers, plainly written: Plotly's own log ticks read "2 … 0.1 9 8 7" over one decade
        fig.update_yaxes(tickmode="array", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    fig.layout.meta = {"missing": missing}  # runs without this metric / axis, for the page to say so
    return fig


def _safe_cell(text: str) -> str:
    # A spreadsheet runs a cell that starts with = + - @ as a formula: run names come from students.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def metrics_table(curves: Sequence[RunCurves]) -> pd.DataFrame:
    """Every selected run's metrics in one long table: run id, label, step, epoch, then one column per metric."""
    frames = []
    for run in curves:
        df = run.metrics.copy()
        df.insert(0, "run", run.label)
        df.insert(0, "run_id", run.run_id)
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["run_id", "run", "step", "epoch"])
    table = pd.concat(frames, ignore_index=True, sort=False)
    table["run"] = table["run"].map(_safe_cell)
    first = [c for c in ("run_id", "run", "step", "epoch") if c in table.columns]
    return table[first + [c for c in table.columns if c not in first]]


def metrics_csv(curves: Sequence[RunCurves]) -> bytes:
    """``metrics_table`` as UTF-8 CSV bytes, ready for a download button."""
    return metrics_table(curves).to_csv(index=False).encode("utf-8")
