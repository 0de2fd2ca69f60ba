"""Vanishing gradients: the same deep plain network with sigmoid or ReLU, without or with BatchNorm.

The textbook's chapter on training deep networks, measured: eight hidden layers of 64 units on the 8×8 digits,
He-initialised, trained with the same batches and the same SGD. With sigmoid each layer multiplies the gradient
on its way back by σ'(z) ≤ 0.25, so the first layer's gradient is thousands of times smaller than the last's and
the network stays at chance; ReLU passes it through (its slope is 1 where it is active); BatchNorm keeps every
layer's inputs centred and scaled, which rescues even the sigmoid network.

Small enough to train in the page's own process (a few seconds for all four variants on one CPU core), and
deterministic, so one result per server serves the whole class.

Example::

    result = train_variant("sigmoid", batchnorm=False)
    result.histograms[1].grad_norm        # first step: fc1 ~1e-4 … fc9 ~1
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vision_core.analysis.histograms import Histograms, layer_histograms
from vision_core.data import datasets

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU}
VARIANTS = (("sigmoid", False), ("relu", False), ("sigmoid", True), ("relu", True))
DEPTH = 8  # hidden layers: deep enough that sigmoid's 0.25 per layer leaves 0.25**8 ≈ 1.5e-5 at the first
WIDTH = 64
STEPS = 150  # the ReLU network passes 85 % test accuracy by then; the plain sigmoid one is still at chance
EVERY = 10  # steps between histogram snapshots
BATCH = 64
LR, MOMENTUM = 0.1, 0.9


def label(activation: str, batchnorm: bool) -> str:
    return f"{activation} + BatchNorm" if batchnorm else activation


def deep_plain_net(activation: str, batchnorm: bool, *, inputs: int = 64, classes: int = 10, depth: int = DEPTH,
                   width: int = WIDTH, seed: int = 0) -> nn.Sequential:
    """Flatten → [Linear → (BatchNorm) → activation] × depth → Linear, He-initialised (same weights per seed).

    Example: ``deep_plain_net("relu", False)`` has layers fc1 … fc9.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    generator = torch.Generator().manual_seed(seed)
    layers: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
    width_in = inputs
    for i in range(1, depth + 1):
        layers.append((f"fc{i}", nn.Linear(width_in, width)))
        if batchnorm:
            layers.append((f"bn{i}", nn.BatchNorm1d(width)))
        layers.append((f"{activation}{i}", ACTIVATIONS[activation]()))
        width_in = width
    layers.append((f"fc{depth + 1}", nn.Linear(width_in, classes)))
    model = nn.Sequential(OrderedDict(layers))
    for module in model.modules():
        if isinstance(module, nn.Linear):  # He initialisation, drawn from the seed: every variant starts alike
            std = (2.0 / module.in_features) ** 0.5
            with torch.no_grad():
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                module.bias.zero_()
    return model


@dataclass
class LessonRun:
    activation: str
    batchnorm: bool
    steps: list[int]  # snapshot steps (1 = after the first backward)
    histograms: list[Histograms]  # one per snapshot step
    loss_steps: list[int]
    losses: list[float]
    test_accuracy: float

    @property
    def label(self) -> str:
        return label(self.activation, self.batchnorm)

    def first_layer_grad_norm(self, snapshot: int = 0) -> float:
        return float(self.histograms[snapshot].grad_norm[self.histograms[snapshot].layers.index("fc1")])


def train_variant(activation: str, batchnorm: bool, *, steps: int = STEPS, every: int = EVERY,
                  seed: int = 0) -> LessonRun:
    """Train one variant on the 8×8 digits, recording the histograms after the first backward and every ``every``
    steps (between backward and the optimiser step, as a run's snapshots see them)."""
    data = datasets.load("digits", image_size=8)
    x = data.normalize(data.train.images.float() / 255)  # (N, 1, 8, 8)
    y = data.train.labels
    torch.manual_seed(seed)  # nothing here draws from it; BatchNorm and the batches use their own generator
    model = deep_plain_net(activation, batchnorm, classes=len(data.classes), seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    batches = torch.Generator().manual_seed(seed)
    snap_steps, histograms, losses = [], [], []
    model.train()
    for step in range(1, steps + 1):
        index = torch.randint(0, len(y), (BATCH,), generator=batches)
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[index]), y[index])
        loss.backward()
        losses.append(float(loss.detach()))
        if step == 1 or step % every == 0:
            snap_steps.append(step)
            histograms.append(layer_histograms(model))
        optimizer.step()
    model.eval()
    with torch.no_grad():
        test_x = data.normalize(data.test.images.float() / 255)
        accuracy = float((model(test_x).argmax(1) == data.test.labels).float().mean())
    return LessonRun(activation, batchnorm, snap_steps, histograms, list(range(1, steps + 1)), losses, accuracy)
