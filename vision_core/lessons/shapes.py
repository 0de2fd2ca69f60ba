"""Shape explorer core: what every layer does to the shape of the data, and where the parameters live.

``explore("lenet", (1, 32, 32))`` walks a zoo model (or any ``nn.Sequential``) layer by layer and
returns a ``ShapeReport``: output shape, parameters and their share, receptive field and jump, and the
output-size formula with the numbers for every convolution and pooling. A model that cannot take the
input does not raise: the report keeps the rows traced up to the failing layer, and ``.error`` holds
``models.ShapeMismatchError``'s message (the layer, the sizes and the fix).

The arithmetic is the one the tutorials teach: o = ⌊(n + 2p − d·(k − 1) − 1)/s⌋ + 1.

Example::

    report = explore("lenet", (1, 32, 32))
    report.rows[0].output_shape      # (6, 28, 28)
    largest_layer(report)            # ("fc1", 77.98...)
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from vision_core.lessons.convolution import output_size_formula
from vision_core.models import zoo as models

Shape = tuple[int, ...]


# --------------------------------------------------------------------------- output-size arithmetic


def _int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if number < low:
        raise ValueError(f"{name} must be ≥ {low}, got {number}")
    return number


def output_size(n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Cells a convolution or pooling window leaves along one axis: ⌊(n + 2p − d·(k − 1) − 1)/s⌋ + 1.

    Raises ValueError, saying why, when the window does not fit the padded input even once.
    Example: ``output_size(28, 5) == 24``; ``output_size(64, 5, stride=2) == 30``.
    """
    n, kernel = _int("input size n", n, 1), _int("kernel", kernel, 1)
    stride, padding, dilation = _int("stride", stride, 1), _int("padding", padding, 0), _int("dilation", dilation, 1)
    span = dilation * (kernel - 1) + 1  # pixels one window covers, the holes of a dilated kernel included
    if span > n + 2 * padding:
        dilated = f" with dilation {dilation}" if dilation != 1 else ""
        raise ValueError(
            f"A {kernel}-wide window{dilated} spans {span} pixels but the padded input has only "
            f"{n} + 2·{padding} = {n + 2 * padding}: not even one output. Use a smaller kernel, "
            f"padding ≥ {math.ceil((span - n) / 2)}, or a larger input.")
    return (n + 2 * padding - span) // stride + 1


