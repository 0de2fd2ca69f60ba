"""Convolution from first principles, in 1-D and 2-D: what ``F.conv1d`` / ``F.conv2d`` compute, step by step.

Every output cell is one dot product: the kernel laid over a window of the (zero-padded) input, multiplied
element by element, summed over every input channel, plus a bias. ``convolve`` computes all cells at once;
``convolution_steps`` keeps every window so a page can show cell ``i`` instantly.

Shapes (``L`` a length, ``H×W`` an image, ``C`` input channels, ``O`` output maps):

=============================  ============================  ===================
input ``x``                    ``kernel``                    result
=============================  ============================  ===================
``(L,)``                       ``(k,)``                      ``(L',)``
``(H, W)``                     ``(kh, kw)``                  ``(H', W')``
``(C, H, W)``                  ``(C, kh, kw)``               ``(H', W')``
``(C, H, W)``                  ``(O, C, kh, kw)``            ``(O, H', W')``
``(C, L)``                     ``(O, C, k)``                 ``(O, L')``
=============================  ============================  ===================

A 2-D ``x`` is an image unless the kernel is ``(O, C, k)`` with ``C`` = ``x.shape[0]``; pass ``dims=1`` or
``dims=2`` to say which (e.g. ``dims=1`` for a ``(C, L)`` signal with a ``(C, k)`` kernel).
``flip=True`` is true convolution (the textbook's: kernel flipped in every spatial axis); ``flip=False`` is
cross-correlation, which is what ``torch.nn.Conv2d`` computes.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

PADDING_MODES = ("valid", "same", "full")


# ---- settings ------------------------------------------------------------------------------------


def _as_array(value: Any, what: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor (maybe on a GPU, maybe requiring grad)
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be numbers (a list, numpy array or tensor), got {type(value).__name__}: "
                        f"{exc}") from None
    if array.size == 0:
        raise ValueError(f"{what} is empty (shape {array.shape}): give it at least one value")
    return array


_HINTS = {"stride": "1 moves the window one cell at a time", "dilation": "1 means neighbouring cells",
          "padding": "0 means no padding", "kernel": "a kernel covers at least 1 cell"}


def _per_axis(value: Any, ndim: int, name: str, minimum: int) -> tuple[int, ...]:
    """An int or one int per spatial axis, each a whole number ≥ minimum."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * ndim
    if len(values) != ndim:
        raise ValueError(f"{name} needs one value per spatial axis ({ndim}), got {value!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
            hint = _HINTS.get(name, f"use {minimum} or more")
            raise ValueError(f"{name} must be a whole number ≥ {minimum}, got {v!r}: {hint}")
        out.append(int(v))
    return tuple(out)


def _resolve_padding(padding: Any, kernel: tuple[int, ...], stride: tuple[int, ...],
                     dilation: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """Padding as (before, after) per spatial axis.

    "valid" = none; "full" = d·(k−1) each side (every partial overlap); "same" = d·(k−1) in total, the odd
    cell going after (right/bottom), exactly as PyTorch does for even kernels.
    """
    ndim = len(kernel)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0),) * ndim
        if mode == "full":
            return tuple((d * (k - 1), d * (k - 1)) for k, d in zip(kernel, dilation))
        if mode == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"padding='same' keeps the size only with stride 1, got stride {stride}: "
                                 "use stride 1, or give padding as a number (PyTorch refuses this too)")
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ValueError(f"padding must be a number or one of {PADDING_MODES}, got {padding!r}")
    return tuple((p, p) for p in _per_axis(padding, ndim, "padding", 0))


def output_size(n: int, kernel: int, stride: int = 1, padding: int | tuple[int, int] = 0,
                dilation: int = 1) -> int:
    """⌊(n + 2p − d·(k−1) − 1)/s⌋ + 1 cells (padding may be (before, after)); may be ≤ 0 when impossible.

    Example: ``output_size(5, 3, padding=1) == 5``.
    """
    before, after = padding if isinstance(padding, tuple) else (padding, padding)
    return (n + before + after - dilation * (kernel - 1) - 1) // stride + 1


