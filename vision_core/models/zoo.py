"""Model zoo: the tutorials' architectures, layer for layer, plus a small ResNet and a custom template.

A registry in the style of torchvision.models: ``@register_model`` on small keyword-only builders,
``list_models()``, ``model_info(name)``, ``build(name, ...)``. Every model is an ``nn.Sequential``
of named layers (``conv1``, ``relu1``, ``pool1``, ``flatten``, ``fc1``…), so the inspection pages can
walk it in order; the first ``nn.Conv2d`` is "the first-layer filters".

Linear layers are sized for the ``image_size`` the model is built for (a dry run of the conv part
measures the flatten size); with the recipe's own input each model has exactly the tutorial's layers
and parameter count. ``strict_input=True`` keeps the recipe's flatten size instead, to show the classic
mismatch (LeNet's ``Linear(400, 120)`` on 28×28 digits), which ``check_input`` then explains.

Example: ``build("lenet", in_channels=1, num_classes=10, image_size=32)``.
"""

from __future__ import annotations

import functools
import inspect
import math
import operator
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

Layers = list[tuple[str, nn.Module]]
Traced = list[tuple[str, nn.Module, tuple[int, ...]]]  # (name, layer, output shape without the batch)
_BUILD_ARGS = ("in_channels", "num_classes", "image_size")


class ShapeMismatchError(ValueError):
    """A model that cannot take the input shape; the message names the layer, the shape and the fix.

    ``layer`` is the failing layer's name and ``traced`` the (name, layer, output shape) of the layers
    before it, so a page can show how far the input got.
    """

    def __init__(self, message: str, *, layer: str | None = None, traced: Traced | None = None,
                 problem: str | None = None, layers: Layers | None = None) -> None:
        super().__init__(message)
        self.layer = layer
        self.traced = list(traced or [])
        self.problem = problem or message  # the message without the fix
        self.layers = list(layers or [])  # every top-level (name, layer) of the model that failed


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class ModelInfo:
    name: str
    title: str
    description: str
    recipe_input: tuple[int, int, int]  # (C, H, W) the tutorial used
    source: str  # the tutorial (SEEDS.md section) the architecture comes from
    builder: Callable[..., nn.Module]

    @property
    def options(self) -> dict[str, Any]:
        """The builder's keyword options and their defaults."""
        return {p.name: p.default for p in inspect.signature(self.builder).parameters.values()
                if p.kind is p.KEYWORD_ONLY and p.name not in _BUILD_ARGS}


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(name: str, *, title: str, description: str, recipe_input: tuple[int, int, int], source: str):
    """Decorator adding a keyword-only builder ``f(*, in_channels, num_classes, image_size, **options)``."""
    def decorator(builder):
        if name in _REGISTRY:
            raise ValueError(f"A model named {name!r} is already registered")
        _REGISTRY[name] = ModelInfo(name, title, description, recipe_input, source, builder)
        return builder

    return decorator


def list_models() -> list[str]:
    """Registered names, in the order the tutorials introduce them. Example: ``list_models()[0] == "linear"``."""
    return list(_REGISTRY)


