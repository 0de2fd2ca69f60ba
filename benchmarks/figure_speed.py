"""How much the live training chart costs: build time and JSON size of ``figures.training_curves``, before and
after issue 9.1 / 13.7 (one layout built once instead of ``make_subplots`` per call, every trace downsampled to at
most 500 points, compact number encoding), for runs of 2,000 and 20,000 step points.

Run: ``.venv/bin/python benchmarks/figure_speed.py``. Prints, per run length and version: the build time, the time
``st.plotly_chart`` spends turning the figure into JSON (``to_dict`` + ``plotly.io.to_json``), and the size of that
JSON. Best of several runs (the machine may be shared); never run by the tests.
Targets: at most 30 KB of JSON at any run length, a build of a few milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots
from streamlit.elements.lib.streamlit_plotly_theme import configure_streamlit_plotly_theme

from vision_core.figures import training as figures

RAW_COLOR = "rgba(99, 110, 250, 0.30)"
SMOOTH_COLOR = "rgb(99, 110, 250)"
VAL_COLOR = "rgb(239, 85, 59)"
TRAIN_COLOR = "rgb(0, 160, 120)"


def old_smooth(values: Sequence[float], weight: float = 0.9) -> list[float]:
    """TensorBoard-style exponential moving average, debiased so the first points are not dragged to 0."""
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**i))
    return out


def old_training_curves(snapshot: dict[str, Any], title: str = "") -> go.Figure:
    """The builder before issue 13/9 (make_subplots per call, every point sent), kept for comparison.

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
        fig.add_trace(go.Scatter(x=x, y=old_smooth(loss), name="train loss (smoothed)", mode="lines",
                                 line={"color": SMOOTH_COLOR, "width": 2}), 1, 1)
        fig.add_trace(go.Scatter(x=x, y=old_smooth([s[2] for s in steps]), name="train acc (smoothed)",
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


def snapshot(points: int, epochs: int = 10) -> dict[str, Any]:
    """A LiveState.snapshot()-like history: a noisy falling loss, a rising accuracy, a cosine learning rate."""
    rng = np.random.default_rng(0)
    step = np.arange(points)
    loss = 2.3 * np.exp(-step / (points / 4)) + 0.1 + rng.normal(0, 0.08, points).clip(-0.1)
    acc = np.clip(1 - loss / 2.4 + rng.normal(0, 0.03, points), 0, 1)
    per_epoch = points // epochs
    records = [{"epoch": e, "train_loss": float(loss[e * per_epoch - 1]), "train_acc": float(acc[e * per_epoch - 1]),
                "val_loss": float(loss[e * per_epoch - 1]) + 0.05, "val_acc": float(acc[e * per_epoch - 1]) - 0.02,
                "lr": 0.002 * (1 + np.cos(np.pi * (e - 1) / epochs)) / 2, "seconds": 1.0} for e in range(1, epochs + 1)]
    return {"steps": [(int(s), float(v), float(a)) for s, v, a in zip(step, loss, acc)], "epochs": records,
            "steps_per_epoch": per_epoch, "status": "running", "step": points - 1, "lr": records[-1]["lr"]}


def best_ms(fn, *args, repeat: int = 7) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def to_json(fig: go.Figure) -> str:
    """What st.plotly_chart does with a figure."""
    return pio.to_json(fig.to_dict(), validate=False)


def main() -> None:
    configure_streamlit_plotly_theme()  # the app's default template (what st.plotly_chart sends), not Plotly's
    figures.training_curves(snapshot(100))  # warm imports
    old_training_curves(snapshot(100))
    for points in (2_000, 20_000):
        snap = snapshot(points)
        for name, build in (("before", old_training_curves), ("after", figures.training_curves)):
            fig = build(snap)
            size = len(to_json(fig).encode()) / 1024
            most = max(len(t.x) for t in fig.data)
            print(f"{points:>6,} step points | {name:6} | build {best_ms(build, snap):6.1f} ms | "
                  f"to JSON {best_ms(to_json, fig):6.1f} ms | {size:6.1f} KB | "
                  f"largest trace {most:>6,} points")


if __name__ == "__main__":
    main()
