"""Weight and gradient histograms per layer (TensorBoard's histograms), at a fixed cost per snapshot.

A *layer* is a top-level child of the model that holds parameters (``conv1``, ``fc2``, ``block1_1``…); its
weights and biases are counted together. Per layer and snapshot:

- weights: ``BINS`` equal bins between the layer's smallest and largest parameter (the range moves as it
  trains: ``weight_range`` says where the bins lie, the figure puts all snapshots on one axis);
- gradients: ``BINS`` bins of log10 |gradient| over the fixed range ``GRAD_LOG_RANGE``, so that a gradient
  a million times smaller than another lands six decades to the left (the picture of vanishing gradients).
  Magnitudes outside the range go to the first or last bin (exact zeros to the first), so the bins count
  every parameter that has a gradient;
- the L2 norm of the weights and of the gradient.

Everything is computed on the model's device and copied to the CPU in one transfer: a snapshot costs a few
kernels per layer, whatever the layer's size, and never a host sync per layer.

Example::

    h = layer_histograms(model)            # after loss.backward()
    h.layers                               # ["conv1", "conv2", "fc1", "fc2", "fc3"]
    h.weight_counts.sum(1)                 # parameters per layer
    h.grad_norm[0] / h.grad_norm[-1]       # ≪ 1: the first layer learns much more slowly than the last
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

BINS = 32  # per layer and snapshot: a fixed cost, and enough to see a distribution's shape
GRAD_LOG_RANGE = (-10.0, 2.0)  # log10 |g|: from 1e-10 (vanished) to 100 (exploding)


@dataclass
class Histograms:
    """One snapshot's histograms; rows follow ``layers``. Counts are float64: exact for any model that fits."""

    layers: list[str]
    weight_range: torch.Tensor  # (L, 2): the smallest and largest parameter of each layer
    weight_counts: torch.Tensor  # (L, BINS): parameters per equal bin of weight_range
    grad_counts: torch.Tensor  # (L, BINS): parameters per bin of log10 |g| over GRAD_LOG_RANGE (zeros: none yet)
    weight_norm: torch.Tensor  # (L,)
    grad_norm: torch.Tensor  # (L,): NaN where the layer has no gradient (before the first step, frozen)

    def to_dict(self) -> dict:
        """Plain tensors, lists and floats: what ``torch.load(weights_only=True)`` reads back."""
        return {"layers": list(self.layers), "weight_range": self.weight_range, "weight_counts": self.weight_counts,
                "grad_counts": self.grad_counts, "weight_norm": self.weight_norm, "grad_norm": self.grad_norm,
                "grad_log_range": list(GRAD_LOG_RANGE)}

    @classmethod
    def from_dict(cls, data: dict) -> Histograms:
        """Read back what ``to_dict`` wrote; ValueError when the shapes do not agree (a damaged file)."""
        layers = [str(name) for name in data["layers"]]
        h = cls(layers, *(data[k].double() for k in ("weight_range", "weight_counts", "grad_counts",
                                                      "weight_norm", "grad_norm")))
        n = len(layers)
        if (h.weight_range.shape != (n, 2) or h.weight_counts.shape[0] != n or h.grad_counts.shape != h.weight_counts.shape
                or h.weight_norm.shape != (n,) or h.grad_norm.shape != (n,)):
            raise ValueError("histogram tensors do not match their layers")
        return h

    def weight_edges(self, row: int) -> torch.Tensor:
        """(BINS + 1,) bin edges of one layer's weight histogram."""
        low, high = self.weight_range[row].tolist()
        return torch.linspace(low, high, self.weight_counts.shape[1] + 1)


def grad_edges(bins: int = BINS) -> torch.Tensor:
    """(bins + 1,) edges of the gradient histograms, in log10 |g|."""
    return torch.linspace(*GRAD_LOG_RANGE, bins + 1)


def parameter_layers(model: nn.Module) -> list[tuple[str, list[nn.Parameter]]]:
    """(name, parameters) of each top-level child that has parameters, in order; a model that is not a
    container is one layer named after its class."""
    children = list(model.named_children()) or [(type(model).__name__, model)]
    out = []
    for name, child in children:
        params = list(child.parameters())
        if params:
            out.append((name, params))
    return out


def _counts(values: torch.Tensor, low: torch.Tensor, high: torch.Tensor, bins: int) -> torch.Tensor:
    """Equal-width bins of [low, high] (tensors: no host sync); the top edge belongs to the last bin."""
    span = torch.where(high > low, high - low, torch.ones_like(high))
    index = ((values - low) / span * bins).long().clamp_(0, bins - 1)
    ones = torch.ones_like(values, dtype=torch.float64)
    return torch.zeros(bins, dtype=torch.float64, device=values.device).index_add_(0, index, ones)


@torch.no_grad()
def layer_histograms(model: nn.Module, bins: int = BINS) -> Histograms:
    """Histograms of every layer's weights and gradients as they are now (see the module's docstring).

    Call it between ``backward`` and ``zero_grad`` to see this step's gradients. Raises ValueError for a model
    without parameters.
    """
    layers = parameter_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no parameters, so it has no weight histograms")
    log_low, log_high = GRAD_LOG_RANGE
    rows = []
    for _, params in layers:
        weights = torch.cat([p.detach().reshape(-1).float() for p in params])
        low, high = weights.min(), weights.max()
        grads = [p.grad.detach().reshape(-1).float() for p in params if p.grad is not None]
        if grads:
            grad = torch.cat(grads)
            magnitude = grad.abs().clamp_min(10.0 ** log_low).log10()  # exact zeros → the first bin
            grad_counts = _counts(magnitude, weights.new_tensor(log_low), weights.new_tensor(log_high), bins)
            grad_norm = grad.norm()
        else:
            grad_counts = weights.new_zeros(bins, dtype=torch.float64)
            grad_norm = weights.new_tensor(float("nan"))
        rows.append(torch.cat([torch.stack([low, high, weights.norm(), grad_norm]).double(),
                               _counts(weights, low, high, bins), grad_counts]))
    table = torch.stack(rows).cpu()  # (L, 4 + 2·bins): the one copy to the host
    return Histograms(layers=[name for name, _ in layers], weight_range=table[:, :2].clone(),
                      weight_counts=table[:, 4:4 + bins].clone(), grad_counts=table[:, 4 + bins:].clone(),
                      weight_norm=table[:, 2].clone(), grad_norm=table[:, 3].clone())