def model_info(name: str) -> ModelInfo:
    """Title, description, recipe input (C, H, W), source and options of a model. Example: ``model_info("lenet")``."""
    if name not in _REGISTRY:
        raise ValueError(f"Unknown model {name!r}; known models: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def _positive_int(name: str, value: Any, low: int = 1, high: int | None = None) -> int:
    """``value`` as an int in [low, high], or a TypeError/ValueError naming the option."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        if isinstance(value, float) and value.is_integer():  # number widgets hand back 3.0
            number = int(value)
        else:
            raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if number < low or (high is not None and number > high):
        allowed = f"{low}..{high}" if high is not None else f"≥ {low}"
        raise ValueError(f"{name} must be {allowed}, got {number}")
    return number


def _size(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, (list, tuple)):
        if len(image_size) != 2:
            raise ValueError(f"image_size is an int or (height, width), got {image_size!r}")
        return _positive_int("image height", image_size[0]), _positive_int("image width", image_size[1])
    side = _positive_int("image_size", image_size)
    return side, side


def build(name: str, *, in_channels: int, num_classes: int, image_size: int | tuple[int, int],
          **options: Any) -> nn.Sequential:
    """Build a zoo model for ``in_channels``×``image_size`` inputs and ``num_classes`` outputs.

    Raises ShapeMismatchError (naming the layer and the fix) when the input is too small for the
    layers, TypeError for an unknown option (listing the allowed ones), ValueError for a bad value.
    Example: ``build("tinyvgg", in_channels=1, num_classes=10, image_size=28, hidden_units=10)``.
    """
    info = model_info(name)
    allowed = info.options
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"{name} does not take option(s) {unknown}; allowed: {sorted(allowed) or 'none'}")
    in_channels = _positive_int("in_channels", in_channels)
    num_classes = _positive_int("num_classes", num_classes)
    size = _size(image_size)
    try:
        model = info.builder(in_channels=in_channels, num_classes=num_classes, image_size=size, **options)
    except ShapeMismatchError as exc:  # the builder's dry run does not know the recipe: add it to the fix
        fix = _fix_hint(dict(exc.layers).get(exc.layer), (in_channels, *size), _recipe(info), exc.layers)
        raise ShapeMismatchError(f"{exc.problem} {fix}", layer=exc.layer, traced=exc.traced,
                                 problem=exc.problem, layers=exc.layers) from None
    model.recipe_input = _recipe(info)  # so error messages can say what it was designed for
    return model


def _recipe(info: ModelInfo) -> tuple[int, int, int] | None:
    """The input a zoo model's tutorial used; None for the custom template (a student's own set-up has no
    recipe to quote)."""
    return None if info.name == "custom" else info.recipe_input


# --------------------------------------------------------------------------- describing layers


def describe(layer: nn.Module) -> str:
    """``Conv2d(1→6, k=5, s=1, p=0)``-style one-liners for tables and messages."""
    if isinstance(layer, nn.Conv2d):
        extra = f", d={layer.dilation[0]}" if layer.dilation[0] != 1 else ""
        return (f"Conv2d({layer.in_channels}→{layer.out_channels}, k={layer.kernel_size[0]}, "
                f"s={layer.stride[0]}, p={layer.padding[0]}{extra})")
    if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
        k = layer.kernel_size if isinstance(layer.kernel_size, int) else "×".join(map(str, layer.kernel_size))
        s = layer.stride if isinstance(layer.stride, int) else "×".join(map(str, layer.stride))
        return f"{type(layer).__name__}(k={k}, s={s})"
    if isinstance(layer, nn.Linear):
        return f"Linear({layer.in_features} → {layer.out_features})"
    if isinstance(layer, nn.BatchNorm2d):
        return f"BatchNorm2d({layer.num_features})"
    if isinstance(layer, nn.Dropout):
        return f"Dropout(p={layer.p})"
    if isinstance(layer, nn.AdaptiveAvgPool2d):
        return f"AdaptiveAvgPool2d({layer.output_size})"
    if isinstance(layer, BasicBlock):
        return f"BasicBlock({layer.conv1.in_channels}→{layer.conv2.out_channels}, s={layer.conv1.stride[0]})"
    return type(layer).__name__


def _shape_text(shape: Sequence[int]) -> str:
    return "×".join(str(s) for s in shape)


def _axis(value: int | Sequence[int], axis: int) -> int:
    return value[axis] if isinstance(value, (tuple, list)) else value


def windows(layer: nn.Module, axis: int = 0) -> list[tuple[int, int, int, int]]:
    """(kernel, stride, padding, dilation) steps a layer slides along one spatial axis (0: height), in order.

    Element-wise layers (ReLU, BatchNorm, Dropout) slide nothing: ``[]``.
    Example: ``windows(nn.MaxPool2d(2)) == [(2, 2, 0, 1)]``.
    """
    if isinstance(layer, nn.Conv2d):
        k, d = layer.kernel_size[axis], layer.dilation[axis]
        if isinstance(layer.padding, str):  # "valid": none; "same": d·(k − 1) in total (the odd cell after)
            padding = 0 if layer.padding == "valid" else d * (k - 1) // 2
        else:
            padding = layer.padding[axis]
        return [(k, layer.stride[axis], padding, d)]
    if isinstance(layer, nn.MaxPool2d):
        return [(_axis(layer.kernel_size, axis), _axis(layer.stride, axis), _axis(layer.padding, axis),
                 _axis(layer.dilation, axis))]
    if isinstance(layer, nn.AvgPool2d):
        return [(_axis(layer.kernel_size, axis), _axis(layer.stride, axis), _axis(layer.padding, axis), 1)]
    if isinstance(layer, BasicBlock):  # the shortcut (1×1, same stride) never sees more than the main path
        return [(3, layer.conv1.stride[axis], 1, 1), (3, 1, 1, 1)]
    if isinstance(layer, nn.Sequential):  # a nested block runs its children in order
        return [step for child in layer for step in windows(child, axis)]
    return []


def smallest_input(layers: Sequence[nn.Module]) -> tuple[int, int]:
    """The smallest H×W every sliding layer still fits: walk back from a 1×1 output.

    An output of n needs an input of (n − 1)·s + d·(k − 1) + 1 − 2p (at least 1).
    Example: LeNet's layers give ``(16, 16)``.
    """
    needed = []
    for axis in (0, 1):
        n = 1
        for layer in reversed(list(layers)):
            for k, s, p, d in reversed(windows(layer, axis)):
                n = max(1, (n - 1) * s + d * (k - 1) + 1 - 2 * p)
        needed.append(n)
    return needed[0], needed[1]


def sees_whole_input(layers: Sequence[nn.Module], input_size: Sequence[int],
                     output_shapes: Sequence[Sequence[int]]) -> list[bool]:
    """Per layer: whether every one of its output pixels sees every input pixel, on both axes.

    That is a global pooling written as a plain pool (the smile CNN's ``AvgPool2d(8)`` on 8×8 maps), or
    windows that span the whole map. Along each axis it follows which input pixels each map pixel sees (a
    bit mask per pixel), so padding, dilation gaps and rows a floored pooling drops count as they should.
    Example: the smile CNN on 3×64×64 gives True from its avgpool on, False before.
    """
    flags = [True] * len(layers)
    for axis in (0, 1):
        everything = (1 << input_size[axis]) - 1
        cover: list[int] | None = [1 << x for x in range(input_size[axis])]  # per map pixel: bit x = input pixel x
        for i, (layer, shape) in enumerate(zip(layers, output_shapes)):
            steps = windows(layer, axis)
            n_out = shape[1 + axis] if len(shape) == 3 else None
            for number, (k, s, p, d) in enumerate(steps):
                if cover is None:
                    break
                n = n_out if number == len(steps) - 1 else (len(cover) + 2 * p - d * (k - 1) - 1) // s + 1
                cover = [functools.reduce(operator.or_, (cover[j] for j in range(o * s - p, o * s - p + d * k, d)
                                                         if 0 <= j < len(cover)), 0) for o in range(n or 0)]
            if cover is not None and len(cover) != n_out:  # a layer that resizes without a window: unknown
                cover = None
            flags[i] = flags[i] and cover is not None and all(c == everything for c in cover)
    return flags


def receptive_fields(layers: Sequence[nn.Module], input_size: Sequence[int] | None = None,
                     output_shapes: Sequence[Sequence[int]] | None = None) -> list[tuple[int | None, int | None]]:
    """(receptive field, jump) after each layer along the height: r ← r + (k − 1)·d·j, j ← j·s (1, 1 at the input).

    ``(None, None)`` once a layer mixes the whole input: Flatten, Linear, adaptive pooling, and, given the input
    (H, W) and each layer's output shape, any layer whose every output pixel sees every input pixel (a global
    pool written as ``AvgPool2d(8)`` on 8×8 maps: "94×94 px" on a 64×64 image would overstate it).
    """
    r, j, out = 1, 1, []
    whole = False
    global_flags = (sees_whole_input(layers, input_size, output_shapes) if input_size is not None
                    and output_shapes is not None else [False] * len(layers))
    for layer, global_here in zip(layers, global_flags):
        if global_here or isinstance(layer, (nn.Flatten, nn.Linear, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            whole = True
        for k, s, _, d in windows(layer):
            r, j = r + (k - 1) * d * j, j * s
        out.append((None, None) if whole else (r, j))
    return out


# --------------------------------------------------------------------------- shape tracing and messages


LARGEST_INPUT = 256  # the classroom's default max_image_size: advice never asks for a bigger image than this
BUILD_FOR_THIS_SIZE = ("let the dashboard size its Linear layers for this input (turn off \"Keep the recipe's "
                       "Linear\")")


def _fix_hint(failing: nn.Module | None, input_shape: tuple[int, int, int], recipe: tuple[int, int, int] | None,
              layers: Layers) -> str:
    """How to make ``input_shape`` fit, in the options a student has: a resize the form offers, padding, a smaller
    kernel, fewer pooling blocks, or Linear layers sized for this input."""
    c, h, w = input_shape
    if failing is None or not isinstance(failing, nn.Linear):  # the conv/pool stack leaves nothing
        need_h, need_w = smallest_input([m for _, m in layers])
        shrink = "give the convolutions padding, use a smaller kernel, or use fewer pooling blocks"
        if max(need_h, need_w) > LARGEST_INPUT:  # no resize a classroom allows would help: do not suggest one
            return f"No image size up to {LARGEST_INPUT}×{LARGEST_INPUT} fits these layers: {shrink}."
        text = f"These layers need images of at least {need_h}×{need_w}"
        if recipe:
            text += f" (the recipe uses {recipe[1]}×{recipe[2]})"
        return text + f": resize the images to that size or more, or {shrink}."
    if recipe and recipe[1:] != (h, w):
        hint = f"This model was designed for {_shape_text(recipe)} inputs: resize the images to {recipe[1]}×{recipe[2]}"
        pad = (recipe[1] - h) / 2
        first_slider = next((m for _, m in layers if windows(m)), None)
        if (isinstance(first_slider, nn.Conv2d) and pad > 0 and pad == int(pad)
                and recipe[1] - h == recipe[2] - w):
            hint += f", or give the first convolution padding={int(pad)} ({h} + 2·{int(pad)} = {recipe[1]})"
        return hint + f", or {BUILD_FOR_THIS_SIZE}."
    if recipe and recipe[0] != c:
        return f"This model was designed for {recipe[0]}-channel inputs: convert the images, or {BUILD_FOR_THIS_SIZE}."
    return f"To fit, {BUILD_FOR_THIS_SIZE}."


def _explain(name: str, layer: nn.Module, shape: tuple[int, ...], last_map: tuple[int, ...] | None,
             input_shape: tuple[int, int, int], error: Exception | None) -> tuple[str, bool]:
    """(one sentence: which layer, what it expected, what it got; whether the input's channels are the problem)."""
    if error is None:
        return f"{name}: {describe(layer)} leaves nothing of a {_shape_text(shape)} input.", False
    if isinstance(layer, nn.Linear):
        got = shape[-1] if shape else 0
        origin = (f"{_shape_text(last_map)} flattened, from a {_shape_text(input_shape)} input"
                  if last_map and last_map != input_shape else f"a {_shape_text(input_shape)} input flattened")
        return (f"{name}: {describe(layer)} expects {layer.in_features} input features but got {got} "
                f"({origin})."), False
    if len(shape) == 3 and isinstance(layer, nn.Conv2d) and shape[0] != layer.in_channels:
        return f"{name}: {describe(layer)} expects {layer.in_channels} channel(s) but the input has {shape[0]}.", True
    window = windows(layer, 0)[:1] + windows(layer, 1)[:1]
    if len(shape) == 3 and len(window) == 2:
        # PyTorch says "Calculated padded input size per channel: (8 x 8). Kernel size: (11 x 11)"; say it plainly.
        (kh, _, ph, dh), (kw, _, pw, dw) = window
        reach_h, reach_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
        padded_h, padded_w = shape[1] + 2 * ph, shape[2] + 2 * pw
        if reach_h > padded_h or reach_w > padded_w:
            padding = f" ({padded_h}×{padded_w} with its padding)" if ph or pw else ""
            return (f"{name}: {describe(layer)} has a window of {reach_h}×{reach_w} pixels, larger than the "
                    f"{shape[1]}×{shape[2]} map it gets{padding}."), False
    return f"{name}: {describe(layer)} cannot take a {_shape_text(shape)} input ({str(error).splitlines()[0]}).", False


def trace(model: nn.Module, input_shape: tuple[int, int, int]) -> Traced:
    """Run a zeros input through the top-level layers: (name, layer, output shape without batch) per layer.

    Raises ShapeMismatchError at the first layer that cannot take what it gets (or leaves an empty map).
    The model runs in eval mode (BatchNorm refuses a batch of one in training) and is restored after.
    """
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape is (C, H, W), got {input_shape}")
    children = list(model.named_children()) if isinstance(model, nn.Sequential) else [("model", model)]
    was_training = model.training
    model.eval()
    rows: Traced = []
    last_map = None  # the last C×H×W shape, to say what a Linear received once flattened
    try:
        x = torch.zeros(1, *input_shape, device=next(model.parameters(), torch.zeros(0)).device)
        with torch.no_grad():
            for name, layer in children:
                shape = tuple(x.shape[1:])
                if len(shape) == 3:
                    last_map = shape
                try:
                    x = layer(x)
                except RuntimeError as exc:
                    error: Exception | None = exc
                else:
                    if x.dim() != 4 or min(x.shape[2:]) >= 1:
                        rows.append((name, layer, tuple(x.shape[1:])))
                        continue
                    error = None  # an empty map: nothing failed yet, but nothing is left either
                problem, channels = _explain(name, layer, shape, last_map, input_shape, error)
                fix = ("Build the model for the dataset's number of channels." if channels else
                       _fix_hint(layer, input_shape, getattr(model, "recipe_input", None), children))
                raise ShapeMismatchError(f"{problem} {fix}", layer=name, traced=rows, problem=problem,
                                         layers=children)
    finally:
        model.train(was_training)
    return rows


def check_input(model: nn.Module, input_shape: tuple[int, int, int]) -> None:
    """Raise ShapeMismatchError (layer, shape it got, fix) unless ``model`` can take ``input_shape``.

    Example: ``check_input(build("lenet", in_channels=1, num_classes=10, image_size=32), (1, 32, 32))``.
    """
    trace(model, input_shape)


@dataclass
class LayerRow:
    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    trainable: int
    description: str
    receptive_field: int | None = None  # input pixels one output pixel sees (per side); None: the whole input
    jump: int | None = None  # input pixels between two neighbouring output pixels


def rows_of(traced: Traced, input_shape: Sequence[int] | None = None) -> list[LayerRow]:
    """LayerRows (parameters, receptive fields) for what ``trace`` returned or a ShapeMismatchError holds.

    With the (C, H, W) ``input_shape`` a global pooling layer's receptive field is the whole input.
    """
    fields = receptive_fields([layer for _, layer, _ in traced], input_shape[1:] if input_shape else None,
                              [shape for _, _, shape in traced])
    return [LayerRow(name, type(layer).__name__, shape, sum(p.numel() for p in layer.parameters()),
                     sum(p.numel() for p in layer.parameters() if p.requires_grad), describe(layer), rf, jump)
            for (name, layer, shape), (rf, jump) in zip(traced, fields)]


def summary(model: nn.Module, input_shape: tuple[int, int, int]) -> list[LayerRow]:
    """Per top-level layer: output shape, parameters, receptive field (a residual block is one row).

    Raises ShapeMismatchError like ``check_input``.
    Example: ``summary(build("lenet", in_channels=1, num_classes=10, image_size=32), (1, 32, 32))[0].output_shape
    == (6, 28, 28)``.
    """
    return rows_of(trace(model, input_shape), input_shape)


def total_params(model: nn.Module) -> int:
    """All parameters, trainable or not. Example: LeNet on 1×32×32 has 61,706."""
    return sum(p.numel() for p in model.parameters())


def num_outputs(model: nn.Module) -> int:
    """Size of the last Linear layer: 1 means one logit, trained with BCE-with-logits (sigmoid when predicting)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no Linear layer, so its number of outputs is unknown")
    return linears[-1].out_features


# --------------------------------------------------------------------------- building blocks


def _with_head(features: Layers, head: Callable[[int], Layers], in_channels: int, image_size: tuple[int, int],
               recipe_flat: int | None = None, strict_input: bool = False) -> nn.Sequential:
    """features → flatten → head(flat features). The flat size comes from a dry run of the features.

    Non-strict models are checked end to end: a too-small input raises ShapeMismatchError here.
    A strict model keeps ``recipe_flat`` and may fail later: that is the lesson it teaches.
    """
    if strict_input and recipe_flat is not None:
        flat = recipe_flat
    else:
        traced = trace(nn.Sequential(OrderedDict(features)), (in_channels, *image_size)) if features else []
        out = traced[-1][2] if traced else (in_channels, *image_size)
        flat = math.prod(out)  # plain ints: also works while building on the meta device
    return nn.Sequential(OrderedDict([*features, ("flatten", nn.Flatten()), *head(flat)]))


def _classifier_120_84(num_classes: int) -> Callable[[int], Layers]:
    """LeNet's and the CIFAR Net's head: flat → 120 → ReLU → 84 → ReLU → classes."""
    return lambda flat: [("fc1", nn.Linear(flat, 120)), ("relu3", nn.ReLU()), ("fc2", nn.Linear(120, 84)),
                         ("relu4", nn.ReLU()), ("fc3", nn.Linear(84, num_classes))]


# --------------------------------------------------------------------------- the zoo


@register_model("linear", title="V0: linear baseline", recipe_input=(1, 28, 28),
                source="Computer vision with CNNs (model_0)",
                description="Flatten → Linear → Linear. No non-linearity: a linear classifier in disguise.")
def linear(*, in_channels, num_classes, image_size, hidden_units: int = 10, strict_input: bool = False):
    hidden = _positive_int("hidden_units", hidden_units)
    return _with_head([], lambda flat: [("fc1", nn.Linear(flat, hidden)), ("fc2", nn.Linear(hidden, num_classes))],
                      in_channels, image_size, 784, strict_input)


@register_model("mlp", title="V1: MLP (ReLU on the logits)", recipe_input=(1, 28, 28),
                source="Computer vision with CNNs (model_1)",
                description="Flatten → Linear → ReLU → Linear → ReLU. The last ReLU clips negative logits: "
                            "why V1 does worse than V0.")
def mlp(*, in_channels, num_classes, image_size, hidden_units: int = 10, relu_on_logits: bool = True,
        strict_input: bool = False):
    hidden = _positive_int("hidden_units", hidden_units)

    def head(flat):
        layers = [("fc1", nn.Linear(flat, hidden)), ("relu1", nn.ReLU()), ("fc2", nn.Linear(hidden, num_classes))]
        return layers + ([("relu2", nn.ReLU())] if relu_on_logits else [])

    return _with_head([], head, in_channels, image_size, 784, strict_input)


@register_model("tinyvgg", title="TinyVGG (CNN Explainer's network)", recipe_input=(1, 28, 28),
                source="Computer vision with CNNs (model_2)",
                description="Two VGG blocks of [Conv → ReLU → Conv → ReLU → MaxPool], then one Linear.")
def tinyvgg(*, in_channels, num_classes, image_size, hidden_units: int = 10, strict_input: bool = False):
    h = _positive_int("hidden_units", hidden_units)
    features = [
        ("conv1", nn.Conv2d(in_channels, h, 3, padding=1)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(h, h, 3, padding=1)), ("relu2", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv3", nn.Conv2d(h, h, 3, padding=1)), ("relu3", nn.ReLU()),
        ("conv4", nn.Conv2d(h, h, 3, padding=1)), ("relu4", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
    ]
    return _with_head(features, lambda flat: [("fc1", nn.Linear(flat, num_classes))],
                      in_channels, image_size, h * 7 * 7, strict_input)


@register_model("lenet", title="LeNet-5", recipe_input=(1, 32, 32), source="LeNet with PyTorch Lightning",
                description="Conv(5) → MaxPool → ReLU twice, then 120 → 84 → classes. Made for 32×32 digits.")
def lenet(*, in_channels, num_classes, image_size, strict_input: bool = False):
    features = [  # MaxPool before ReLU, as the tutorial wrote it (the two commute for max pooling)
        ("conv1", nn.Conv2d(in_channels, 6, 5)), ("pool1", nn.MaxPool2d(2)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(6, 16, 5)), ("pool2", nn.MaxPool2d(2)), ("relu2", nn.ReLU()),
    ]
    return _with_head(features, _classifier_120_84(num_classes), in_channels, image_size, 16 * 5 * 5, strict_input)


@register_model("cifar_net", title="CIFAR-10 Net", recipe_input=(3, 32, 32), source="Training a classifier",
                description="PyTorch's 60-minute-blitz network: Conv(5) → ReLU → MaxPool twice, "
                            "then 120 → 84 → classes.")
def cifar_net(*, in_channels, num_classes, image_size, strict_input: bool = False):
    features = [
        ("conv1", nn.Conv2d(in_channels, 6, 5)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(6, 16, 5)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
    ]
    return _with_head(features, _classifier_120_84(num_classes), in_channels, image_size, 16 * 5 * 5, strict_input)


@register_model("mnist_cnn", title="Textbook MNIST CNN", recipe_input=(1, 28, 28),
                source="Classifying images with deep CNNs",
                description="Conv(32, 5, p=2) → ReLU → MaxPool → Conv(64, 5, p=2) → ReLU → MaxPool → "
                            "1024 → Dropout(0.5) → classes.")
def mnist_cnn(*, in_channels, num_classes, image_size, strict_input: bool = False):
    features = [
        ("conv1", nn.Conv2d(in_channels, 32, 5, padding=2)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(32, 64, 5, padding=2)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
    ]
    return _with_head(features, lambda flat: [
        ("fc1", nn.Linear(flat, 1024)), ("relu3", nn.ReLU()), ("dropout1", nn.Dropout(0.5)),
        ("fc2", nn.Linear(1024, num_classes))], in_channels, image_size, 64 * 7 * 7, strict_input)


@register_model("smile_cnn", title="Smile classifier CNN", recipe_input=(3, 64, 64),
                source="Classifying images with deep CNNs",
                description="Four conv blocks with dropout, global average pooling, one logit for two classes "
                            "(trained with BCE-with-logits; the tutorial's Sigmoid is applied when predicting).")
def smile_cnn(*, in_channels, num_classes, image_size, strict_input: bool = False):
    # The final AvgPool covers what three MaxPool(2) leave (⌊n/8⌋): AvgPool(8) at 64×64, global pooling
    # at any size. On inputs under 8 px the max(1, …) keeps the layer buildable and the dry run names pool3.
    h, w = image_size
    features = [
        ("conv1", nn.Conv2d(in_channels, 32, 3, padding=1)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("dropout1", nn.Dropout(0.5)),
        ("conv2", nn.Conv2d(32, 64, 3, padding=1)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ("dropout2", nn.Dropout(0.5)),
        ("conv3", nn.Conv2d(64, 128, 3, padding=1)), ("relu3", nn.ReLU()), ("pool3", nn.MaxPool2d(2)),
        ("conv4", nn.Conv2d(128, 256, 3, padding=1)), ("relu4", nn.ReLU()),
        ("avgpool", nn.AvgPool2d((max(1, h // 8), max(1, w // 8)))),
    ]
    # Two classes → one logit (the tutorial's Linear(256, 1)); the Sigmoid lives in BCEWithLogitsLoss.
    out = 1 if num_classes == 2 else num_classes
    return _with_head(features, lambda flat: [("fc1", nn.Linear(flat, out))], in_channels, image_size,
                      256, strict_input)


@register_model("cats_dogs_cnn", title="Cats-vs-dogs ImageClassifier", recipe_input=(3, 64, 64),
                source="First deep learning model (Lightning)",
                description="Two small convs, then four Linear layers with no activation between them: "
                            "~96% of the parameters sit in the first Linear.")
def cats_dogs_cnn(*, in_channels, num_classes, image_size, strict_input: bool = False):
    features = [
        ("conv1", nn.Conv2d(in_channels, 3, 3, padding=1)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(3, 6, 3, padding=1)), ("relu2", nn.ReLU()),
    ]
    return _with_head(features, lambda flat: [  # no activation between the Linears, as in the tutorial
        ("fc1", nn.Linear(flat, 1000)), ("fc2", nn.Linear(1000, 250)), ("fc3", nn.Linear(250, 60)),
        ("fc4", nn.Linear(60, num_classes))], in_channels, image_size, 6 * 32 * 32, strict_input)


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3×3 convs with BatchNorm and a shortcut (1×1 conv when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))  # (B, out, H/s, W/s)
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


@register_model("resnet", title="Small ResNet (modern)", recipe_input=(3, 32, 32), source="He et al., 2016",
                description="3×3 stem, three stages of residual blocks (16/32/64 channels), BatchNorm, "
                            "global average pooling. About 0.17M parameters.")
def resnet(*, in_channels, num_classes, image_size, width: int = 16, blocks_per_stage: int = 2,
           strict_input: bool = False):
    # strict_input is accepted for uniformity and changes nothing: global average pooling makes the
    # head independent of the image size.
    width = _positive_int("width", width, 4, 128)
    blocks_per_stage = _positive_int("blocks_per_stage", blocks_per_stage, 1, 4)
    layers: Layers = [("conv1", nn.Conv2d(in_channels, width, 3, padding=1, bias=False)),
                      ("bn1", nn.BatchNorm2d(width)), ("relu1", nn.ReLU())]
    channels = width
    for stage, out in enumerate((width, 2 * width, 4 * width), start=1):
        for b in range(1, blocks_per_stage + 1):
            stride = 2 if stage > 1 and b == 1 else 1  # halve the map where the channels double
            layers.append((f"block{stage}_{b}", BasicBlock(channels, out, stride)))
            channels = out
    layers.append(("avgpool", nn.AdaptiveAvgPool2d(1)))
    return _with_head(layers, lambda flat: [("fc1", nn.Linear(flat, num_classes))], in_channels, image_size)


class Scale(nn.Module):
    """Multiply by a constant: airbench's ×1/9 on the logits, which keeps the first softmax outputs soft."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor:g}"


def whitening_weights(images: torch.Tensor, kernel_size: int = 2, eps: float = 5e-4) -> torch.Tensor:
    """Conv filters (2·C·k², C, k, k) that whiten the k×k patches of ``images`` (N, C, H, W).

    Each eigenvector of the patches' second-moment matrix, divided by √(eigenvalue + eps), maps the
    patches to unit variance along it; the negated copies let the GELU after the conv pass both signs
    (airbench's initialisation). Example: ``whitening_weights(torch.randn(100, 3, 8, 8)).shape == (24, 3, 2, 2)``.
    """
    c, k = images.shape[1], kernel_size
    patches = images.unfold(2, k, 1).unfold(3, k, 1)  # (N, C, H−k+1, W−k+1, k, k)
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k).double()  # one (C, k, k) patch per row
    eigenvalues, eigenvectors = torch.linalg.eigh(patches.T @ patches / len(patches))  # ascending
    scaled = eigenvectors.T.flip(0) / torch.sqrt(eigenvalues.flip(0).clamp_min(0) + eps)[:, None]  # largest first
    filters = scaled.reshape(-1, c, k, k)
    return torch.cat([filters, -filters]).float()


