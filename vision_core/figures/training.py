"""Pure Plotly figure builders for training: data in, ``go.Figure`` out (no I/O, no Streamlit)."""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

from vision_core.figures.text import plotly_text

if TYPE_CHECKING:
    import torch

# Train is blue, validation orange, in every panel (a colour-blind-safe pair); raw steps are a faint train blue.
TRAIN_COLOR = "rgb(31, 119, 180)"
TRAIN_RAW_COLOR = "rgba(31, 119, 180, 0.30)"
VAL_COLOR = "rgb(255, 127, 14)"
LR_COLOR = "rgb(110, 110, 110)"
MAX_POINTS = 500  # per displayed trace: about one point per pixel of a third of a wide chart
# Smooth lines and per-epoch series need fewer points to look the same; every point is ~11 bytes on the
# wire to every viewer, about once a second: a long run's chart stays under 30 KB per update.
SMOOTH_POINTS = 250
EPOCH_POINTS = 200

def smooth(values: Sequence[float], weight: float = 0.9) -> np.ndarray:
    """TensorBoard-style exponential moving average, debiased so the first points are not dragged to 0.

    Example: ``smooth([1.0, 0.0], 0.5)`` → ``array([1.0, 0.3333])``. Vectorised: 20,000 points in well under 1 ms.
    """
    v = np.asarray(values, dtype=np.float64)
    if not 0 <= weight < 1:
        raise ValueError(f"weight must be in [0, 1), got {weight}")
    n = len(v)
    if n == 0 or weight == 0:
        return v.copy()
    # Blocks short enough that weight**-block stays below 1e6 (no precision lost), all blocks at once; only the
    # carry from one block into the next is a Python loop (n / block iterations).
    block = int(min(256, max(1, 6 * math.log(10) / -math.log(weight))))
    k = np.arange(block)
    blocks = np.concatenate([v, np.zeros(-n % block)]).reshape(-1, block)  # (B, block)
    inner = (1 - weight) * weight**k * np.cumsum(blocks * weight**-k, axis=1)  # each block's EMA, started at 0
    carries, carry, decay = np.empty(len(blocks)), 0.0, weight**block
    for b, last in enumerate(inner[:, -1]):
        carries[b] = carry
        carry = decay * carry + last
    average = (inner + np.outer(carries, weight ** (k + 1))).ravel()[:n]
    return average / (1 - weight ** np.arange(1, n + 1))


