"""Sparklines for the class wall: a small curve as an inline SVG string (a few hundred bytes per run).

Thirty Plotly charts on one page would cost thirty figure specs per refresh and viewer, and thirty chart widgets in
the browser; an SVG polyline costs one string, drawn by the browser without a script. Pure: numbers in, text out
(no text of a student's ever goes in: the caller escapes names itself).

Example: ``sparkline_svg([2.3, 1.1, 0.6], color="#1f77b4")`` → ``'<svg ...><polyline points="..."/></svg>'``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

LOSS_COLOR = "#1f77b4"  # as the live chart's train loss (vision_core/figures/training.py)
ACC_COLOR = "#ff7f0e"  # as the live chart's validation curve
PROJECTOR_LOSS_COLOR = "#7fd4ff"  # high contrast on the projector's black background
PROJECTOR_ACC_COLOR = "#ffd23f"


def sparkline_svg(values: Sequence[float], *, color: str = LOSS_COLOR, width: int = 120, height: int = 28,
                  low: float | None = None, high: float | None = None, stroke: float = 1.8) -> str:
    """``values`` as a line from left to right, scaled to [``low``, ``high``] (their own range when None);
    an empty string when fewer than two values are finite. The last point is marked with a dot."""
    points = tuple(float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v))
    if len(points) < 2:
        return ""
    return _drawn(points, color, width, height, low, high, stroke)


@functools.lru_cache(maxsize=1024)  # a run that is paused, queued or ended draws the same curve every refresh
def _drawn(points: tuple[float, ...], color: str, width: int, height: int, low: float | None, high: float | None,
           stroke: float) -> str:
    low = min(points) if low is None else low
    high = max(points) if high is None else high
    span = high - low or 1.0
    pad = stroke + 1
    xs = [pad + i * (width - 2 * pad) / (len(points) - 1) for i in range(len(points))]
    ys = [pad + (1 - min(max((v - low) / span, 0.0), 1.0)) * (height - 2 * pad) for v in points]
    line = " ".join(f"{x:.0f},{y:.1f}" for x, y in zip(xs, ys))  # whole pixels across: ~3 px apart at 40 points
    # Single quotes inside: the wall puts the SVG in an <img src="data:…"> (ui/class_wall.py) without base64.
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}'>"
            f"<polyline fill='none' stroke='{color}' stroke-width='{stroke}' stroke-linejoin='round' "
            f"points='{line}'/><circle cx='{xs[-1]:.0f}' cy='{ys[-1]:.1f}' r='{stroke + 0.6:.1f}' fill='{color}'/>"
            "</svg>")