def output_size_formula(n: int, kernel: int, stride: int = 1, padding: int | str | tuple[int, int] = 0,
                        dilation: int = 1) -> str:
    """The output-size formula with the numbers substituted.

    Example: ``output_size_formula(5, 3, 1, 1, 1) == "⌊(5 + 2·1 − 1·(3−1) − 1)/1⌋ + 1 = 5"``.
    """
    if isinstance(padding, str):
        (padding,) = _resolve_padding(padding, (kernel,), (stride,), (dilation,))
    before, after = padding if isinstance(padding, tuple) else (padding, padding)
    pad_text = f"2·{before}" if before == after else f"{before} + {after}"
    size = output_size(n, kernel, stride, (before, after), dilation)
    return f"⌊({n} + {pad_text} − {dilation}·({kernel}−1) − 1)/{stride}⌋ + 1 = {size}"


@dataclass(frozen=True)
class _Problem:
    """Validated, normalised operands: x (C, *spatial), kernel (O, C, *k), bias (O,)."""

    x: np.ndarray
    kernel: np.ndarray  # already flipped when flip=True
    bias: np.ndarray
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    flip: bool
    x_has_channels: bool
    kernel_has_outputs: bool

    @property
    def ndim(self) -> int:
        return self.x.ndim - 1

    @property
    def out_spatial(self) -> tuple[int, ...]:
        return tuple(output_size(n, k, s, p, d) for n, k, s, p, d in
                     zip(self.x.shape[1:], self.kernel.shape[2:], self.stride, self.padding, self.dilation))

    @property
    def result_shape(self) -> tuple[int, ...]:
        """Shape ``convolve`` returns: the output-map axis only when the kernel had one."""
        return ((self.kernel.shape[0],) if self.kernel_has_outputs else ()) + self.out_spatial


def _problem(x: Any, kernel: Any, stride: Any, padding: Any, dilation: Any, flip: bool, bias: Any,
             dims: int | None) -> _Problem:
    x = _as_array(x, "the input x")
    w = _as_array(kernel, "the kernel")
    if dims is None:
        # (C, L) with (O, C, k) is a signal; anything else with two axes is an image. dims= settles doubts.
        dims = 1 if x.ndim == 1 or (x.ndim == 2 and w.ndim == 3 and w.shape[1] == x.shape[0]) else 2
    if dims not in (1, 2):
        raise ValueError(f"dims must be 1 (signals) or 2 (images), got {dims!r}")
    if not dims <= x.ndim <= dims + 1:
        raise ValueError(f"a {dims}-D input must have shape {'(L,) or (C, L)' if dims == 1 else '(H, W) or (C, H, W)'}"
                         f", got {x.shape}")
    x_has_channels = x.ndim == dims + 1
    x = x if x_has_channels else x[None]
    if not dims <= w.ndim <= dims + 2:
        raise ValueError(f"a {dims}-D kernel must have {dims} to {dims + 2} axes "
                         f"({'(k,), (C, k) or (O, C, k)' if dims == 1 else '(kh, kw), (C, kh, kw) or (O, C, kh, kw)'})"
                         f", got shape {w.shape}")
    kernel_has_outputs = w.ndim == dims + 2
    w = w.reshape((1,) * (dims + 2 - w.ndim) + w.shape)  # (O, C, *k)
    channels = x.shape[0]
    if w.shape[1] != channels:
        raise ValueError(f"the input has {channels} channel(s) but the kernel has {w.shape[1]} channel slice(s) "
                         f"(kernel shape {w.shape}): give the kernel one slice per input channel, shape "
                         f"({w.shape[0]}, {channels}, {', '.join(map(str, w.shape[2:]))})")
    b = _as_array(bias, "bias").reshape(-1)
    if b.size == 1:
        b = np.repeat(b, w.shape[0])
    if b.size != w.shape[0]:
        raise ValueError(f"bias must be one number or one per output map ({w.shape[0]}), got {b.size} values")
    k = w.shape[2:]
    strides = _per_axis(stride, dims, "stride", 1)
    dilations = _per_axis(dilation, dims, "dilation", 1)
    pads = _resolve_padding(padding, k, strides, dilations)
    axes = ("length",) if dims == 1 else ("height", "width")
    for axis, n, kk, (before, after), d in zip(axes, x.shape[1:], k, pads, dilations):
        span = d * (kk - 1) + 1
        if span > n + before + after:
            raise ValueError(f"the kernel spans {span} cells along the {axis} (size {kk}, dilation {d}) but the "
                             f"padded input is only {n + before + after} ({n} + padding {before} + {after}): "
                             "add padding, use a smaller kernel or dilation, or a larger input")
    if flip:
        w = np.flip(w, axis=tuple(range(2, 2 + dims)))
    return _Problem(x, np.ascontiguousarray(w), b, strides, dilations, pads, bool(flip), x_has_channels,
                    kernel_has_outputs)