class AirbenchNet(nn.Sequential):
    """airbench94's network; ``init_from_data`` whitens its first conv from training images."""

    def init_from_data(self, images: torch.Tensor) -> None:
        """Set ``conv1`` (frozen) to whiten the 2×2 patches of ``images``: normalised (N, C, H, W), ~5,000 do."""
        weight = self.conv1.weight
        with torch.no_grad():
            weight.copy_(whitening_weights(images.detach().cpu().float(), weight.shape[-1]).to(weight.device))


@register_model("airbench", title="airbench94 (CIFAR-10 speed run)", recipe_input=(3, 32, 32),
                source="airbench94 (Jordan, 2024: 94% on CIFAR-10 in 3.29 s on one A100)",
                description="Frozen 2×2 whitening conv → GELU → three blocks [3×3 conv → max-pool → BatchNorm → "
                            "GELU → 3×3 conv → BatchNorm → GELU] (64/256/256 channels) → global max-pool → "
                            "Linear × 1/9. About 2.0M parameters.")
def airbench(*, in_channels, num_classes, image_size, width: int = 64, strict_input: bool = False):
    # strict_input is accepted for uniformity and changes nothing: the global max-pool fixes the head.
    width = _positive_int("width", width, 8, 128)
    whiten = 2 * in_channels * 2 * 2  # ± one filter per dimension of a 2×2 patch
    layers: Layers = [("conv1", nn.Conv2d(in_channels, whiten, 2, padding=0)), ("gelu1", nn.GELU())]
    layers[0][1].weight.requires_grad_(False)  # the whitening stays fixed (its bias trains)
    c, n = whiten, 2
    for block, out in enumerate((width, 4 * width, 4 * width), start=1):
        for first in (True, False):
            conv = nn.Conv2d(c if first else out, out, 3, padding=1, bias=False)
            nn.init.dirac_(conv.weight[:conv.in_channels])  # start as the identity where the widths allow
            bn = nn.BatchNorm2d(out, eps=1e-12, momentum=0.4)  # airbench's BatchNorm momentum 0.6 in its convention
            bn.weight.requires_grad_(False)  # scale fixed at 1: only the shift trains
            layers.append((f"conv{n}", conv))
            if first:
                layers.append((f"pool{block}", nn.MaxPool2d(2)))
            layers += [(f"bn{n}", bn), (f"gelu{n}", nn.GELU())]
            n += 1
        c = out
    layers.append((f"pool{block + 1}", nn.AdaptiveMaxPool2d(1)))
    model = _with_head(layers, lambda flat: [("fc1", nn.Linear(flat, num_classes, bias=False)),
                                             ("scale", Scale(1 / 9))], in_channels, image_size)
    return AirbenchNet(OrderedDict(model.named_children()))


