"""Max and average pooling, step by step: what ``F.max_pool2d`` / ``F.avg_pool2d`` compute.

Pooling slides a window over each channel on its own (no kernel weights) and keeps the largest value (max)
or the mean (average). Stride defaults to the kernel size (non-overlapping windows); a smaller stride makes
windows overlap. Max pooling pads with −∞ (padding can never win); average pooling pads with zeros and
divides by the whole window (PyTorch's default ``count_include_pad=True``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vision_core.lessons.convolution import _as_array, _per_axis, output_size, pad_input, windows

POOL_KINDS = ("max", "avg")
# A small map to pool by hand: varied enough that max and mean differ in every 2×2 window.
EXAMPLE_INPUT = np.array([[1, 3, 2, 4, 0, 1], [5, 6, 1, 3, 2, 2], [1, 2, 0, 2, 7, 1],
                          [3, 4, 3, 2, 1, 0], [0, 2, 5, 1, 3, 4], [2, 1, 0, 6, 2, 3]], dtype=np.float64)
EXAMPLE_INPUT.flags.writeable = False


@dataclass(frozen=True)
class _Pooling:
    x: np.ndarray  # (C, H, W)
    kind: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[tuple[int, int], ...]
    had_channels: bool

    @property
    def out_spatial(self) -> tuple[int, int]:
        return tuple(output_size(n, k, s, p) for n, k, s, p in zip(self.x.shape[1:], self.kernel, self.stride,
                                                                     self.padding))


def _pooling(x: Any, kind: str, kernel: Any, stride: Any, padding: Any) -> _Pooling:
    if kind not in POOL_KINDS:
        raise ValueError(f"kind must be one of {POOL_KINDS}, got {kind!r}")
    x = _as_array(x, "the input x")
    if x.ndim not in (2, 3):
        raise ValueError(f"pooling needs an image (H, W) or channels (C, H, W), got shape {x.shape}")
    had_channels = x.ndim == 3
    x = x if had_channels else x[None]
    k = _per_axis(kernel, 2, "kernel", 1)
    s = k if stride is None else _per_axis(stride, 2, "stride", 1)
    p = _per_axis(padding, 2, "padding", 0)
    for axis, n, kk, pp in zip(("height", "width"), x.shape[1:], k, p):
        if 2 * pp > kk:
            raise ValueError(f"padding {pp} is more than half the kernel size {kk} along the {axis}: a window "
                             f"could then hold only padding. Use padding ≤ {kk // 2} (PyTorch has the same rule)")
        if kk > n + 2 * pp:
            raise ValueError(f"the {kk}-cell window does not fit the padded {axis} {n + 2 * pp} ({n} + 2·{pp}): "
                             "use a smaller kernel, more padding, or a larger input")
    return _Pooling(x, kind, k, s, tuple((q, q) for q in p), had_channels)


def _pad_value(kind: str) -> float:
    return -np.inf if kind == "max" else 0.0


def pool(x: Any, kind: str = "max", kernel: Any = 2, stride: Any = None, padding: Any = 0) -> np.ndarray:
    """Max or average pooling of (H, W) or (C, H, W); equal to ``F.max_pool2d`` / ``F.avg_pool2d``.

    Example: ``pool([[1, 2], [3, 4]], "max") → [[4.]]``; ``pool([[1, 2], [3, 4]], "avg") → [[2.5]]``.
    """
    spec = _pooling(x, kind, kernel, stride, padding)
    win = windows(pad_input(spec.x, spec.padding, _pad_value(kind)), spec.kernel, spec.stride, (1, 1))  # (Ho, Wo, C, kh, kw)
    out = win.max(axis=(-2, -1)) if kind == "max" else win.mean(axis=(-2, -1))
    out = np.moveaxis(out, -1, 0)  # (C, Ho, Wo)
    return out if spec.had_channels else out[0]


def global_average_pool(x: Any) -> np.ndarray:
    """The mean of each channel: (C, H, W) → (C,); (H, W) → a 0-d array. Same as ``F.adaptive_avg_pool2d(x, 1)``.

    Example: ``global_average_pool(np.ones((3, 4, 4))) → [1., 1., 1.]``.
    """
    x = _as_array(x, "the input x")
    if x.ndim not in (2, 3):
        raise ValueError(f"global average pooling needs (H, W) or (C, H, W), got shape {x.shape}")
    return x.mean(axis=(-2, -1))


@dataclass(frozen=True)
class PoolingStep:
    """One pooled cell: its window and which value won (max) or how the mean was taken (avg)."""

    index: int  # row-major over (channel, i, j)
    channel: int
    position: tuple[int, int]
    out_index: tuple[int, ...]  # where this value sits in ``pool``'s result
    padded_coords: tuple[np.ndarray, np.ndarray]
    input_coords: tuple[np.ndarray, np.ndarray]
    is_padding: np.ndarray  # (kh, kw) bool
    window: np.ndarray  # (kh, kw): −∞ marks max-pooling padding, 0 average-pooling padding
    argmax: tuple[int, int] | None  # window cell holding the max (the first one on ties); None for avg
    divisor: int  # cells the mean divides by (the whole window, padding included); 1 for max
    result: float


class PoolingSteps:
    """Every cell of ``pool(...)``; ``steps[i]`` slices windows computed once."""

    def __init__(self, spec: _Pooling) -> None:
        self.spec = spec
        self.kind = spec.kind
        self.kernel = spec.kernel
        self.stride = spec.stride
        self.padding = spec.padding
        self.padded = pad_input(spec.x, spec.padding, _pad_value(spec.kind))  # (C, Hp, Wp)
        self.windows = windows(self.padded, spec.kernel, spec.stride, (1, 1))  # (Ho, Wo, C, kh, kw)
        reduce = np.max if spec.kind == "max" else np.mean
        self.maps = np.moveaxis(reduce(self.windows, axis=(-2, -1)), -1, 0)  # (C, Ho, Wo)
        self.output = self.maps if spec.had_channels else self.maps[0]
        self.map_shape = spec.out_spatial
        self.cells_per_map = int(np.prod(self.map_shape))
        self.channels = spec.x.shape[0]
        self.input_shape = spec.x.shape[1:]
        mask = np.ones(self.padded.shape[1:], dtype=bool)
        mask[tuple(slice(b, b + n) for (b, _), n in zip(spec.padding, self.input_shape))] = False
        self.padding_mask = mask

    @property
    def overlapping(self) -> bool:
        """True when neighbouring windows share cells (stride smaller than the kernel)."""
        return any(s < k for s, k in zip(self.stride, self.kernel))

    def __len__(self) -> int:
        return self.channels * self.cells_per_map

    def index(self, channel: int, i: int, j: int) -> int:
        return channel * self.cells_per_map + i * self.map_shape[1] + j

    def __getitem__(self, i: int) -> PoolingStep:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"step {i} does not exist: there are {n} steps (0 … {n - 1})")
        i %= n
        c, flat = divmod(i, self.cells_per_map)
        position = (flat // self.map_shape[1], flat % self.map_shape[1])
        window = np.array(self.windows[position][c])  # (kh, kw)
        padded_coords = tuple(p * s + np.arange(k) for p, s, k in zip(position, self.stride, self.kernel))
        input_coords = tuple(pc - b for pc, (b, _) in zip(padded_coords, self.padding))
        argmax = tuple(int(a) for a in np.unravel_index(np.argmax(window), window.shape)) if self.kind == "max" else None
        out_index = ((c,) if self.spec.had_channels else ()) + position
        return PoolingStep(i, c, position, out_index, padded_coords, input_coords,
                           self.padding_mask[np.ix_(*padded_coords)], window, argmax,
                           window.size if self.kind == "avg" else 1, float(self.maps[(c,) + position]))


def pooling_steps(x: Any, kind: str = "max", kernel: Any = 2, stride: Any = None, padding: Any = 0) -> PoolingSteps:
    """Every cell of ``pool(...)`` (same arguments) as a step.

    Example: ``step = pooling_steps(img, "max")[0]; step.window[step.argmax] == step.result``.
    """
    return PoolingSteps(_pooling(x, kind, kernel, stride, padding))


# ---- invariance: pooling shrugs off small local changes ------------------------------------------


def shift(x: Any, down: int = 0, right: int = 1) -> np.ndarray:
    """Move the content of (H, W) or (C, H, W) by whole pixels; the uncovered edge repeats the border."""
    x = _as_array(x, "the input x")
    h, w = x.shape[-2:]
    if abs(down) >= h or abs(right) >= w:
        raise ValueError(f"a shift of ({down}, {right}) moves a {h}×{w} image out of view: use a smaller shift")
    lead = ((0, 0),) * (x.ndim - 2)
    padded = np.pad(x, lead + ((max(down, 0), max(-down, 0)), (max(right, 0), max(-right, 0))), mode="edge")
    top, left = max(-down, 0), max(-right, 0)
    return padded[..., top:top + h, left:left + w]


def dots_example(shape: tuple[int, int] = (6, 6), kernel: Any = 2, stride: Any = None, padding: Any = 0,
                 seed: int = 0) -> np.ndarray:
    """A dim (H, W) picture with one bright dot in the first cell of every pooling window (the window's top-left
    cell inside the image): background values in [0, 0.3], dots in [0.6, 1], one decimal each.

    With windows that do not overlap (stride ≥ kernel ≥ 2) and no padding, a shift right or down by one pixel
    keeps every dot inside its own window, so max pooling's output does not change at all: the invariance
    pooling is known for. (With padding, a window hanging over the right or bottom edge can lose its dot.)
    Example: ``d = dots_example(); invariance(d, shift(d), "max").changed.any()`` → ``False``.
    """
    h, w = (int(n) for n in shape)
    spec = _pooling(np.zeros((h, w)), "max", kernel, stride, padding)  # validates the settings for this size
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.3, (h, w)).round(1)
    rows, cols = ([max(i * s - b, 0) for i in range(n)]
                  for n, s, (b, _) in zip(spec.out_spatial, spec.stride, spec.padding))
    x[np.ix_(rows, cols)] = rng.uniform(0.6, 1.0, (len(rows), len(cols))).round(1)
    return x


def add_noise(x: Any, amount: float = 0.05, fraction: float = 0.1, seed: int = 0) -> np.ndarray:
    """Nudge a random ``fraction`` of the pixels by up to ±``amount`` (uniform): a small, local change."""
    x = _as_array(x, "the input x")
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    chosen = rng.random(x.shape) < fraction
    return x + chosen * rng.uniform(-amount, amount, x.shape)


@dataclass(frozen=True)
class InvarianceResult:
    """Pooling before and after a small change, and how much changed at each end."""

    before_input: np.ndarray
    after_input: np.ndarray
    before: np.ndarray  # pooled
    after: np.ndarray  # pooled
    input_changed: np.ndarray  # bool, input shape
    changed: np.ndarray  # bool, pooled shape

    @property
    def input_fraction_changed(self) -> float:
        return float(self.input_changed.mean())

    @property
    def fraction_changed(self) -> float:
        return float(self.changed.mean())


def invariance(x: Any, changed_x: Any, kind: str = "max", kernel: Any = 2, stride: Any = None, padding: Any = 0,
               tolerance: float = 1e-9) -> InvarianceResult:
    """Pool ``x`` and its changed version ``changed_x`` alike and count the cells that moved by > tolerance.

    Example: ``r = invariance(img, shift(img), "max"); r.fraction_changed < r.input_fraction_changed``.
    """
    before_input, after_input = _as_array(x, "the input x"), _as_array(changed_x, "the changed input")
    if before_input.shape != after_input.shape:
        raise ValueError(f"the changed input has shape {after_input.shape}, the input {before_input.shape}: "
                         "they must match")
    before, after = (pool(v, kind, kernel, stride, padding) for v in (before_input, after_input))
    return InvarianceResult(before_input, after_input, before, after,
                            np.abs(after_input - before_input) > tolerance, np.abs(after - before) > tolerance)
