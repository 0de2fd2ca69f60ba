"""Procedurally generated "shapes": coloured shapes drawn from signed distances on a coordinate grid.

Images are rendered a chunk at a time, each chunk as one batch (no loop over samples): each pixel's position
is moved into the shape's own frame (centre, scale, rotation), a signed distance to the shape's
outline is computed there, and a one-pixel soft edge turns it into an anti-aliased mask.
``difficulty`` in [0, 1] scales position/scale jitter, rotation, pixel noise, background clutter
and how close the colours may get.
"""

from __future__ import annotations

import math

import torch

SHAPE_CLASSES = ["circle", "square", "triangle", "cross", "star", "ring"]


def _circle(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(u**2 + v**2) - 1.0


def _square(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.maximum(u.abs(), v.abs()) - 0.8  # same area as the circle, roughly


def _triangle(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    # Equilateral, vertices on the unit circle pointing up: the largest distance past its three edges.
    # Image rows grow downwards, so "up" is -v.
    normals = [(math.cos(a), math.sin(a)) for a in (math.pi / 2, math.pi / 2 + 2 * math.pi / 3,
                                                    math.pi / 2 + 4 * math.pi / 3)]
    return torch.stack([u * nx + v * ny for nx, ny in normals]).amax(0) - 0.5


def _cross(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    horizontal = torch.maximum(u.abs() - 1.0, v.abs() - 0.3)
    vertical = torch.maximum(u.abs() - 0.3, v.abs() - 1.0)
    return torch.minimum(horizontal, vertical)


def _star(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    # Five points: the outline's radius goes linearly from 1 at a tip to 0.4 between two tips.
    angle = torch.atan2(u, -v)  # 0 points up
    tip = torch.remainder(angle * 5 / (2 * math.pi), 1.0)  # 0 and 1 at the tips
    radius = 0.4 + 0.6 * (2 * tip - 1).abs()
    return torch.sqrt(u**2 + v**2) - radius


def _ring(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (torch.sqrt(u**2 + v**2) - 0.72).abs() - 0.28


_DISTANCES = [_circle, _square, _triangle, _cross, _star, _ring]  # same order as SHAPE_CLASSES


def _soft_mask(distance: torch.Tensor, pixel: torch.Tensor) -> torch.Tensor:
    """1 inside, 0 outside, a one-pixel linear ramp on the edge (anti-aliasing)."""
    return (0.5 - distance / pixel).clamp_(0.0, 1.0)


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


# Generation runs in chunks of about this many pixels: the float intermediates (canvas, coordinates, distances,
# masks, noise: ~14 floats a pixel) stay near 60 MB whatever the set's size, instead of 8-20× the uint8 result.
CHUNK_PIXELS = 2**20
# Pixel noise is drawn per block of this many images from its own seed, so the first images of a set are the same
# whatever the chunk size, and a preview can draw only them.
NOISE_BLOCK = 16


def draw_parameters(n: int, difficulty: float, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Every random number of ``n`` images but their pixel noise: colours, clutter blobs, the shape's frame.

    A few dozen floats per image (a 20,000-image set: 2 MB), drawn once, in one order, from ``generator``.
    """
    d = float(difficulty)
    p: dict[str, torch.Tensor] = {}
    # Colours: the background is the foreground shifted by 0.3–0.7 per channel (wrapping round),
    # so every channel differs by at least 0.3; harder data lets them come closer (0.15).
    p["foreground"] = torch.rand(n, 3, generator=generator)  # (N, 3)
    low, high = 0.3 - 0.15 * d, 0.7 + 0.15 * d
    p["background"] = torch.remainder(p["foreground"] + low + (high - low) * torch.rand(n, 3, generator=generator),
                                      1.0)
    # Clutter: up to three small blobs in random colours, drawn under the shape.
    for b in range(3):
        p[f"blob{b}_present"] = (torch.rand(n, generator=generator) < d).float()
        p[f"blob{b}_cx"], p[f"blob{b}_cy"] = _uniform(n, -1, 1, generator), _uniform(n, -1, 1, generator)
        p[f"blob{b}_radius"] = _uniform(n, 0.08, 0.25, generator)
        p[f"blob{b}_colour"] = torch.rand(n, 3, generator=generator)
    # The shape's frame: scale, centre and rotation, jittered more as difficulty grows.
    scale = 0.6 * (1 - 0.45 * d * torch.rand(n, generator=generator))  # (N,)
    room = (1 - scale) * (0.25 + 0.75 * d)  # how far the centre may move and stay inside
    p["scale"] = scale
    p["cx"] = room * _uniform(n, -1, 1, generator)
    p["cy"] = room * _uniform(n, -1, 1, generator)
    p["angle"] = math.pi * d * _uniform(n, -1, 1, generator)
    return p


def _render_chunk(labels: torch.Tensor, p: dict[str, torch.Tensor], size: tuple[int, int], difficulty: float,
                  noise_seed: int, first: int) -> torch.Tensor:
    """Images ``first … first + len(labels) - 1`` of a set (their parameters ``p``) → uint8 (N, 3, H, W)."""
    n, (h, w), d = len(labels), size, float(difficulty)
    # Pixel centres in [-1, 1], the shorter side spanning 2 units.
    span = min(h, w)
    ys = (torch.arange(h, dtype=torch.float32) + 0.5 - h / 2) / (span / 2)
    xs = (torch.arange(w, dtype=torch.float32) + 0.5 - w / 2) / (span / 2)
    gy, gx = ys.view(1, h, 1), xs.view(1, 1, w)  # (1, H, 1), (1, 1, W)

    canvas = p["background"].view(n, 3, 1, 1).expand(n, 3, h, w).clone()  # (N, 3, H, W)
    for b in range(3):
        cx, cy = p[f"blob{b}_cx"].view(n, 1, 1), p[f"blob{b}_cy"].view(n, 1, 1)
        blob = _soft_mask(torch.sqrt((gx - cx) ** 2 + (gy - cy) ** 2) - p[f"blob{b}_radius"].view(n, 1, 1),
                          torch.tensor(2.0 / span))
        canvas.lerp_(p[f"blob{b}_colour"].view(n, 3, 1, 1), blob.mul_(p[f"blob{b}_present"].view(n, 1, 1)).unsqueeze(1))

    s = p["scale"].view(n, 1, 1)
    cx, cy, angle = p["cx"].view(n, 1, 1), p["cy"].view(n, 1, 1), p["angle"].view(n, 1, 1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    u = ((gx - cx) * cos + (gy - cy) * sin) / s  # (N, H, W) in the shape's own units
    v = (-(gx - cx) * sin + (gy - cy) * cos) / s

    distance = torch.empty(n, h, w)
    for index, shape_distance in enumerate(_DISTANCES):  # a loop over 6 classes, never over samples
        chosen = labels == index
        if chosen.any():
            distance[chosen] = shape_distance(u[chosen], v[chosen])
    del u, v
    pixel = (2.0 / span) / s  # one pixel in the shape's units
    images = canvas.lerp_(p["foreground"].view(n, 3, 1, 1), _soft_mask(distance, pixel).unsqueeze(1))
    del distance

    if d > 0:
        for start in range(0, n, NOISE_BLOCK):  # each block of images from its own seed (see NOISE_BLOCK)
            block = (first + start) // NOISE_BLOCK
            noise = torch.randn(images[start:start + NOISE_BLOCK].shape,
                                generator=torch.Generator().manual_seed(noise_seed + block))
            images[start:start + NOISE_BLOCK].add_(noise.mul_(0.12 * d))
    return images.clamp_(0, 1).mul_(255).round_().to(torch.uint8)


def chunk_images(size: tuple[int, int]) -> int:
    """Images per generation chunk at ``size``: about CHUNK_PIXELS pixels, a whole number of noise blocks."""
    blocks = CHUNK_PIXELS // (NOISE_BLOCK * size[0] * size[1])
    return NOISE_BLOCK * max(1, blocks)


def render_shapes(labels: torch.Tensor, size: tuple[int, int] = (32, 32), difficulty: float = 0.3,
                  generator: torch.Generator | None = None, *, count: int | None = None) -> torch.Tensor:
    """Draw one shape per label (index into SHAPE_CLASSES) → uint8 images (N, 3, H, W).

    ``count``: draw only the first ``count`` images (a preview); they are exactly the first images of the whole
    set. Generation runs in chunks (``chunk_images``) into one preallocated uint8 tensor, so the memory it takes
    beyond the result stays bounded. Example:
    ``render_shapes(torch.tensor([0, 4]), (32, 32), 0.5, torch.Generator().manual_seed(0))``.
    """
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"difficulty must be between 0 and 1, got {difficulty}")
    generator = generator or torch.Generator().manual_seed(0)
    n, (h, w) = len(labels), (int(size[0]), int(size[1]))
    p = draw_parameters(n, difficulty, generator)
    noise_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    count = n if count is None else max(0, min(int(count), n))
    images = torch.empty(count, 3, h, w, dtype=torch.uint8)
    step = chunk_images((h, w))
    for start in range(0, count, step):
        stop = min(start + step, count)
        part = {key: value[start:stop] for key, value in p.items()}
        images[start:stop] = _render_chunk(labels[start:stop], part, (h, w), difficulty, noise_seed, start)
    return images


def shape_labels(n: int, generator: torch.Generator) -> torch.Tensor:
    """Balanced, shuffled labels of ``n`` shapes: the first numbers ``make_shapes`` draws from ``generator``."""
    labels = torch.arange(n) % len(SHAPE_CLASSES)
    return labels[torch.randperm(n, generator=generator)]


def make_shapes(n: int, size: tuple[int, int] = (32, 32), difficulty: float = 0.3,
                generator: torch.Generator | None = None, *, count: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images with balanced, shuffled labels → (uint8 images (N, 3, H, W), int64 labels (N,)).

    ``count``: draw only the first ``count`` images (every label is still returned): a preview of the set.
    Example: ``images, labels = make_shapes(600, (32, 32), difficulty=0.3)``.
    """
    if n < 1:
        raise ValueError(f"the number of shapes must be ≥ 1, got {n}")
    generator = generator or torch.Generator().manual_seed(0)
    labels = shape_labels(n, generator)
    return render_shapes(labels, size, difficulty, generator, count=count), labels
