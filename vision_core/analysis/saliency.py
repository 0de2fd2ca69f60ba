"""Where did the network look? Grad-CAM on the last convolution, and plain input-gradient saliency.

Both return one (H, W) map in [0, 1] at the input's resolution, for one image (1, C, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _check_single(x: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"Expected one normalised image of shape (1, C, H, W), got {tuple(x.shape)}")


def _score(logits: torch.Tensor, target: int | None) -> tuple[torch.Tensor, int]:
    """The scalar whose gradient we follow, and the class it belongs to (the prediction by default)."""
    if logits.shape[1] == 1:  # one-logit (BCE) model: class 1 is the logit, class 0 its negation
        predicted = int(logits[0, 0] > 0)
        target = predicted if target is None else int(target)
        if target not in (0, 1):
            raise ValueError(f"target must be 0 or 1 for a one-logit model, got {target}")
        return (logits[0, 0] if target == 1 else -logits[0, 0]), target
    target = int(logits[0].argmax()) if target is None else int(target)
    if not 0 <= target < logits.shape[1]:
        raise ValueError(f"target must be a class index in 0..{logits.shape[1] - 1}, got {target}")
    return logits[0, target], target


def _unit_range(m: torch.Tensor) -> torch.Tensor:
    # Scale to [0, 1]; an all-zero map (nothing pushes the score) stays all zero instead of NaN.
    m = m - m.min() if m.min() < 0 else m
    top = m.max()
    return m / top if top > 0 else torch.zeros_like(m)


# Sub-modules that hold a residual block's shortcut (ours: "shortcut"; torchvision's ResNet: "downsample").
SHORTCUT_NAMES = ("shortcut", "downsample")


def last_conv(model: nn.Module) -> nn.Conv2d:
    """The model's last Conv2d on the main path (Grad-CAM's usual layer: the most semantic maps that still have
    space).

    A residual block registers its 1×1 shortcut projection after its main convolutions, but that projection
    only resamples the block's input: the last main-path convolution is the one Grad-CAM must explain.
    Example: ``last_conv(models.build("resnet", ..., blocks_per_stage=1)) is model.block3_1.conv2``.
    """
    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(f"Grad-CAM needs a Conv2d layer and this model ({type(model).__name__}) has none; "
                         "use saliency_map for models without convolutions.")
    main = [m for name, m in convs if not set(name.split(".")) & set(SHORTCUT_NAMES)]
    return (main or [m for _, m in convs])[-1]


class _EvalMode:
    """Switch to eval mode (no dropout, BatchNorm running stats) and restore the previous mode after."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.was_training = model, model.training

    def __enter__(self) -> nn.Module:
        return self.model.eval()

    def __exit__(self, *exc) -> None:
        self.model.train(self.was_training)


def grad_cam(model: nn.Module, x: torch.Tensor, target: int | None = None,
             layer: nn.Module | None = None) -> torch.Tensor:
    """Grad-CAM heat map (H, W) in [0, 1]: which regions raise the score of class ``target``.

    The last Conv2d's feature maps are weighted by the spatial mean of the score's gradient,
    summed, passed through ReLU, and upsampled (bilinear) to the input size.
    ``target=None`` explains the predicted class. Example: ``heat = grad_cam(model, prep.model_input)``.
    """
    _check_single(x)
    layer = layer or last_conv(model)
    captured: dict[str, torch.Tensor] = {}

    def keep_output(_module, _inputs, output):
        captured["maps"] = output  # the last call wins if the layer runs twice

    handle = layer.register_forward_hook(keep_output)
    try:
        with _EvalMode(model), torch.enable_grad():
            # The input needs a gradient so the graph exists even when the weights are frozen.
            logits = model(x.detach().clone().requires_grad_(True))
            score, _ = _score(logits, target)
            if "maps" not in captured:
                raise ValueError("The chosen layer did not run in the forward pass; pick a layer of this model.")
            # autograd.grad, not backward(): the model's own .grad buffers stay untouched.
            (grads,) = torch.autograd.grad(score, captured["maps"], allow_unused=True)
    finally:
        handle.remove()
    maps = captured["maps"].detach()  # (1, K, h, w)
    if grads is None:  # the score does not depend on this layer
        return torch.zeros(x.shape[-2:])
    weights = grads.mean(dim=(2, 3), keepdim=True)  # (1, K, 1, 1)
    cam = F.relu((weights * maps).sum(dim=1, keepdim=True))  # (1, 1, h, w)
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]  # (H, W)
    return _unit_range(cam.clamp(min=0))


def saliency_map(model: nn.Module, x: torch.Tensor, target: int | None = None) -> torch.Tensor:
    """Vanilla gradient saliency (H, W) in [0, 1]: |d score / d input|, max over the channels.

    Bright pixels are those whose small change would move the class score most.
    Example: ``sal = saliency_map(model, prep.model_input, target=3)``.
    """
    _check_single(x)
    x = x.detach().clone().requires_grad_(True)
    with _EvalMode(model), torch.enable_grad():
        score, _ = _score(model(x), target)
        (grad,) = torch.autograd.grad(score, x)
    return _unit_range(grad[0].abs().amax(dim=0))  # (H, W)
