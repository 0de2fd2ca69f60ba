"""Embedding projector (TensorBoard's): the test images as the network's penultimate layer sees them, in 2-D.

The *penultimate features* of an image are what goes into the last ``Linear`` layer: the representation the
classifier draws its straight boundaries in. Trained, images of one class gather in it; untrained, they lie
mixed. Two projections to the plane:

- PCA: the two directions of largest variance of the centred features (deterministic up to each axis's sign,
  which is fixed here as scikit-learn fixes it);
- t-SNE (scikit-learn): keeps neighbours together, so clusters show even when they are not linearly apart;
  distances between clusters mean little.

At most ``MAX_POINTS`` test images (a seeded sample), so a projection costs the same on MNIST as on digits.

Example::

    e = embed(model, dataset.test, dataset.normalize, method="pca")
    e.coords.shape            # (359, 2) on digits
    e.indices[e.wrong]        # test images the model gets wrong
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from vision_core.analysis.evaluation import probabilities_from_logits

MAX_POINTS = 2000  # t-SNE of 2,000 points takes seconds on one core; a plot of more is a blur anyway
METHODS = ("pca", "tsne")


@dataclass
class Embedding:
    method: str
    indices: torch.Tensor  # (N,) test-set indices of the points
    coords: torch.Tensor  # (N, 2)
    labels: torch.Tensor  # (N,) true classes
    predictions: torch.Tensor  # (N,) predicted classes
    feature_size: int  # width of the penultimate layer

    @property
    def wrong(self) -> torch.Tensor:
        """(N,) bool: misclassified points."""
        return self.labels != self.predictions


def sample_indices(count: int, max_points: int = MAX_POINTS, seed: int = 0) -> torch.Tensor:
    """Every index when there are few, else a seeded random ``max_points`` of them, in increasing order."""
    if count <= max_points:
        return torch.arange(count)
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed))[:max_points].sort().values


def last_linear(model: nn.Module) -> nn.Linear:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no Linear layer, so it has no penultimate features")
    return linears[-1]


@torch.no_grad()  # not inference_mode: the features may feed a later computation
def penultimate_features(model: nn.Module, images: torch.Tensor, normalize: Callable[[torch.Tensor], torch.Tensor],
                         batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (N, D), logits (N, K)) of uint8 ``images`` (N, C, H, W): the last Linear's input and output.

    Eval mode while it looks, the previous mode restored.
    """
    captured: list[torch.Tensor] = []
    hook = last_linear(model).register_forward_pre_hook(lambda _, args: captured.append(args[0].flatten(1).float()))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        logits = torch.cat([model(normalize(images[i:i + batch_size].to(device).float() / 255)).float().cpu()
                            for i in range(0, len(images), batch_size)])
    finally:
        hook.remove()
        model.train(was_training)
    return torch.cat(captured).cpu(), logits


def pca_2d(features: torch.Tensor) -> torch.Tensor:
    """(N, 2): the centred features on their two main axes, each axis signed as scikit-learn's PCA signs it
    (the largest loading of each component positive)."""
    x = features.double()
    x = x - x.mean(0)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)  # rows of vh: principal directions, largest first
    components = vh[:2]
    signs = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True)))
    components = components * torch.where(signs == 0, torch.ones_like(signs), signs)
    coords = x @ components.T
    if coords.shape[1] < 2:  # one feature (or one point): a flat second axis
        coords = torch.cat([coords, torch.zeros(len(coords), 2 - coords.shape[1], dtype=coords.dtype)], 1)
    return coords.float()


def tsne_2d(features: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """(N, 2) t-SNE of the features (scikit-learn, PCA start, seeded: the same picture every time)."""
    from sklearn.manifold import TSNE  # imported here: a second to import, and only this view needs it

    n = len(features)
    if n < 5:
        raise ValueError(f"t-SNE needs at least 5 points, got {n}")
    tsne = TSNE(n_components=2, init="pca", random_state=seed, perplexity=min(30.0, (n - 1) / 3))
    return torch.from_numpy(tsne.fit_transform(features.double().numpy())).float()


def embed(model: nn.Module, split, normalize: Callable[[torch.Tensor], torch.Tensor], method: str = "pca",
          max_points: int = MAX_POINTS, seed: int = 0) -> Embedding:
    """The test ``split``'s penultimate features in 2-D (at most ``max_points`` of them), with each point's class
    and prediction. Raises ValueError for an unknown method or a model without a Linear layer."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if len(split.labels) == 0:
        raise ValueError("The test split is empty: there is nothing to project.")
    indices = sample_indices(len(split.labels), max_points, seed)
    features, logits = penultimate_features(model, split.images[indices], normalize)
    coords = pca_2d(features) if method == "pca" else tsne_2d(features, seed)
    predictions = probabilities_from_logits(logits).argmax(1)
    return Embedding(method, indices, coords, split.labels[indices].long(), predictions, features.shape[1])
