"""Shape explorer core: what every layer does to the shape of the data, and where the parameters live.

``explore`` walks a zoo model (or any ``nn.Sequential``) with a zeros input and reports, per top-level
layer, its output shape, parameters, share of all parameters, receptive field and jump, and the
output-size formula with the numbers filled in. A model that cannot take the input does not raise:
the report keeps the rows traced up to the failing layer and ``.error`` holds the explanation
(``models.ShapeMismatchError``'s message, which names the layer, the sizes and the fix).

Example::

    report = explore("lenet", (1, 32, 32))
    report.rows[0].output_shape      # (6, 28, 28)
    largest_layer(report)            # ("fc1", 78.0...)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from vision_core import models
from vision_core.convolution import output_size_formula

WHOLE_INPUT = "whole input"
_MIXES_EVERYTHING = (nn.Flatten, nn.Linear, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


@dataclass
class ShapeRow:
    name: str
    kind: str  # the layer's class name, e.g. "Conv2d"
    description: str  # models.describe(layer), e.g. "Conv2d(1→6, k=5, s=1, p=0)"
    output_shape: tuple[int, ...]  # without the batch dimension
    params: int
    share: float  # percent of the model's parameters
    receptive_field: int | None  # input pixels (per side) one output pixel sees; None: the whole input
    jump: int | None  # input pixels between two neighbouring output pixels; None: the whole input
    formula: str | None = None  # output-size formula along the height, for convolutions and poolings

    @property
    def receptive_text(self) -> str:
        """``"5×5 px (jump 1)"`` or ``"whole input"`` for tables."""
        if self.receptive_field is None:
            return WHOLE_INPUT
        return f"{self.receptive_field}×{self.receptive_field} px (jump {self.jump})"


@dataclass
class ShapeReport:
    input_shape: tuple[int, int, int]
    rows: list[ShapeRow] = field(default_factory=list)
    total_params: int = 0
    error: str | None = None  # the ShapeMismatchError message when the input does not fit
    failing_layer: str | None = None  # the layer that refused the input, when known


def _pair(value: Any) -> int:
    """The height component of an int-or-tuple layer setting."""
    return int(value[0]) if isinstance(value, (tuple, list)) else int(value)


def _window(layer: nn.Module) -> tuple[int, int, int, int] | None:
    """(kernel, stride, padding, dilation) along the height for layers that slide a window, else None."""
    if isinstance(layer, nn.Conv2d):
        padding = layer.padding if isinstance(layer.padding, str) else _pair(layer.padding)
        return _pair(layer.kernel_size), _pair(layer.stride), padding, _pair(layer.dilation)
    if isinstance(layer, nn.MaxPool2d):
        return _pair(layer.kernel_size), _pair(layer.stride), _pair(layer.padding), _pair(layer.dilation)
    if isinstance(layer, nn.AvgPool2d):
        return _pair(layer.kernel_size), _pair(layer.stride), _pair(layer.padding), 1
    return None


def _inner_windows(layer: nn.Module) -> list[tuple[int, int, int, int]]:
    """Windows a layer slides in order; a residual block counts its main path (the shortcut sees less)."""
    own = _window(layer)
    if own is not None:
        return [own]
    if isinstance(layer, (nn.Sequential, models.BasicBlock)):
        return [w for child in layer.children() for w in _inner_windows(child)]
    return []


def _children(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return list(model.named_children()) if isinstance(model, nn.Sequential) else [("model", model)]


def _rows(traced, input_shape: tuple[int, int, int], total: int) -> list[ShapeRow]:
    """ShapeRows from (name, layer, output shape) triples: r ← r + (k − 1)·d·j, j ← j·s, from r = j = 1."""
    rows: list[ShapeRow] = []
    r, j, whole = 1, 1, False
    height = input_shape[1]  # the height entering the current layer, for the formula
    for name, layer, shape in traced:
        whole = whole or isinstance(layer, _MIXES_EVERYTHING)
        formula = None
        steps = _inner_windows(layer)
        for k, s, _, d in steps:
            r, j = r + (k - 1) * d * j, j * s
        own = _window(layer)
        if own is not None:
            k, s, p, d = own
            formula = output_size_formula(height, k, s, p, d)
        params = sum(p.numel() for p in layer.parameters())
        rows.append(ShapeRow(
            name=name, kind=type(layer).__name__, description=models.describe(layer),
            output_shape=tuple(shape), params=params, share=100.0 * params / total if total else 0.0,
            receptive_field=None if whole else r, jump=None if whole else j, formula=formula))
        if len(shape) == 3:
            height = shape[1]
    return rows


def explore(model: str | nn.Module, input_shape: tuple[int, int, int], *, num_classes: int = 10,
            **build_options: Any) -> ShapeReport:
    """Per-layer shapes, parameters and receptive fields of ``model`` on a C×H×W input.

    ``model`` is a zoo name (built for ``input_shape`` with ``build_options``, e.g. ``strict_input=True``)
    or an ``nn.Module``. An input the model cannot take fills ``.error`` instead of raising; TypeError and
    ValueError for bad options (unknown option, negative size) still raise.
    Example: ``explore("lenet", (1, 28, 28), strict_input=True).error`` mentions 400 and 256.
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3:
        raise ValueError(f"input_shape is (C, H, W), got {input_shape!r}")
    report = ShapeReport(input_shape=shape)  # type: ignore[arg-type]
    if isinstance(model, str):
        c, h, w = shape
        try:
            model = models.build(model, in_channels=c, num_classes=num_classes, image_size=(h, w), **build_options)
        except models.ShapeMismatchError as exc:  # too small even for the conv part: no model to count
            traced = getattr(exc, "traced", [])
            report.total_params = sum(p.numel() for _, layer, _ in traced for p in layer.parameters())
            report.rows = _rows(traced, shape, report.total_params)
            report.error, report.failing_layer = str(exc), getattr(exc, "layer", None)
            return report
    elif build_options:
        raise TypeError(f"build options {sorted(build_options)} only apply to zoo names, not to a "
                        f"{type(model).__name__}; build the module with them instead")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a zoo name or an nn.Module, got {type(model).__name__}")
    report.total_params = models.total_params(model)
    try:
        traced = models.trace(model, shape)
    except models.ShapeMismatchError as exc:
        traced = getattr(exc, "traced", [])
        report.error, report.failing_layer = str(exc), getattr(exc, "layer", None)
    report.rows = _rows(traced, shape, report.total_params)
    return report


def largest_layer(report: ShapeReport) -> tuple[str, float] | None:
    """(name, % of parameters) of the layer holding the most parameters; None without parameters.

    Example: ``largest_layer(explore("cats_dogs_cnn", (3, 64, 64)))[0] == "fc1"``.
    """
    with_params = [row for row in report.rows if row.params]
    if not with_params:
        return None
    row = max(with_params, key=lambda r: r.params)
    return row.name, row.share
