"""Model zoo: the tutorials' architectures, layer for layer, plus a small ResNet and a custom template.

A registry in the style of torchvision.models: ``@register_model`` on small keyword-only builders,
``list_models()``, ``model_info(name)``, ``build(name, ...)``. Every model is an ``nn.Sequential``
of named layers (``conv1``, ``relu1``, ``pool1``, ``flatten``, ``fc1``…), so the inspection pages can
walk it in order. Linear layers are sized for the ``image_size`` the model is built for; with the
recipe's own input each model has exactly the tutorial's layers and parameter count.
``strict_input=True`` keeps the recipe's flatten size instead, to show the classic mismatch.

Example: ``build("lenet", in_channels=1, num_classes=10, image_size=32)``.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

Layers = list[tuple[str, nn.Module]]


class ShapeMismatchError(ValueError):
    """A model that cannot take the input shape; the message names the layer, the shape and the fix."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    title: str
    description: str
    recipe_input: tuple[int, int, int]  # (C, H, W) the tutorial used
    source: str
    builder: Callable[..., nn.Module]

    @property
    def options(self) -> dict[str, Any]:
        """The builder's keyword options and their defaults."""
        return {p.name: p.default for p in inspect.signature(self.builder).parameters.values()
                if p.kind is p.KEYWORD_ONLY and p.name not in ("in_channels", "num_classes", "image_size")}


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(name: str, *, title: str, description: str, recipe_input: tuple[int, int, int], source: str):
    def decorator(builder):
        _REGISTRY[name] = ModelInfo(name, title, description, recipe_input, source, builder)
        return builder

    return decorator


def list_models() -> list[str]:
    return list(_REGISTRY)


def model_info(name: str) -> ModelInfo:
    if name not in _REGISTRY:
        raise ValueError(f"Unknown model {name!r}; known models: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def _size(image_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    h, w = image_size
    return int(h), int(w)


def build(name: str, *, in_channels: int, num_classes: int, image_size, **options: Any) -> nn.Sequential:
    """Build a zoo model for inputs of ``in_channels``×``image_size`` and ``num_classes`` outputs.

    Raises ShapeMismatchError when the input is too small for the layers, TypeError for an
    unknown option (listing the allowed ones).
    """
    info = model_info(name)
    allowed = info.options
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"{name} does not take option(s) {unknown}; allowed: {sorted(allowed) or 'none'}")
    if in_channels < 1 or num_classes < 1:
        raise ValueError(f"in_channels and num_classes must be ≥ 1, got {in_channels} and {num_classes}")
    model = info.builder(in_channels=in_channels, num_classes=num_classes, image_size=_size(image_size), **options)
    model.recipe_input = info.recipe_input  # so error messages can say what it was designed for
    return model


# --------------------------------------------------------------------------- shape tracing and messages


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
    if isinstance(layer, BasicBlock):
        return f"BasicBlock({layer.conv1.in_channels}→{layer.conv2.out_channels}, s={layer.conv1.stride[0]})"
    return type(layer).__name__


def _shape_text(shape) -> str:
    return "×".join(str(s) for s in shape)


def _fix_hint(model: nn.Module, input_shape: tuple[int, int, int]) -> str:
    recipe = getattr(model, "recipe_input", None)
    c, h, w = input_shape
    if recipe and recipe[1:] != (h, w):
        hint = f"This model was designed for {_shape_text(recipe)} inputs: resize the images to {recipe[1]}×{recipe[2]}"
        pad = (recipe[1] - h) / 2
        if pad > 0 and pad == int(pad) and recipe[1] - h == recipe[2] - w:
            hint += f", or give the first convolution padding {int(pad)} ({h} + 2·{int(pad)} = {recipe[1]})"
        return hint + ", or build it for this image size (without strict_input) so its Linear layers fit."
    return "Use larger images, add padding to the convolutions, or use fewer pooling blocks."