@register_model("custom", title="Custom (template)", recipe_input=(1, 28, 28), source="LeNet tutorial's template",
                description="Input → [[Conv → (BatchNorm) → ReLU] × N → Pool] × M → "
                            "[Linear → ReLU → (Dropout)] × K → Linear. Every number is yours.")
def custom(*, in_channels, num_classes, image_size, blocks: int = 2, convs_per_block: int = 1,
           channels: int | list[int] = 16, kernel_size: int = 3, padding: int = 1, stride: int = 1,
           pool: str | None = "max", pool_size: int = 2, batchnorm: bool = False, dropout: float = 0.0,
           linear_layers: int = 1, hidden_units: int = 64, strict_input: bool = False):
    # strict_input sizes the head for the template's reference input (1×28×28 spatially) whatever image_size is.
    blocks = _positive_int("blocks", blocks, 0, 12)
    convs_per_block = _positive_int("convs_per_block", convs_per_block, 0, 3)
    linear_layers = _positive_int("linear_layers", linear_layers, 0, 2)
    kernel_size = _positive_int("kernel_size", kernel_size)
    padding = _positive_int("padding", padding, 0)
    stride = _positive_int("stride", stride)
    pool_size = _positive_int("pool_size", pool_size)
    hidden_units = _positive_int("hidden_units", hidden_units)
    if pool not in ("max", "avg", None):
        raise ValueError(f"pool must be 'max', 'avg' or None, got {pool!r}")
    if not isinstance(batchnorm, bool):
        raise TypeError(f"batchnorm must be True or False, got {batchnorm!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
    if isinstance(channels, (list, tuple)):
        widths = [_positive_int("channels", c) for c in channels]
        if len(widths) != blocks:
            raise ValueError(f"channels lists one width per block: {blocks} block(s), got {list(channels)}")
    else:
        widths = [_positive_int("channels", channels)] * blocks

    layers: Layers = []
    n_conv = n_pool = 0
    c = in_channels
    for width in widths:
        for _ in range(convs_per_block):
            n_conv += 1
            layers.append((f"conv{n_conv}", nn.Conv2d(c, width, kernel_size, stride, padding)))
            if batchnorm:
                layers.append((f"bn{n_conv}", nn.BatchNorm2d(width)))
            layers.append((f"relu{n_conv}", nn.ReLU()))
            c = width
        if pool:
            n_pool += 1
            layers.append((f"pool{n_pool}", (nn.MaxPool2d if pool == "max" else nn.AvgPool2d)(pool_size)))

    def head(flat: int) -> Layers:
        out: Layers = []
        width = flat
        for k in range(1, linear_layers + 1):
            out += [(f"fc{k}", nn.Linear(width, hidden_units)), (f"relu_fc{k}", nn.ReLU())]
            if dropout:
                out.append((f"dropout{k}", nn.Dropout(dropout)))
            width = hidden_units
        return out + [(f"fc{linear_layers + 1}", nn.Linear(width, num_classes))]

    reference = (28, 28) if strict_input else image_size
    return _with_head(layers, head, in_channels, reference)
