"""Look inside a trained network: first-layer filters, feature maps, the images a channel likes best.

Everything works on the zoo's ``nn.Sequential`` of named layers (``conv1``, ``pool1``, ``relu1``…):
a *spatial* layer is a top-level layer before the first ``Flatten``/``Linear`` whose output is still an
image-like (C, H, W) block. Dropout is left out: in eval mode it passes its input through unchanged.

Example::

    maps = feature_maps(model, dataset.normalize(image))   # OrderedDict: "conv1" → (6, 28, 28), ...
    idx, scores = top_activating(model, "conv2", 3, images)
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager

import torch
from torch import nn

REDUCTIONS = ("mean", "max")
_NOT_SPATIAL = (nn.Dropout, nn.Dropout2d, nn.Identity)


class _Enough(Exception):
    """Raised by a hook once the last wanted layer ran: the rest of the network is not needed."""


def layer_names(model: nn.Module) -> list[str]:
    """The top-level layers with a spatial output, in order.

    Example: ``layer_names(lenet)`` → ``["conv1", "pool1", "relu1", "conv2", "pool2", "relu2"]``.
    """
    names = []
    for name, layer in model.named_children():
        if isinstance(layer, (nn.Flatten, nn.Linear)):
            break
        if not isinstance(layer, _NOT_SPATIAL):
            names.append(name)
    return names


def conv_and_pool_names(model: nn.Module) -> list[str]:
    """The spatial layers that change what is computed or its size (convolutions, pooling, residual blocks),
    i.e. ``layer_names`` without the element-wise ReLU / BatchNorm layers."""
    elementwise = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.Sigmoid, nn.Tanh, nn.BatchNorm2d)
    children = dict(model.named_children())
    return [name for name in layer_names(model) if not isinstance(children[name], elementwise)]


def first_layer_filters(model: nn.Module) -> torch.Tensor:
    """The weights of the first Conv2d, (O, C, kh, kw) float32 on the CPU (a copy).

    Raises ValueError for a network without convolutions (e.g. the linear baseline).
    """
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        raise ValueError(f"{type(model).__name__} has no Conv2d layer, so it has no filters to show "
                         "(the linear and MLP baselines look at raw pixels).")
    return conv.weight.detach().to("cpu", torch.float32).clone()


def filters_as_images(weights: torch.Tensor) -> torch.Tensor:
    """Each filter min-max scaled to [0, 1] on its own (all its channels together), shape unchanged.

    Scaling per filter (not per channel) keeps how strongly an RGB filter weighs each colour, so
    ``C == 3`` filters can be shown as colour images; other ``C`` are shown one grey tile per channel.
    A constant filter becomes 0.5 everywhere.

    Example: ``filters_as_images(torch.tensor([[[[-1., 1.]]]]))`` → ``[[[[0., 1.]]]]``.
    """
    if weights.dim() != 4:
        raise ValueError(f"filters_as_images expects (O, C, kh, kw) weights, got shape {tuple(weights.shape)}")
    w = weights.detach().float().cpu()
    flat = w.flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1, 1)
    span = (flat.max(dim=1).values.view(-1, 1, 1, 1) - low)
    scaled = (w - low) / span.clamp_min(1e-12)
    return torch.where(span > 0, scaled, torch.full_like(w, 0.5))


@contextmanager
def _eval_mode(model: nn.Module):
    """Eval mode + no_grad for the duration, then the previous mode back (training is never disturbed)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters(), torch.zeros(0)).device


def _capture(model: nn.Module, x: torch.Tensor, wanted: list[str]) -> dict[str, torch.Tensor]:
    """The outputs of the ``wanted`` children for input ``x``; the layers after the last one never run.

    A Sequential is walked layer by layer, which leaves the model untouched, so a model cached and
    shared by several dashboard sessions can be inspected by all of them at once. Any other module
    gets temporary forward hooks.
    """
    outputs: dict[str, torch.Tensor] = {}
    last = wanted[-1]
    if isinstance(model, nn.Sequential):
        for name, layer in model.named_children():
            x = layer(x)
            if name in wanted:
                outputs[name] = x
            if name == last:
                break
        return outputs

    def hook_for(name):
        def hook(module, inputs, output):
            outputs[name] = output
            if name == last:
                raise _Enough

        return hook

    children = dict(model.named_children())
    handles = [children[name].register_forward_hook(hook_for(name)) for name in wanted]
    try:
        model(x)
    except _Enough:
        pass
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def _check_layers(model: nn.Module, layers) -> list[str]:
    available = layer_names(model)
    if layers is None:
        return available
    unknown = [name for name in layers if name not in available]
    if unknown:
        raise ValueError(f"No spatial layer(s) {unknown} in this model; it has {available}")
    return [name for name in available if name in layers]  # network order


def feature_maps(model: nn.Module, x: torch.Tensor, layers=None) -> OrderedDict[str, torch.Tensor]:
    """What every spatial layer outputs for one normalised image ``x`` ((C, H, W) or (1, C, H, W)).

    Returns ``{layer name: (channels, H, W) float tensor on the CPU}`` in network order; ``layers``
    restricts it to some names. Eval mode and no_grad, the model's mode restored afterwards.

    Example: ``feature_maps(lenet, x)["conv1"].shape`` → ``(6, 28, 28)`` for a 1×32×32 ``x``.
    """
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"feature_maps takes one image (C, H, W) or (1, C, H, W), got shape {tuple(x.shape)}")
    names = _check_layers(model, layers)
    if not names:
        return OrderedDict()
    with _eval_mode(model):
        outputs = _capture(model, x.to(_device(model)), names)
    return OrderedDict((name, outputs[name][0].detach().float().cpu()) for name in names)


def top_activating(model: nn.Module, layer_name: str, channel: int, images: torch.Tensor, k: int = 9,
                   batch_size: int = 256, reduce: str = "mean") -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` images that make channel ``channel`` of ``layer_name`` fire most, best first.

    ``images``: (N, C, H, W) normalised model inputs. Score = the channel's **mean** activation over
    its map by default: it favours images where the pattern appears widely; ``reduce="max"`` takes the
    single strongest position instead (images with one very clear instance of the pattern).
    Returns ``(indices into images, scores)``.

    Example: ``idx, scores = top_activating(model, "conv1", 0, dataset.normalize(x), k=9)``.
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    if images.dim() != 4 or len(images) == 0:
        raise ValueError(f"top_activating needs a non-empty (N, C, H, W) batch, got shape {tuple(images.shape)}")
    if k < 1 or batch_size < 1:
        raise ValueError(f"k and batch_size must be ≥ 1, got {k} and {batch_size}")
    _check_layers(model, [layer_name])
    device = _device(model)
    scores = []
    with _eval_mode(model):
        for start in range(0, len(images), batch_size):
            out = _capture(model, images[start:start + batch_size].to(device), [layer_name])[layer_name]
            if not 0 <= channel < out.shape[1]:
                raise ValueError(f"{layer_name} has {out.shape[1]} channels (0..{out.shape[1] - 1}), got {channel}")
            per_image = out[:, channel].flatten(1)  # (B, H·W)
            scores.append((per_image.mean(1) if reduce == "mean" else per_image.amax(1)).float().cpu())
    all_scores = torch.cat(scores)
    top = torch.topk(all_scores, min(k, len(all_scores)))
    return top.indices, top.values
