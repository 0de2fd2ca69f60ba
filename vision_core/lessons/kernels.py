"""Classic image kernels, each with a one-line explanation, and the textbook's worked examples.

The kernels are written for cross-correlation (what ``F.conv2d`` computes); true convolution uses the kernel
flipped in both axes. Symmetric kernels (identity, blur, sharpen, Laplacian, outline) give the same result either
way. Sobel changes sign: flipped, it is its own negative. Emboss does not simply change sign: its centre (+1)
stays where it is and only the rest is negated, so flipped it lights the relief from the opposite corner, and
true convolution gives 2·image − cross-correlation (with "same" zero padding).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import comb

import numpy as np


@dataclass(frozen=True)
class KernelPreset:
    name: str
    explanation: str
    build: Callable[[int], np.ndarray]
    sizes: tuple[int, ...]  # the sizes it can be built in; the first is the default


def _fixed(values: list[list[float]]) -> Callable[[int], np.ndarray]:
    return lambda size: np.array(values, dtype=np.float64)


def _identity(size: int) -> np.ndarray:
    kernel = np.zeros((size, size))
    kernel[size // 2, size // 2] = 1.0
    return kernel


def _box(size: int) -> np.ndarray:
    return np.full((size, size), 1.0 / size**2)


def _gaussian(size: int) -> np.ndarray:
    # Binomial weights: rows of Pascal's triangle, the discrete Gaussian ([1,2,1]/4, [1,4,6,4,1]/16, ...).
    row = np.array([comb(size - 1, i) for i in range(size)], dtype=np.float64)
    return np.outer(row, row) / row.sum() ** 2


PRESETS: dict[str, KernelPreset] = {p.name: p for p in [
    KernelPreset("identity", "Copies the centre pixel: the output equals the input (a check that nothing moves).",
                 _identity, (3, 1, 5, 7)),
    KernelPreset("box blur", "Averages the neighbourhood with equal weights: a blur with blocky edges.",
                 _box, (3, 2, 4, 5, 7)),
    KernelPreset("gaussian", "Weighted average, heaviest in the centre: a smooth blur (3×3 = [1,2,1]ᵀ[1,2,1]/16, "
                 "5×5 = [1,4,6,4,1]ᵀ[1,4,6,4,1]/256).", _gaussian, (3, 5, 7)),
    KernelPreset("sharpen", "Centre ×5 minus its four neighbours: boosts what differs from its surroundings.",
                 _fixed([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]), (3,)),
    KernelPreset("sobel x", "Right minus left (middle row weighted ×2): bright where the image gets brighter "
                 "to the right, i.e. vertical edges. True convolution flips its sign.",
                 _fixed([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]), (3,)),
    KernelPreset("sobel y", "Bottom minus top: bright where the image gets brighter downwards, i.e. horizontal "
                 "edges. True convolution flips its sign.",
                 _fixed([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]), (3,)),
    KernelPreset("laplacian", "Four neighbours minus 4× the centre: zero on flat areas and ramps, large at "
                 "edges and spots.", _fixed([[0, 1, 0], [1, -4, 1], [0, 1, 0]]), (3,)),
    KernelPreset("emboss", "Bottom-right minus top-left plus the pixel: a raised, lit-from-one-side look. "
                 "True convolution lights it from the opposite corner (the centre +1 stays, the rest flips sign).",
                 _fixed([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]), (3,)),
    KernelPreset("outline", "8× the centre minus all eight neighbours: keeps only edges, in every direction.",
                 _fixed([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]), (3,)),
]}


def kernel_preset(name: str, size: int | None = None) -> np.ndarray:
    """The preset kernel ``name`` as a float64 (size, size) array.

    Example: ``kernel_preset("gaussian", 5).sum() == 1.0``; ``kernel_preset("sobel x")[0] → [-1, 0, 1]``.
    """
    preset = PRESETS.get(name.lower().strip()) if isinstance(name, str) else None
    if preset is None:
        raise ValueError(f"unknown kernel preset {name!r}: choose one of {sorted(PRESETS)}")
    size = preset.sizes[0] if size is None else size
    if size not in preset.sizes:
        raise ValueError(f"the {preset.name} kernel comes in sizes {sorted(preset.sizes)}, got {size!r}")
    return preset.build(size)


@dataclass(frozen=True)
class WorkedExample:
    """A worked example from the textbook: true convolution (kernel flipped) with zero padding."""

    x: list
    kernel: list
    padding: int
    stride: int
    expected: list


WORKED_EXAMPLES: dict[str, WorkedExample] = {
    "1-D": WorkedExample([1, 3, 2, 4, 5, 6, 1, 3], [1, 0, 3, 1, 2], 2, 1, [5, 14, 16, 26, 24, 34, 19, 22]),
    "2-D": WorkedExample([[1, 3, 2, 4], [5, 6, 1, 3], [1, 2, 0, 2], [3, 4, 3, 2]],
                         [[1, 0, 3], [1, 2, 1], [0, 1, 1]], 1, 1,
                         [[11, 25, 32, 13], [19, 25, 24, 13], [13, 28, 25, 17], [11, 17, 14, 9]]),
}
