"""Batched augmentations on float B×C×H×W tensors in [0, 1], on whichever device they live.

Every image of a batch gets its own random flip, crop offset, angle, brightness and contrast,
drawn as one tensor of B values: there is no Python loop over samples. Options are a dict of
known keys (``AUGMENTATIONS``); ``True`` switches one on at its default strength, a number sets it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augmentation:
    default: float  # the strength used when the option is just switched on (True)
    low: float  # allowed range of the strength
    high: float
    meaning: str  # what the number means
    reason: str  # why a recipe uses it


AUGMENTATIONS: dict[str, Augmentation] = {
    "hflip": Augmentation(0.5, 0, 1, "probability of mirroring an image left-right",
                          "a mirrored cat is still a cat (not for digits or letters)"),
    "crop": Augmentation(4, 0, 16, "pixels of padding before a random crop back to size",
                         "small shifts: the CIFAR-10 recipe pads by 4 and crops 32×32"),
    "rotation": Augmentation(15, 0, 180, "largest rotation in degrees, either way",
                             "objects are rarely perfectly upright in photos"),
    "brightness": Augmentation(0.2, 0, 1, "largest change of the brightness factor (×1 ± x)",
                               "lighting changes between photos"),
    "contrast": Augmentation(0.2, 0, 1, "largest change of the contrast factor (×1 ± x)",
                             "cameras and exposure change contrast"),
}

_GREY_WEIGHTS = (0.2989, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


def validate_augment(options: dict[str, Any] | None) -> dict[str, float]:
    """Check augmentation options → ``{name: strength}`` of those switched on.

    ``True`` means the default strength; ``False``, ``None`` and ``0`` mean off.
    Example: ``validate_augment({"hflip": True, "rotation": 10})`` → ``{"hflip": 0.5, "rotation": 10.0}``.
    """
    options = dict(options or {})
    unknown = sorted(set(options) - set(AUGMENTATIONS))
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown}; known: {list(AUGMENTATIONS)}")
    chosen = {}
    for name, value in options.items():
        spec = AUGMENTATIONS[name]
        if value is None or value is False:
            continue
        if value is True:
            value = spec.default
        if not isinstance(value, (int, float)):
            raise TypeError(f"augmentation {name} takes true/false or a number ({spec.meaning}), got {value!r}")
        if not spec.low <= value <= spec.high:
            raise ValueError(f"augmentation {name} must be between {spec.low} and {spec.high} "
                             f"({spec.meaning}), got {value}")
        if value:
            chosen[name] = float(value)
    return chosen


# ----------------------------------------------------------------- the operations, given their random draws


def flip_where(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror left-right the images whose ``flip`` (bool, B) is True."""
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def shifted_crop(x: torch.Tensor, padding: int, top: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
    """Pad by ``padding`` (reflecting the edge), then cut each image's H×W window at (top, left).

    ``top`` and ``left`` are int tensors (B,) in [0, 2·padding]; (padding, padding) gives x back.
    """
    b, c, h, w = x.shape
    mode = "reflect" if padding < min(h, w) else "constant"  # reflect needs the padding inside the image
    padded = F.pad(x, (padding,) * 4, mode=mode)  # (B, C, H + 2p, W + 2p)
    # Two gathers, rows then columns (faster than one 4-index advanced indexing on the CPU).
    rows = (top.view(b, 1) + torch.arange(h, device=x.device)).view(b, 1, h, 1)
    picked_rows = padded.gather(2, rows.expand(b, c, h, padded.shape[3]))  # (B, C, H, W + 2p)
    cols = (left.view(b, 1) + torch.arange(w, device=x.device)).view(b, 1, 1, w)
    return picked_rows.gather(3, cols.expand(b, c, h, w))  # (B, C, H, W)


def rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each image by its own angle (degrees, B; positive = anticlockwise) about its centre.

    Corners that come from outside the image are black (0), as torchvision's RandomRotation.
    """
    h, w = x.shape[-2:]
    angle = degrees.to(x.dtype) * (math.pi / 180)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid works in [-1, 1] per axis: the aspect terms keep non-square images undistorted.
    # theta maps output to input coordinates; y points down, so this turns the picture anticlockwise.
    theta = torch.stack([torch.stack([cos, -sin * h / w, torch.zeros_like(cos)], -1),
                         torch.stack([sin * w / h, cos, torch.zeros_like(cos)], -1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """x × factor per image, clipped to [0, 1] (torchvision's adjust_brightness, batched)."""
    return (x * factor.view(-1, 1, 1, 1)).clamp(0, 1)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each image with its mean grey level (torchvision's adjust_contrast, batched)."""
    if x.shape[1] == 3:
        weights = torch.tensor(_GREY_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        grey = (x * weights).sum(1, keepdim=True)
    else:
        grey = x.mean(1, keepdim=True)
    mean = grey.mean((1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    f = factor.view(-1, 1, 1, 1)
    return (f * x + (1 - f) * mean).clamp(0, 1)


# ----------------------------------------------------------------- the random pipeline


def _uniform(b: int, low: float, high: float, generator: torch.Generator | None, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(b, generator=generator, device=device)


def augment_batch(x: torch.Tensor, options: dict[str, Any] | None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """A new random view of every image: crop → flip → rotate → brightness → contrast.

    ``x`` is float B×C×H×W in [0, 1] on any device; ``generator`` (optional) makes it repeatable
    and may live on the CPU or on x's device. x itself is not modified.
    Example: ``augment_batch(torch.rand(8, 3, 32, 32), {"hflip": True, "crop": 4})``.
    """
    chosen = validate_augment(options)
    if not chosen:
        return x
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"augment_batch expects a float B×C×H×W batch, got {x.dtype} {tuple(x.shape)}")
    b = x.shape[0]
    # Draw on the generator's device (B numbers), then move them next to the images.
    device = generator.device if generator is not None else x.device

    def draw(low: float, high: float) -> torch.Tensor:
        return _uniform(b, low, high, generator, device).to(x.device)

    if "crop" in chosen:
        p = int(chosen["crop"])
        top = torch.randint(0, 2 * p + 1, (b,), generator=generator, device=device).to(x.device)
        left = torch.randint(0, 2 * p + 1, (b,), generator=generator, device=device).to(x.device)
        x = shifted_crop(x, p, top, left)
    if "hflip" in chosen:
        x = flip_where(x, draw(0, 1) < chosen["hflip"])
    if "rotation" in chosen:
        x = rotate(x, draw(-chosen["rotation"], chosen["rotation"]))
    if "brightness" in chosen:
        x = adjust_brightness(x, draw(1 - chosen["brightness"], 1 + chosen["brightness"]))
    if "contrast" in chosen:
        x = adjust_contrast(x, draw(1 - chosen["contrast"], 1 + chosen["contrast"]))
    return x