def trace(model: nn.Module, input_shape: tuple[int, int, int]) -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    """Run a zeros input through the top-level layers: (name, layer, output shape without batch) per layer.

    Raises ShapeMismatchError at the first layer that cannot take what it gets.
    """
    children = list(model.named_children()) if isinstance(model, nn.Sequential) else [("model", model)]
    was_training = model.training
    model.eval()  # BatchNorm would refuse a batch of one in training mode
    rows = []
    try:
        x = torch.zeros(1, *input_shape, device=next(model.parameters(), torch.zeros(0)).device)
        with torch.no_grad():
            for name, layer in children:
                shape = tuple(x.shape[1:])
                try:
                    x = layer(x)
                except RuntimeError as exc:
                    raise ShapeMismatchError(_mismatch_message(model, name, layer, shape, input_shape, exc)) from None
                if x.dim() == 4 and min(x.shape[2:]) < 1:
                    raise ShapeMismatchError(
                        f"{name}: {describe(layer)} leaves nothing of a {_shape_text(shape)} input. "
                        + _fix_hint(model, input_shape))
                rows.append((name, layer, tuple(x.shape[1:])))
    finally:
        model.train(was_training)
    return rows


def _mismatch_message(model, name, layer, shape, input_shape, exc) -> str:
    if isinstance(layer, nn.Linear):
        got = shape[-1] if shape else 0
        return (f"{name}: {describe(layer)} expects {layer.in_features} input features but got {got} "
                f"(the flattened output for a {_shape_text(input_shape)} input). " + _fix_hint(model, input_shape))
    if len(shape) == 3 and isinstance(layer, nn.Conv2d) and shape[0] != layer.in_channels:
        return (f"{name}: {describe(layer)} expects {layer.in_channels} channel(s) but the input has {shape[0]}. "
                "Build the model for the dataset's number of channels.")
    return (f"{name}: {describe(layer)} cannot take a {_shape_text(shape)} input "
            f"({str(exc).splitlines()[0]}). " + _fix_hint(model, input_shape))


def check_input(model: nn.Module, input_shape: tuple[int, int, int]) -> None:
    """Raise ShapeMismatchError (layer, shape it got, fix) unless ``model`` can take ``input_shape``."""
    trace(model, tuple(input_shape))


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


def _window(layer: nn.Module) -> list[tuple[int, int, int]]:
    """(kernel, stride, dilation) steps a layer applies along one spatial axis, in order."""
    def first(v):
        return v[0] if isinstance(v, tuple) else v

    if isinstance(layer, nn.Conv2d):
        return [(layer.kernel_size[0], layer.stride[0], layer.dilation[0])]
    if isinstance(layer, nn.MaxPool2d):
        return [(first(layer.kernel_size), first(layer.stride), first(layer.dilation))]
    if isinstance(layer, nn.AvgPool2d):
        return [(first(layer.kernel_size), first(layer.stride), 1)]
    if isinstance(layer, BasicBlock):
        return [(3, layer.conv1.stride[0], 1), (3, 1, 1)]
    return []  # element-wise layers (ReLU, BatchNorm, Dropout) see exactly what came in


def receptive_fields(layers) -> list[tuple[int | None, int | None]]:
    """(receptive field, jump) after each layer: r ← r + (k − 1)·d·j, j ← j·s (1 × 1 before the first)."""
    r, j, out = 1, 1, []
    whole = False
    for layer in layers:
        if isinstance(layer, (nn.Flatten, nn.Linear, nn.AdaptiveAvgPool2d)):
            whole = True
        for k, s, d in _window(layer):
            r, j = r + (k - 1) * d * j, j * s
        out.append((None, None) if whole else (r, j))
    return out


def summary(model: nn.Module, input_shape: tuple[int, int, int]) -> list[LayerRow]:
    """Per top-level layer: output shape, parameters, receptive field (what the tables show)."""
    rows = trace(model, tuple(input_shape))
    fields = receptive_fields([layer for _, layer, _ in rows])
    return [LayerRow(name, type(layer).__name__, shape, sum(p.numel() for p in layer.parameters()),
                     sum(p.numel() for p in layer.parameters() if p.requires_grad), describe(layer), rf, jump)
            for (name, layer, shape), (rf, jump) in zip(rows, fields)]