def downsample(x: Sequence[float], y: Sequence[float], max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points of the line (x, y) for display, in their order: the first and the last
    point, and the lowest and the highest point of each of ``(max_points - 2) // 2`` equal x-ranges ("pixel
    buckets") between them. Spikes survive (a mean or a stride would hide them); the input is not changed.

    Example: ``downsample(range(20_000), losses)`` → two arrays of at most 500 points.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D and of one length, got shapes {x.shape} and {y.shape}")
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4 (first, last, one bucket's min and max), got {max_points}")
    n = len(x)
    if n <= max_points:
        return x, y
    buckets = (max_points - 2) // 2
    inner_x, inner_y = x[1:-1], y[1:-1]
    span = x[-1] - x[0]
    if span > 0 and np.all(np.diff(x) >= 0):  # bucket b: the points with x in [x0 + b·span/buckets, ...)
        starts = np.searchsorted(inner_x, x[0] + span * np.arange(buckets) / buckets)
    else:  # not sorted by x: equal counts instead
        starts = np.arange(buckets) * len(inner_x) // buckets
    starts = np.unique(starts[starts < len(inner_x)])  # empty buckets dropped
    sizes = np.diff(np.r_[starts, len(inner_x)])
    bucket = np.repeat(np.arange(len(starts)), sizes)  # bucket of every inner point
    keep = [np.array([0, n - 1])]
    for reduce in (np.minimum, np.maximum):  # the first point reaching each bucket's min, then its max
        hits = np.flatnonzero(inner_y == reduce.reduceat(inner_y, starts)[bucket])
        first = np.r_[True, bucket[hits][1:] != bucket[hits][:-1]]
        keep.append(hits[first] + 1)
    keep = np.unique(np.concatenate(keep))
    return x[keep], y[keep]


def _display_line(x: Sequence[float], y: Sequence[float], max_points: int = MAX_POINTS
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Finite points only, downsampled; x as int32 when it is whole steps, y as float32 (~7 digits): a small,
    binary-encoded JSON payload."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = downsample(x[finite], y[finite], max_points)
    if len(x) and np.all(x == np.round(x)) and np.abs(x).max() < 2**31:
        return x.astype(np.int32), y.astype(np.float32)
    return x.astype(np.float32), y.astype(np.float32)


# ---- the training chart: three panels laid out once (make_subplots per call was most of its build time) ----

_GAP = 0.07
_WIDTH = (1 - 2 * _GAP) / 3
_DOMAINS = [(0.0, _WIDTH), (_WIDTH + _GAP, 2 * _WIDTH + _GAP), (1 - _WIDTH, 1.0)]
PANELS = ("Loss", "Accuracy", "Learning rate")
_CURVES_LAYOUT: dict[str, Any] = {
    "height": 340,
    "legend": {"orientation": "h", "y": -0.25},
    "uirevision": "keep",  # keeps the user's zoom while the chart updates
    "annotations": [{"text": name, "x": (a + b) / 2, "y": 1.0, "xref": "paper", "yref": "paper",
                     "xanchor": "center", "yanchor": "bottom", "showarrow": False, "font": {"size": 16}}
                    for name, (a, b) in zip(PANELS, _DOMAINS)],
    "yaxis2": {"anchor": "x2", "range": [0, 1.02], "tickformat": ".0%"},
    "yaxis3": {"anchor": "x3", "tickformat": ".1e", "rangemode": "tozero"},  # learning rates are small numbers
}
for _i, (_a, _b) in enumerate(_DOMAINS, start=1):
    _suffix = "" if _i == 1 else str(_i)
    _CURVES_LAYOUT[f"xaxis{_suffix}"] = {"domain": [_a, _b], "anchor": f"y{_suffix}", "title": {"text": "step"},
                                         **({"matches": "x"} if _i > 1 else {})}  # zoom one panel, zoom all
    _CURVES_LAYOUT.setdefault(f"yaxis{_suffix}", {"anchor": f"x{_suffix}"})

_EMPTY_TEXT = {
    "queued": "Queued: the curves appear with the first training step.",
    "running": "Starting: the curves appear with the first training step.",
    "paused": "Paused before the first step: the curves appear with the first training step.",
}


def _empty_curves(snapshot: dict[str, Any], title: str) -> go.Figure:
    """No step yet: one sentence instead of three empty panels with meaningless axes."""
    text = _EMPTY_TEXT.get(snapshot.get("status") or "", "No training metrics were recorded for this run.")
    return go.Figure(layout={
        "height": 140, "title": title or None, "xaxis": {"visible": False}, "yaxis": {"visible": False},
        "margin": {"l": 10, "r": 10, "t": 50 if title else 10, "b": 10},
        "annotations": [{"text": text, "x": 0.5, "y": 0.5, "xref": "paper", "yref": "paper", "showarrow": False,
                         "font": {"size": 15}}],
    })


def _lr_line(epochs: list[dict[str, Any]], steps_per_epoch: int, current_lr: float | None,
             last_step: int) -> tuple[list[float], list[float]]:
    """The learning rate as a step function from step 0: each epoch's rate from where that epoch started,
    then the current rate (``snapshot["lr"]``) up to the newest step."""
    known = [e for e in epochs if e.get("lr") is not None]
    xs = [(e["epoch"] - 1) * steps_per_epoch for e in known]
    ys = [float(e["lr"]) for e in known]
    end = known[-1]["epoch"] * steps_per_epoch if known else 0
    if current_lr is not None and (not known or last_step > end):
        xs.append(end)
        ys.append(float(current_lr))
    if xs:
        xs.append(max(last_step, end))  # drawn with shape "hv": the last rate holds to the newest step
        ys.append(ys[-1])
    return xs, ys


def _lr_history_line(history, last_step: int) -> tuple[list[float], list[float]] | None:
    """The learning rate from a live run's ``lr_history`` [(step, lr)]: every change where it happened
    (the schedule at epoch starts, a change by hand mid-epoch), held to the newest step. None without one."""
    points = [(float(p[0]), float(p[1])) for p in history or [] if isinstance(p, (list, tuple)) and len(p) == 2]
    if not points:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    xs.append(max(float(last_step), xs[-1]))
    ys.append(ys[-1])
    return xs, ys


def training_curves(snapshot: dict[str, Any], title: str = "") -> go.Figure:
    """Loss (each step, smoothed, per epoch), accuracy (smoothed, per epoch) and learning rate, against step.

    ``snapshot`` is ``LiveState.snapshot()`` (or the same keys rebuilt from a run's metrics.csv): ``steps``
    [(step, loss, acc)], ``epochs`` [{"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"}],
    ``steps_per_epoch``, ``status``, optionally ``step`` and ``lr`` (the rate in use now). Train is blue and
    validation orange in every panel; every trace is downsampled for display (the snapshot is not changed):
    each step's loss to ``MAX_POINTS`` points, smoothed lines to ``SMOOTH_POINTS``, per-epoch series and the
    learning rate to ``EPOCH_POINTS``. Without any step yet: a one-line figure saying why (queued, starting).
    """
    steps = snapshot.get("steps") or []
    epochs = snapshot.get("epochs") or []
    metric_keys = ("train_loss", "train_acc", "val_loss", "val_acc")
    if not steps and not any(e.get(k) is not None for e in epochs for k in metric_keys):
        return _empty_curves(snapshot, title)
    steps_per_epoch = max(snapshot.get("steps_per_epoch") or 0, 1)
    traces: list[dict[str, Any]] = []
    shown_groups: set[str] = set()

    def line(x, y, name: str, group: str, panel: int, color: str, mode: str = "lines",
             max_points: int = EPOCH_POINTS, **style: Any) -> None:
        x, y = _display_line(x, y, max_points)
        if not len(x):
            return
        suffix = "" if panel == 1 else str(panel)
        traces.append({"type": "scatter", "x": x, "y": y, "name": name, "legendgroup": group, "mode": mode,
                       "showlegend": group not in shown_groups, "xaxis": f"x{suffix}", "yaxis": f"y{suffix}",
                       "line": {"color": color, **style.pop("line", {})}, **style})
        shown_groups.add(group)  # one legend entry per kind: clicking it hides that kind in every panel

    last_step = int(snapshot.get("step") or 0)
    if steps:
        table = np.fromiter(itertools.chain.from_iterable(steps), dtype=np.float64,
                            count=3 * len(steps)).reshape(-1, 3)  # (N, 3): step, loss, acc
        x, loss, acc = table.T
        last_step = max(last_step, int(x[-1]))
        finite = np.isfinite(loss)
        line(x, loss, "train, each step", "train_raw", 1, TRAIN_RAW_COLOR, max_points=MAX_POINTS,
             line={"width": 1})
        line(x[finite], smooth(loss[finite]), "train (smoothed)", "train", 1, TRAIN_COLOR,
             max_points=SMOOTH_POINTS, line={"width": 2})
        finite = np.isfinite(acc)
        line(x[finite], smooth(acc[finite]), "train (smoothed)", "train", 2, TRAIN_COLOR,
             max_points=SMOOTH_POINTS, line={"width": 2})

    # Epoch points sit at the step where the epoch ended, so both scales share one x axis; a stopped run's
    # partial last epoch ended at its last step, not where a whole epoch would have.
    def epoch_series(key: str) -> tuple[list[float], list[float]]:
        def end(epoch: int) -> int:
            return min(epoch * steps_per_epoch, last_step) if last_step else epoch * steps_per_epoch

        pts = [(end(e["epoch"]), e[key]) for e in epochs if e.get(key) is not None]
        return [p[0] for p in pts], [p[1] for p in pts]

    marker = {"size": 7}
    line(*epoch_series("train_loss"), "train (epoch average)", "train_epoch", 1, TRAIN_COLOR, "markers",
         marker={**marker, "symbol": "circle-open", "color": TRAIN_COLOR})
    line(*epoch_series("val_loss"), "validation", "val", 1, VAL_COLOR, "lines+markers", marker=marker,
         line={"width": 2})
    line(*epoch_series("train_acc"), "train (epoch average)", "train_epoch", 2, TRAIN_COLOR, "markers",
         marker={**marker, "symbol": "circle-open", "color": TRAIN_COLOR})
    line(*epoch_series("val_acc"), "validation", "val", 2, VAL_COLOR, "lines+markers", marker=marker,
         line={"width": 2})
    lr_xy = _lr_history_line(snapshot.get("lr_history"), last_step) or _lr_line(
        epochs, steps_per_epoch, snapshot.get("lr"), last_step)
    line(*lr_xy, "learning rate", "lr", 3, LR_COLOR,
         line={"shape": "hv", "width": 2})

    layout = copy.deepcopy(_CURVES_LAYOUT)
    layout["margin"] = {"l": 40, "r": 10, "t": 70 if title else 40, "b": 40}
    if title:
        layout["title"] = {"text": plotly_text(title)}
    # Plotly's per-property validation was most of the build time; these dicts are fixed above and checked
    # once by tests/core/test_figures.py (a validating go.Figure of the result gives the same JSON).
    return go.Figure(data=traces, layout=layout, _validate=False)


def overlay_curves(runs: dict[str, Any], metric: str = "val_acc") -> go.Figure:
    """One line per run of ``metric`` against epoch; ``runs`` maps a label to a metrics DataFrame."""
    fig = go.Figure()
    for label, df in runs.items():
        if df is None or metric not in getattr(df, "columns", []):
            continue
        rows = df.dropna(subset=[metric])
        if rows.empty:
            continue
        fig.add_trace(go.Scatter(x=rows["epoch"] + 1, y=rows[metric], name=plotly_text(label), mode="lines+markers"))
    fig.update_layout(xaxis_title="epoch", yaxis_title=metric, height=360, xaxis={"dtick": 1},
                      margin={"l": 40, "r": 10, "t": 30, "b": 40}, legend={"orientation": "h", "y": -0.25})
    return fig


def short_count(n: int) -> str:
    """A parameter count short enough for a bar label: 61,706 → '61.7 k', 2,147,505,158 → '2.15 B'."""
    if abs(n) < 10_000:
        return f"{n:,}"
    power = min((len(str(abs(int(n)))) - 1) // 3, 3)  # 1: k, 2: M, 3: B
    if float(f"{n / 1000**power:.3g}") >= 1000 and power < 3:
        power += 1  # 999,999 → '1 M', not '1e+03 k'
    scaled = n / 1000**power
    return f"{scaled:,.0f} B" if abs(scaled) >= 1000 else f"{scaled:.3g} {' kMB'[power]}"


def _share(part: float) -> str:
    """A layer's share of the parameters; never a rounded 0 % or 100 % for a layer that is not all or nothing."""
    if 0 < part < 0.01:
        return "<1 %"
    if 0.99 < part < 1:
        return ">99 %"
    return f"{part:.0%}".replace("%", " %")


def parameter_bars(rows: Sequence[Any]) -> go.Figure:
    """Parameters per layer (rows of ``models.summary``), to show where the parameters live.

    Horizontal bars, one row per layer from the top (as in the summary table): a layer name of any length reads
    in full, and each label ('1.05 M · 48 %') has room past its bar; the chart grows with the number of layers.
    """
    rows = [r for r in rows if r.params]
    total = sum(r.params for r in rows) or 1
    largest = max((r.params for r in rows), default=1)
    fig = go.Figure(go.Bar(
        y=[r.name for r in rows], x=[r.params for r in rows], orientation="h", marker_color=TRAIN_COLOR,
        text=[f"{short_count(r.params)} · {_share(r.params / total)}" for r in rows], textposition="outside",
        cliponaxis=False, hovertemplate="%{y}: %{x:,} parameters<extra></extra>",
    ))
    fig.update_layout(
        xaxis={"title": "parameters", "range": [0, largest * 1.6], "rangemode": "tozero"},  # room for the labels
        yaxis={"type": "category", "autorange": "reversed", "automargin": True},
        height=min(140 + 24 * len(rows), 1200), margin={"l": 10, "r": 10, "t": 10, "b": 40},
    )
    return fig


def class_counts(classes: Sequence[str], counts: Sequence[int], title: str = "Images per class") -> go.Figure:
    """Images per class. Class names are categories, every one labelled: '0'…'9' read as numbers would get
    Plotly's numeric ticks (0, 2, 4, …)."""
    fig = go.Figure(go.Bar(x=[plotly_text(c) for c in classes], y=list(counts), marker_color=TRAIN_COLOR,
                           hovertemplate="%{x}: %{y:,} images<extra></extra>"))
    xaxis: dict[str, Any] = {"type": "category"}
    if len(classes) <= 40:  # more would overlap: Plotly then labels as many as fit
        xaxis.update(tickmode="array", tickvals=[plotly_text(c) for c in classes])
    fig.update_layout(title=plotly_text(title), height=260, margin={"l": 40, "r": 10, "t": 40, "b": 40}, xaxis=xaxis)
    return fig


def to_display(images: torch.Tensor, size: int = 84) -> list[np.ndarray]:
    """uint8 or [0,1] float (N, C, H, W) → list of H×W(×3) uint8 arrays upscaled (nearest) to about ``size`` px.

    Nearest-neighbour keeps the pixels visible, which is the point for 8×8 to 32×32 images.
    """
    import torch  # here, not at the top: pages that draw only charts need not load torch

    if images.dtype != torch.uint8:
        images = (images.clamp(0, 1) * 255).round().to(torch.uint8)
    _, c, h, w = images.shape
    factor = max(1, size // max(h, w))
    big = images.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)
    arrays = big.permute(0, 2, 3, 1).cpu().numpy()  # (N, H, W, C)
    return [a[..., 0] if c == 1 else a for a in arrays]