# ---- the maths -----------------------------------------------------------------------------------


def pad_input(x: np.ndarray, padding: tuple[tuple[int, int], ...], value: float = 0.0) -> np.ndarray:
    """Pad the spatial axes of ``x`` (C, *spatial) with ``value`` (zeros for convolution, −∞ for max pooling)."""
    return np.pad(x, ((0, 0),) + tuple(padding), constant_values=value)


def windows(padded: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...],
            dilation: tuple[int, ...]) -> np.ndarray:
    """Every window of ``padded`` (C, *spatial) as a view of shape (*out, C, *kernel); nothing is copied.

    Window ``(i, j)`` holds ``padded[:, i·s + d·a, j·s + d·b]`` for kernel cell ``(a, b)``.
    """
    ndim = len(kernel)
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    view = sliding_window_view(padded, spans, axis=tuple(range(1, 1 + ndim)))  # (C, *positions, *spans)
    index = (slice(None),) + tuple(slice(None, None, s) for s in stride) + tuple(slice(None, None, d) for d in dilation)
    view = view[index]  # (C, *out, *kernel)
    return np.moveaxis(view, 0, ndim)  # (*out, C, *kernel)


def _apply(win: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(O, *out): Σ over channels and kernel cells of window × kernel, + bias, for every output map."""
    ndim = kernel.ndim - 2
    summed_axes = tuple(range(ndim, win.ndim))
    out = np.tensordot(win, kernel, axes=(summed_axes, tuple(range(1, kernel.ndim))))  # (*out, O)
    return np.moveaxis(out, -1, 0) + bias.reshape((-1,) + (1,) * ndim)


def convolve(x: Any, kernel: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1, flip: bool = False,
             bias: Any = 0, *, dims: int | None = None) -> np.ndarray:
    """Convolve ``x`` with ``kernel``: equal to ``F.conv1d`` / ``F.conv2d`` (cross-correlation) unless ``flip``.

    Example: ``convolve([1, 3, 2, 4, 5, 6, 1, 3], [1, 0, 3, 1, 2], padding=2, flip=True)``
    → ``[5, 14, 16, 26, 24, 34, 19, 22]`` (the textbook's worked example).
    """
    problem = _problem(x, kernel, stride, padding, dilation, flip, bias, dims)
    win = windows(pad_input(problem.x, problem.padding), problem.kernel.shape[2:], problem.stride, problem.dilation)
    return _apply(win, problem.kernel, problem.bias).reshape(problem.result_shape)


# ---- step by step --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvolutionStep:
    """One output cell, with everything that went into it. Arrays keep the channel axis: (C, *kernel)."""

    index: int  # position in the row-major walk over (output map, *output position)
    output_channel: int
    position: tuple[int, ...]  # the output cell within its map: (i,) or (i, j)
    out_index: tuple[int, ...]  # where this value sits in ``convolve``'s result
    padded_coords: tuple[np.ndarray, ...]  # per spatial axis: the padded-input coordinates the window covers
    input_coords: tuple[np.ndarray, ...]  # the same in input coordinates (negative or ≥ size: padding)
    is_padding: np.ndarray  # (*kernel) bool: which window cells lie in the zero padding
    window: np.ndarray  # (C, *kernel) the input values under the kernel
    kernel: np.ndarray  # (C, *kernel) the kernel as applied (flipped for true convolution)
    products: np.ndarray  # (C, *kernel) window × kernel
    channel_sums: np.ndarray  # (C,) one partial sum per input channel
    total: float  # Σ products
    bias: float
    result: float  # total + bias


class ConvolutionSteps:
    """All output cells of one convolution; ``steps[i]`` is cheap (windows are a view computed once).

    Example: ``steps = convolution_steps(x, w, padding=1); steps[0].result == steps.output.flat[0]``.
    """

    def __init__(self, problem: _Problem) -> None:
        self.problem = problem
        self.padded = pad_input(problem.x, problem.padding)  # (C, *padded spatial)
        self.windows = windows(self.padded, problem.kernel.shape[2:], problem.stride, problem.dilation)
        self.kernel = problem.kernel  # (O, C, *k), flipped when flip
        self.bias = problem.bias  # (O,)
        self.maps = _apply(self.windows, self.kernel, self.bias)  # (O, *out)
        self.output = self.maps.reshape(problem.result_shape)  # what convolve() returns
        self.output_shape = problem.result_shape
        self.map_shape = problem.out_spatial
        self.cells_per_map = int(np.prod(self.map_shape))
        self.padding = problem.padding  # (before, after) per spatial axis
        self.stride = problem.stride
        self.dilation = problem.dilation
        self.flip = problem.flip
        self.input_shape = problem.x.shape[1:]
        self.channels = problem.x.shape[0]
        self.out_channels = self.kernel.shape[0]
        mask = np.ones(self.padded.shape[1:], dtype=bool)
        mask[tuple(slice(b, b + n) for (b, _), n in zip(self.padding, self.input_shape))] = False
        self.padding_mask = mask  # (*padded spatial) True where the cell is padding

    def __len__(self) -> int:
        return self.out_channels * self.cells_per_map

    def index(self, output_channel: int, *position: int) -> int:
        """The step number of output cell ``position`` in map ``output_channel``."""
        return output_channel * self.cells_per_map + int(np.ravel_multi_index(position, self.map_shape))

    def __getitem__(self, i: int) -> ConvolutionStep:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"step {i} does not exist: there are {n} steps (0 … {n - 1})")
        i %= n
        o, flat = divmod(i, self.cells_per_map)
        position = tuple(int(p) for p in np.unravel_index(flat, self.map_shape))
        window = np.asarray(self.windows[position])  # (C, *k)
        kernel = self.kernel[o]
        products = window * kernel
        channel_sums = products.reshape(len(products), -1).sum(axis=1)
        padded_coords = tuple(p * s + d * np.arange(k) for p, s, d, k in
                              zip(position, self.stride, self.dilation, kernel.shape[1:]))
        input_coords = tuple(c - b for c, (b, _) in zip(padded_coords, self.padding))
        is_padding = self.padding_mask[np.ix_(*padded_coords)]
        total = float(channel_sums.sum())
        bias = float(self.bias[o])
        out_index = ((o,) if self.problem.kernel_has_outputs else ()) + position
        return ConvolutionStep(i, o, position, out_index, padded_coords, input_coords, is_padding, window, kernel,
                               products, channel_sums, total, bias, float(self.maps[(o,) + position]))


    def outputs_using(self, *input_position: int) -> list[tuple[int, ...]]:
        """Every output cell (row-major) whose window covers input cell ``input_position``: the reverse of a step.

        Coordinates are the input's (``-1`` = the first padding cell before it); a cell outside the padded
        input raises ValueError. Example: with a 3×3 kernel, stride 1, padding 1, input (0, 0) feeds outputs
        (0, 0), (0, 1), (1, 0), (1, 1).
        """
        if len(input_position) != len(self.input_shape):
            raise ValueError(f"an input cell has {len(self.input_shape)} coordinate(s), got {input_position}")
        per_axis = []
        for c, (before, after), n, k, s, d, out in zip(input_position, self.padding, self.input_shape,
                                                       self.kernel.shape[2:], self.stride, self.dilation,
                                                       self.map_shape):
            if not -before <= c < n + after:
                raise ValueError(f"input cell {input_position} is outside the padded input "
                                 f"({-before} … {n + after - 1} along each axis)")
            offsets = (c + before) - s * np.arange(out)  # where this cell falls inside each window
            per_axis.append([i for i, o in enumerate(offsets) if 0 <= o <= d * (k - 1) and o % d == 0])
        return list(itertools.product(*per_axis))


def convolution_steps(x: Any, kernel: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                      flip: bool = False, bias: Any = 0, *, dims: int | None = None) -> ConvolutionSteps:
    """Every output cell of ``convolve(...)`` (same arguments) as a step: window, products, sums, result.

    Example: ``step = convolution_steps(x, w, padding=1)[5]; step.total + step.bias == step.result``.
    """
    return ConvolutionSteps(_problem(x, kernel, stride, padding, dilation, flip, bias, dims))


# ---- "show me the PyTorch code" ------------------------------------------------------------------


def _literal(array: np.ndarray) -> str:
    # repr(float) round-trips exactly, so the snippet computes exactly what the page shows.
    if array.ndim == 0:
        return repr(float(array))
    return "[" + ", ".join(_literal(a) for a in array) + "]"


def pytorch_code(settings: Mapping[str, Any], max_values: int = 4096) -> str:
    """A runnable PyTorch snippet computing the same convolution; its last value is ``out``.

    ``settings`` holds ``convolve``'s arguments by name: ``x``, ``kernel`` and optionally ``stride``,
    ``padding``, ``dilation``, ``flip``, ``bias``, ``dims``. An input with more than ``max_values`` numbers
    is replaced by seeded random numbers of the same shape (said in a comment) to keep the snippet readable.
    Example: ``exec(pytorch_code({"x": [[1, 2], [3, 4]], "kernel": [[1]]}))``.
    """
    unknown = set(settings) - {"x", "kernel", "stride", "padding", "dilation", "flip", "bias", "dims"}
    if unknown or "x" not in settings or "kernel" not in settings:
        raise ValueError(f"settings need 'x' and 'kernel' (plus optional stride, padding, dilation, flip, bias, "
                         f"dims), got keys {sorted(settings)}")
    stride, padding, dilation = (settings.get(k, d) for k, d in (("stride", 1), ("padding", 0), ("dilation", 1)))
    flip = bool(settings.get("flip", False))
    p = _problem(settings["x"], settings["kernel"], stride, padding, dilation, False, settings.get("bias", 0),
                 settings.get("dims"))
    nd, fn = p.ndim, f"conv{p.ndim}d"
    x_shape = p.x.shape if p.x_has_channels else p.x.shape[1:]
    k_full = p.kernel  # (O, C, *k), not flipped: the snippet flips it with torch.flip
    k_given = _as_array(settings["kernel"], "the kernel")  # the shape the user gave
    k_shape = k_given.shape
    if isinstance(padding, str) and padding.lower() == "full":
        pad_arg = repr(tuple(b for b, _ in p.padding)) if nd == 2 else repr(p.padding[0][0])
        pad_note = "  # 'full' = dilation·(k−1) on each side"
    elif isinstance(padding, str):
        pad_arg, pad_note = repr(padding.lower()), ""
    else:
        pad_arg, pad_note = repr(tuple(padding) if isinstance(padding, (list, tuple)) else int(padding)), ""
    lines = ["import torch", "import torch.nn.functional as F", ""]
    if p.x.size > max_values:
        lines += [f"# The input has {p.x.size} numbers, too many to paste here: random numbers of the same shape.",
                  "torch.manual_seed(0)",
                  f"x = torch.rand({', '.join(map(str, x_shape))}, dtype=torch.float64)  # {x_shape}"]
    else:
        lines.append(f"x = torch.tensor({_literal(p.x.reshape(x_shape))}, dtype=torch.float64)  # {x_shape}")
    lines += [f"w = torch.tensor({_literal(k_given)}, dtype=torch.float64)  # {k_shape}",
              f"b = torch.tensor({_literal(p.bias)}, dtype=torch.float64)  # one bias per output map",
              "",
              f"# F.{fn} wants a batch axis and a channel axis: input (N, C, ...), weight (O, C, ...)",
              f"x_batch = x.reshape(1, {', '.join(map(str, p.x.shape))})",
              f"weight = w.reshape({', '.join(map(str, k_full.shape))})"]
    if flip:
        dims_arg = tuple(range(2, 2 + nd))
        lines += ["# True convolution flips the kernel in every spatial axis; F.conv* itself does not flip",
                  "# (it computes cross-correlation).",
                  f"weight = torch.flip(weight, dims={dims_arg})"]
    stride_arg = p.stride if nd == 2 else p.stride[0]
    dilation_arg = p.dilation if nd == 2 else p.dilation[0]
    out_index = "[0]" if p.kernel_has_outputs else "[0, 0]"
    call = f"F.{fn}(x_batch, weight, bias=b, stride={stride_arg}, padding={pad_arg}, dilation={dilation_arg})"
    lines += [f"out = {call}{pad_note}",
              f"out = out{out_index}  # drop the batch axis{'' if p.kernel_has_outputs else ' and the single map'}",
              "print(out)"]
    return "\n".join(lines) + "\n"


# ---- transposed convolution ----------------------------------------------------------------------


def transposed_output_size(n: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0,
                           dilation: int = 1) -> int:
    """(n − 1)·s − 2p + d·(k − 1) + output_padding + 1: what ``F.conv_transpose2d`` returns along one axis.

    Example: ``transposed_output_size(3, 3, stride=2, padding=1, output_padding=1) == 6`` (doubles the size).
    """
    return (n - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def transposed_output_size_formula(n: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0,
                                   dilation: int = 1) -> str:
    """The transposed output-size formula with the numbers substituted.

    Example: ``transposed_output_size_formula(3, 3, 2, 1, 1) == "(3 − 1)·2 − 2·1 + 1·(3 − 1) + 1 + 1 = 6"``.
    """
    size = transposed_output_size(n, kernel, stride, padding, output_padding, dilation)
    return f"({n} − 1)·{stride} − 2·{padding} + {dilation}·({kernel} − 1) + {output_padding} + 1 = {size}"


@dataclass(frozen=True)
class TransposedStep:
    """What one input cell adds: the kernel scaled by the cell's value, stamped ``stride`` cells apart."""

    index: int  # position in the row-major walk over the input cells
    position: tuple[int, int]  # the input cell (row, column)
    values: np.ndarray  # (C,) the cell's value in every input channel
    block: np.ndarray  # (O, kh, kw) Σ over channels of value × kernel slice: what lands on the canvas
    canvas_rows: np.ndarray  # the canvas rows the block lands on: row·s + d·a
    canvas_cols: np.ndarray  # the canvas columns: column·s + d·b


class TransposedSteps:
    """``F.conv_transpose2d`` one input cell at a time, on an uncropped canvas.

    Every input cell stamps ``value × kernel`` onto the canvas at (row·s, column·s), kernel cells ``d`` apart;
    overlapping stamps add up. The output is the canvas with ``padding`` cells cut from every side (in a
    transposed convolution, padding removes), ``output_padding`` extra rows/columns kept at the bottom/right,
    plus the bias. Shapes: x (H, W) or (C, H, W); kernel (kh, kw) or PyTorch's (C, O, kh, kw); bias one number
    or (O,). Example: ``TransposedSteps(x, w, stride=2).output`` equals ``F.conv_transpose2d(x, w, stride=2)[0]``.
    """

    def __init__(self, x: Any, kernel: Any, stride: Any = 1, padding: Any = 0, output_padding: Any = 0,
                 dilation: Any = 1, bias: Any = 0) -> None:
        x = _as_array(x, "the input x")
        w = _as_array(kernel, "the kernel")
        if x.ndim not in (2, 3):
            raise ValueError(f"a transposed convolution here takes an (H, W) or (C, H, W) input, got {x.shape}")
        x = x if x.ndim == 3 else x[None]
        if w.ndim not in (2, 4):
            raise ValueError(f"the kernel must be (kh, kw) or PyTorch's (C_in, C_out, kh, kw), got shape {w.shape}")
        w = w if w.ndim == 4 else w[None, None]
        if w.shape[0] != x.shape[0]:
            raise ValueError(f"the input has {x.shape[0]} channel(s) but the kernel's first axis has {w.shape[0]}: "
                             "a transposed kernel is (C_in, C_out, kh, kw)")
        b = _as_array(bias, "bias").reshape(-1)
        b = np.repeat(b, w.shape[1]) if b.size == 1 else b
        if b.size != w.shape[1]:
            raise ValueError(f"bias must be one number or one per output map ({w.shape[1]}), got {b.size}")
        self.stride = _per_axis(stride, 2, "stride", 1)
        self.padding = _per_axis(padding, 2, "padding", 0)
        self.output_padding = _per_axis(output_padding, 2, "output_padding", 0)
        self.dilation = _per_axis(dilation, 2, "dilation", 1)
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= max(s, d):
                raise ValueError(f"output padding {op} must be smaller than the stride ({s}) or the dilation ({d}): "
                                 "it only picks one of the sizes that the same forward convolution maps onto")
        self.x, self.kernel, self.bias = x, w, b
        self.input_shape = x.shape[1:]
        self.channels, self.out_channels = w.shape[0], w.shape[1]
        k = w.shape[2:]
        sizes = [transposed_output_size(n, kk, s, p, op, d) for n, kk, s, p, op, d in
                 zip(self.input_shape, k, self.stride, self.padding, self.output_padding, self.dilation)]
        for axis, size, p in zip(("rows", "columns"), sizes, self.padding):
            if size < 1:
                raise ValueError(f"padding {p} cuts away everything: the output would have {size} {axis}. Use less "
                                 "padding, a larger stride or kernel, or a larger input")
        self.map_shape = tuple(sizes)
        self.full_shape = tuple((n - 1) * s + d * (kk - 1) + 1 for n, kk, s, d in
                                zip(self.input_shape, k, self.stride, self.dilation))
        # output padding beyond the cut padding adds rows/columns that no stamp reaches (bias only)
        self.canvas_shape = tuple(f + max(0, op - p) for f, op, p in
                                  zip(self.full_shape, self.output_padding, self.padding))
        self.output = self.crop(self.canvas_after(len(self) - 1))  # (O, Ho, Wo)

    def __len__(self) -> int:
        return int(np.prod(self.input_shape))

    def _stamp(self, x: np.ndarray) -> np.ndarray:
        """The canvas (O, Hc, Wc) that the input ``x`` (C, H, W) stamps, without bias."""
        canvas = np.zeros((self.out_channels, *self.canvas_shape))
        (h, w), (sh, sw), (dh, dw) = self.input_shape, self.stride, self.dilation
        for a in range(self.kernel.shape[2]):
            for b in range(self.kernel.shape[3]):
                contribution = np.einsum("chw,co->ohw", x, self.kernel[:, :, a, b])  # (O, H, W)
                canvas[:, a * dh:a * dh + (h - 1) * sh + 1:sh, b * dw:b * dw + (w - 1) * sw + 1:sw] += contribution
        return canvas

    def canvas_after(self, index: int) -> np.ndarray:
        """The canvas (O, Hc, Wc) once input cells 0 … ``index`` (row-major) have stamped; −1 = empty."""
        keep = (np.arange(len(self)) <= index).reshape(self.input_shape)
        return self._stamp(self.x * keep)

    def crop(self, canvas: np.ndarray) -> np.ndarray:
        """Canvas → output: cut ``padding`` from the top/left, keep the output size, add the bias."""
        (pt, pl), (ho, wo) = self.padding, self.map_shape
        return canvas[:, pt:pt + ho, pl:pl + wo] + self.bias[:, None, None]

    def __getitem__(self, index: int) -> TransposedStep:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"step {index} does not exist: there are {n} input cells (0 … {n - 1})")
        index %= n
        row, col = (int(v) for v in np.unravel_index(index, self.input_shape))
        values = self.x[:, row, col]
        block = np.einsum("c,cokl->okl", values, self.kernel)
        kh, kw = self.kernel.shape[2:]
        return TransposedStep(index, (row, col), values, block,
                              row * self.stride[0] + self.dilation[0] * np.arange(kh),
                              col * self.stride[1] + self.dilation[1] * np.arange(kw))


def transposed_pytorch_code(x: np.ndarray, kernel: np.ndarray, stride: int, padding: int, output_padding: int,
                            dilation: int, bias: float = 0.0) -> str:
    """A runnable snippet: ``F.conv_transpose2d`` on one-channel ``x`` (H, W) and ``kernel`` (kh, kw); ends in ``out``."""
    x, kernel = np.asarray(x, dtype=np.float64), np.asarray(kernel, dtype=np.float64)
    call = (f"F.conv_transpose2d(x.reshape(1, 1, {x.shape[0]}, {x.shape[1]}), "
            f"w.reshape(1, 1, {kernel.shape[0]}, {kernel.shape[1]}), b,\n"
            f"                         stride={stride}, padding={padding}, output_padding={output_padding}, "
            f"dilation={dilation})")
    return "\n".join([
        "import torch",
        "import torch.nn.functional as F",
        "",
        f"x = torch.tensor({_literal(x)}, dtype=torch.float64)  # {x.shape}",
        f"w = torch.tensor({_literal(kernel)}, dtype=torch.float64)  # {kernel.shape}",
        f"b = torch.tensor([{float(bias)!r}], dtype=torch.float64)",
        "# F.conv_transpose2d wants input (N, C_in, H, W) and weight (C_in, C_out, kh, kw)",
        f"out = {call}[0, 0]",
        "print(out)",
    ]) + "\n"