def explain_output_size(n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> str:
    """The output-size formula with the numbers substituted (ValueError like ``output_size``).

    Example: ``explain_output_size(28, 5) == "⌊(28 + 2·0 − 1·(5−1) − 1)/1⌋ + 1 = 24"``.
    """
    size = output_size(n, kernel, stride, padding, dilation)
    return f"⌊({n} + 2·{padding} − {dilation}·({kernel}−1) − 1)/{stride}⌋ + 1 = {size}"


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class ShapeRow:
    name: str
    kind: str  # the layer's class name, e.g. "Conv2d"
    description: str  # models.describe(layer), e.g. "Conv2d(1→6, k=5, s=1, p=0)"
    output_shape: Shape  # (C, H, W) or (F,), without the batch
    params: int
    share: float  # % of the model's parameters
    receptive_field: int | None  # input pixels one output pixel sees along a side; None: the whole input
    jump: int | None  # input pixels between two neighbouring output pixels (effective stride)
    formula: str | None = None  # the output-size formula with the numbers (height), for convolutions and poolings
    input_shape: Shape = ()  # what the layer received

    @property
    def receptive_text(self) -> str:
        """``"6×6 px (jump 2)"``, or ``"whole input"`` after Flatten / Linear / global pooling."""
        if self.receptive_field is None:
            return "whole input"
        return f"{self.receptive_field}×{self.receptive_field} px (jump {self.jump})"


@dataclass
class ShapeReport:
    input_shape: Shape
    rows: list[ShapeRow] = field(default_factory=list)
    total_params: int = 0  # the whole model's; on a failed build, the layers built before the error
    error: str | None = None  # the ShapeMismatchError message: layer, shape, fix
    failing_layer: str | None = None  # the layer that refused the input
    model: str = ""  # the zoo name, or the module's class name

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def output_shape(self) -> Shape | None:
        """What the model returns per image, or None when the input does not get through."""
        return self.rows[-1].output_shape if self.ok and self.rows else None


def _formula(layer: nn.Module, height: int) -> str | None:
    """Output-size formula(s) along the height for every window the layer slides (a residual block has two)."""
    if isinstance(layer, nn.Conv2d) and isinstance(layer.padding, str):  # "same" may pad one more after
        return output_size_formula(height, layer.kernel_size[0], layer.stride[0], layer.padding, layer.dilation[0])
    steps = []
    for k, s, p, d in models.windows(layer):
        steps.append(explain_output_size(height, k, s, p, d))
        height = output_size(height, k, s, p, d)
    return "; then ".join(steps) or None


def _rows(traced: models.Traced, input_shape: Shape, total: int) -> list[ShapeRow]:
    rows, shape = [], tuple(input_shape)
    for row, (_, layer, out) in zip(models.rows_of(traced, input_shape), traced):
        formula = _formula(layer, shape[1]) if len(shape) == 3 else None
        rows.append(ShapeRow(row.name, row.kind, row.description, out, row.params,
                             100 * row.params / total if total else 0.0, row.receptive_field, row.jump,
                             formula, shape))
        shape = out
    return rows


def _input_shape(input_shape: Any) -> Shape:
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(f"input_shape is (C, H, W), got {input_shape!r}")
    return tuple(_int(axis, v, 1) for axis, v in zip(("channels", "height", "width"), shape))


def explore(model_name_or_module: str | nn.Module, input_shape: Shape, **build_options: Any) -> ShapeReport:
    """Per-layer shapes, parameters and receptive fields of a zoo model (built for ``input_shape``) or a module.

    ``build_options`` go to ``models.build`` (``num_classes`` defaults to 10). A shape mismatch is not raised:
    ``report.error`` explains it and ``report.rows`` stop before the failing layer (after a failed build the
    shares are of the layers built before the error). Unknown models or options still raise ValueError /
    TypeError.
    Example: ``explore("lenet", (1, 28, 28), strict_input=True).error`` starts with ``"fc1: Linear(400 → 120)"``.
    """
    shape = _input_shape(input_shape)
    if isinstance(model_name_or_module, str):
        name = model_name_or_module
        num_classes = build_options.pop("num_classes", 10)
        try:
            # On the meta device: shapes and parameter counts without a byte of weights or activations, so a
            # student's 512-channel network on a 1024×1024 input costs the shared server nothing.
            with torch.device("meta"):
                model = models.build(name, in_channels=shape[0], num_classes=num_classes, image_size=shape[1:],
                                     **build_options)
        except models.ShapeMismatchError as exc:  # the input does not get through the conv part
            return _failed(name, shape, exc, sum(models.total_params(m) for _, m in exc.layers))
    elif isinstance(model_name_or_module, nn.Module):
        if build_options:
            raise TypeError(f"build options {sorted(build_options)} only apply to zoo names, not to a "
                            f"{type(model_name_or_module).__name__}; build the module with them instead")
        model = model_name_or_module
        name = type(model).__name__
    else:
        raise TypeError(f"explore takes a zoo name ({', '.join(models.list_models())}) or an nn.Module, "
                        f"got {type(model_name_or_module).__name__}")
    total = models.total_params(model)
    try:
        traced = models.trace(model, shape)
    except models.ShapeMismatchError as exc:
        return _failed(name, shape, exc, total)
    return ShapeReport(shape, _rows(traced, shape, total), total, model=name)


def _failed(name: str, shape: Shape, exc: models.ShapeMismatchError, total: int) -> ShapeReport:
    return ShapeReport(shape, _rows(exc.traced, shape, total), total, str(exc), exc.layer, name)


def largest_layer(report: ShapeReport) -> tuple[str, float] | None:
    """(name, % of the parameters) of the layer holding the most parameters; None when no layer has any.

    Example: ``largest_layer(explore("cats_dogs_cnn", (3, 64, 64), num_classes=2))`` → ``("fc1", 95.86…)``.
    """
    with_params = [row for row in report.rows if row.params]
    if not with_params:
        return None
    row = max(with_params, key=lambda r: r.params)
    return row.name, row.share