def total_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def num_outputs(model: nn.Module) -> int:
    """Size of the last Linear layer: 1 means one logit trained with BCE-with-logits."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1].out_features


# --------------------------------------------------------------------------- building blocks


def _with_head(features: Layers, head: Callable[[int], Layers], in_channels: int, image_size: tuple[int, int],
               recipe_flat: int | None = None, strict_input: bool = False) -> nn.Sequential:
    """features → flatten → head(flat features). The flat size comes from a dry run of the features."""
    body = nn.Sequential(OrderedDict(features))
    if strict_input and recipe_flat is not None:
        flat = recipe_flat
    else:
        rows = trace(body, (in_channels, *image_size)) if features else []
        out = rows[-1][2] if rows else (in_channels, *image_size)
        flat = int(torch.tensor(out).prod())
    return nn.Sequential(OrderedDict([*features, ("flatten", nn.Flatten()), *head(flat)]))


def _checked(model: nn.Sequential, in_channels: int, image_size: tuple[int, int], strict_input: bool) -> nn.Sequential:
    if not strict_input:  # a strict model is allowed to fail later: that is the lesson it teaches
        trace(model, (in_channels, *image_size))
    return model


# --------------------------------------------------------------------------- the zoo


@register_model("linear", title="V0: linear baseline", recipe_input=(1, 28, 28),
                source="Computer vision with CNNs (model_0)",
                description="Flatten → Linear → Linear. No non-linearity: a linear classifier in disguise.")
def linear(*, in_channels, num_classes, image_size, hidden_units: int = 10, strict_input: bool = False):
    model = _with_head([], lambda flat: [("fc1", nn.Linear(flat, hidden_units)),
                                         ("fc2", nn.Linear(hidden_units, num_classes))],
                       in_channels, image_size, 784, strict_input)
    return _checked(model, in_channels, image_size, strict_input)


@register_model("mlp", title="V1: MLP (ReLU on the logits)", recipe_input=(1, 28, 28),
                source="Computer vision with CNNs (model_1)",
                description="Flatten → Linear → ReLU → Linear → ReLU. The last ReLU clips negative logits: "
                            "why V1 does worse than V0.")
def mlp(*, in_channels, num_classes, image_size, hidden_units: int = 10, relu_on_logits: bool = True,
        strict_input: bool = False):
    def head(flat):
        layers = [("fc1", nn.Linear(flat, hidden_units)), ("relu1", nn.ReLU()),
                  ("fc2", nn.Linear(hidden_units, num_classes))]
        return layers + ([("relu2", nn.ReLU())] if relu_on_logits else [])

    return _checked(_with_head([], head, in_channels, image_size, 784, strict_input), in_channels, image_size,
                    strict_input)


@register_model("tinyvgg", title="TinyVGG (CNN Explainer's network)", recipe_input=(1, 28, 28),
                source="Computer vision with CNNs (model_2)",
                description="Two VGG blocks of [Conv → ReLU → Conv → ReLU → MaxPool], then one Linear.")
def tinyvgg(*, in_channels, num_classes, image_size, hidden_units: int = 10, strict_input: bool = False):
    h = hidden_units
    features = [
        ("conv1", nn.Conv2d(in_channels, h, 3, padding=1)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(h, h, 3, padding=1)), ("relu2", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv3", nn.Conv2d(h, h, 3, padding=1)), ("relu3", nn.ReLU()),
        ("conv4", nn.Conv2d(h, h, 3, padding=1)), ("relu4", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
    ]
    model = _with_head(features, lambda flat: [("fc1", nn.Linear(flat, num_classes))],
                       in_channels, image_size, h * 7 * 7, strict_input)
    return _checked(model, in_channels, image_size, strict_input)


@register_model("lenet", title="LeNet-5", recipe_input=(1, 32, 32), source="LeNet with PyTorch Lightning",
                description="Conv(5) → MaxPool → ReLU twice, then 120 → 84 → classes. Made for 32×32 digits.")
def lenet(*, in_channels, num_classes, image_size, strict_input: bool = False):
    features = [
        ("conv1", nn.Conv2d(in_channels, 6, 5)), ("pool1", nn.MaxPool2d(2)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(6, 16, 5)), ("pool2", nn.MaxPool2d(2)), ("relu2", nn.ReLU()),
    ]
    model = _with_head(features, lambda flat: [
        ("fc1", nn.Linear(flat, 120)), ("relu3", nn.ReLU()), ("fc2", nn.Linear(120, 84)), ("relu4", nn.ReLU()),
        ("fc3", nn.Linear(84, num_classes))], in_channels, image_size, 16 * 5 * 5, strict_input)
    return _checked(model, in_channels, image_size, strict_input)


@register_model("cifar_net", title="CIFAR-10 Net", recipe_input=(3, 32, 32), source="Training a classifier",
                description="PyTorch's 60-minute-blitz network: Conv(5) → ReLU → MaxPool twice, "
                            "then 120 → 84 → classes.")
def cifar_net(*, in_channels, num_classes, image_size, strict_input: bool = False):
    features = [
        ("conv1", nn.Conv2d(in_channels, 6, 5)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(6, 16, 5)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
    ]
    model = _with_head(features, lambda flat: [
        ("fc1", nn.Linear(flat, 120)), ("relu3", nn.ReLU()), ("fc2", nn.Linear(120, 84)), ("relu4", nn.ReLU()),
        ("fc3", nn.Linear(84, num_classes))], in_channels, image_size, 16 * 5 * 5, strict_input)
    return _checked(model, in_channels, image_size, strict_input)


@register_model("mnist_cnn", title="Textbook MNIST CNN", recipe_input=(1, 28, 28),
                source="Classifying images with deep CNNs",
                description="Conv(32, 5, p=2) → ReLU → MaxPool → Conv(64, 5, p=2) → ReLU → MaxPool → "
                            "1024 → Dropout(0.5) → classes.")
def mnist_cnn(*, in_channels, num_classes, image_size, strict_input: bool = False):
    features = [
        ("conv1", nn.Conv2d(in_channels, 32, 5, padding=2)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(32, 64, 5, padding=2)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
    ]
    model = _with_head(features, lambda flat: [
        ("fc1", nn.Linear(flat, 1024)), ("relu3", nn.ReLU()), ("dropout1", nn.Dropout(0.5)),
        ("fc2", nn.Linear(1024, num_classes))], in_channels, image_size, 3136, strict_input)
    return _checked(model, in_channels, image_size, strict_input)


@register_model("smile_cnn", title="Smile classifier CNN", recipe_input=(3, 64, 64),
                source="Classifying images with deep CNNs",
                description="Four conv blocks with dropout, global average pooling, one logit for two classes "
                            "(BCE-with-logits; the Sigmoid is applied when predicting).")
def smile_cnn(*, in_channels, num_classes, image_size, strict_input: bool = False):
    h, w = image_size
    if h // 8 < 1 or w // 8 < 1:
        raise ShapeMismatchError(f"pool3: three MaxPool(2) leave nothing of a {h}×{w} input; "
                                 "smile_cnn needs images of at least 8×8 (the recipe uses 64×64).")
    features = [
        ("conv1", nn.Conv2d(in_channels, 32, 3, padding=1)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("dropout1", nn.Dropout(0.5)),
        ("conv2", nn.Conv2d(32, 64, 3, padding=1)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ("dropout2", nn.Dropout(0.5)),
        ("conv3", nn.Conv2d(64, 128, 3, padding=1)), ("relu3", nn.ReLU()), ("pool3", nn.MaxPool2d(2)),
        ("conv4", nn.Conv2d(128, 256, 3, padding=1)), ("relu4", nn.ReLU()),
        # Global average pooling: AvgPool(8) at 64×64, the whole remaining map at any size.
        ("avgpool", nn.AvgPool2d((h // 8, w // 8))),
    ]
    out = 1 if num_classes == 2 else num_classes
    model = _with_head(features, lambda flat: [("fc1", nn.Linear(flat, out))], in_channels, image_size,
                       256, strict_input)
    return _checked(model, in_channels, image_size, strict_input)


@register_model("cats_dogs_cnn", title="Cats-vs-dogs ImageClassifier", recipe_input=(3, 64, 64),
                source="First deep learning model (Lightning)",
                description="Two small convs, then four Linear layers with no activation between them: "
                            "~96% of the parameters sit in the first Linear.")
def cats_dogs_cnn(*, in_channels, num_classes, image_size, strict_input: bool = False):
    features = [
        ("conv1", nn.Conv2d(in_channels, 3, 3, padding=1)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(3, 6, 3, padding=1)), ("relu2", nn.ReLU()),
    ]
    model = _with_head(features, lambda flat: [
        ("fc1", nn.Linear(flat, 1000)), ("fc2", nn.Linear(1000, 250)), ("fc3", nn.Linear(250, 60)),
        ("fc4", nn.Linear(60, num_classes))], in_channels, image_size, 6 * 32 * 32, strict_input)
    return _checked(model, in_channels, image_size, strict_input)


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
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


@register_model("resnet", title="Small ResNet (modern)", recipe_input=(3, 32, 32), source="He et al., 2016",
                description="3×3 stem, three stages of residual blocks (16/32/64 channels), BatchNorm, "
                            "global average pooling. About 0.17M parameters.")
def resnet(*, in_channels, num_classes, image_size, width: int = 16, blocks_per_stage: int = 2):
    if not 1 <= blocks_per_stage <= 4 or not 4 <= width <= 128:
        raise ValueError(f"resnet takes width 4..128 and blocks_per_stage 1..4, got {width} and {blocks_per_stage}")
    layers: Layers = [("conv1", nn.Conv2d(in_channels, width, 3, padding=1, bias=False)),
                      ("bn1", nn.BatchNorm2d(width)), ("relu1", nn.ReLU())]
    channels = width
    for stage, out in enumerate((width, 2 * width, 4 * width), start=1):
        for b in range(1, blocks_per_stage + 1):
            stride = 2 if stage > 1 and b == 1 else 1
            layers.append((f"block{stage}_{b}", BasicBlock(channels, out, stride)))
            channels = out
    layers += [("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc1", nn.Linear(channels, num_classes))]
    model = nn.Sequential(OrderedDict(layers))
    trace(model, (in_channels, *image_size))
    return model


@register_model("custom", title="Custom (template)", recipe_input=(1, 28, 28), source="LeNet tutorial's template",
                description="Input → [[Conv → (BatchNorm) → ReLU] × N → Pool] × M → "
                            "[Linear → ReLU → (Dropout)] × K → Linear. Every number is yours.")
def custom(*, in_channels, num_classes, image_size, blocks: int = 2, convs_per_block: int = 1,
           channels: int | list[int] = 16, kernel_size: int = 3, padding: int = 1, stride: int = 1,
           pool: str | None = "max", pool_size: int = 2, batchnorm: bool = False, dropout: float = 0.0,
           linear_layers: int = 1, hidden_units: int = 64):
    if blocks < 0 or not 0 <= convs_per_block <= 3 or not 0 <= linear_layers < 3:
        raise ValueError(f"custom needs blocks ≥ 0, 0 ≤ convs_per_block ≤ 3 and 0 ≤ linear_layers < 3; got "
                         f"{blocks}, {convs_per_block}, {linear_layers}")
    if pool not in ("max", "avg", None):
        raise ValueError(f"pool must be 'max', 'avg' or None, got {pool!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    widths = list(channels) if isinstance(channels, (list, tuple)) else [channels] * blocks
    if len(widths) != blocks:
        raise ValueError(f"channels lists one width per block: {blocks} block(s), got {widths}")
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

    model = _with_head(layers, head, in_channels, image_size)
    trace(model, (in_channels, *image_size))
    return model
