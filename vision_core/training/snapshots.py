"""Time-lapse of a run: first-layer filters, a probe image's feature maps and every layer's weight and gradient
histograms, captured between batches.

Captured in ``on_train_batch_end`` (between two optimiser steps), with the model briefly in eval
mode and no gradients, then put back: BatchNorm statistics and Dropout never see the probe, so
training computes exactly what it would without snapshots. The histograms read the weights and the
gradients the step just used (the loop clears gradients at the start of the next step, not after this one).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from torch import nn

from vision_core.analysis.histograms import Histograms, layer_histograms
from vision_core.analysis.inspection import feature_maps

MAX_SNAPSHOTS = 200  # beyond this every other snapshot is dropped (the time-lapse keeps its span)
MAX_CHANNELS = 16  # feature-map channels kept per layer


@dataclass
class Snapshot:
    step: int
    epoch: int
    filters: torch.Tensor  # (O, C, kh, kw) of the first Conv2d
    feature_maps: dict[str, torch.Tensor]  # layer name → (C, H, W) for the probe image
    probe_label: int
    histograms: Histograms | None = None  # weights and gradients per layer; None in files from before them


def first_conv(model: nn.Module) -> nn.Conv2d | None:
    return next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)


def capture(model: nn.Module, probe: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(first-layer filters, feature maps of every spatial top-level layer) for one normalised probe (1, C, H, W).

    Eval mode and no_grad while it looks (``inspection.feature_maps``), the previous mode restored.
    """
    maps = {name: m[:MAX_CHANNELS].to(torch.float16) for name, m in feature_maps(model, probe).items()}
    conv = first_conv(model)
    filters = conv.weight.detach().to("cpu", torch.float16).clone() if conv is not None else torch.zeros(0)
    return filters, maps


class SnapshotCallback(L.Callback):
    """Every ``every_n_steps`` steps (and at the start and the end), record filters, feature maps and, unless
    ``histograms=False``, the weight and gradient histograms of every layer (the start has no gradients yet)."""

    def __init__(self, run_path: str | os.PathLike, every_n_steps: int, dataset, histograms: bool = True) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be ≥ 1, got {every_n_steps}")
        self.path = Path(run_path) / "snapshots.pt"
        self.every = every_n_steps
        self.histograms = histograms
        image, label = dataset.test[0]
        self.probe_image = dataset.normalize(image.unsqueeze(0))  # (1, C, H, W)
        self.probe_label = label
        self.snapshots: list[dict] = []
        self.batch_epoch = 0  # epoch of the latest batch: at train end Lightning's current_epoch is one past it

    def _take(self, trainer, pl_module, epoch: int) -> None:
        if not trainer.is_global_zero:
            return
        if self.snapshots and self.snapshots[-1]["step"] == trainer.global_step:
            return
        filters, maps = capture(pl_module.model, self.probe_image.to(pl_module.device))
        snapshot = {"step": int(trainer.global_step), "epoch": int(epoch), "filters": filters, "feature_maps": maps}
        if self.histograms:
            snapshot["histograms"] = layer_histograms(pl_module.model).to_dict()
        self.snapshots.append(snapshot)
        if len(self.snapshots) > MAX_SNAPSHOTS:
            self.snapshots = self.snapshots[::2]

    def _save(self, trainer) -> None:
        if not trainer.is_global_zero or not self.snapshots:
            return
        tmp = self.path.with_suffix(".tmp")
        torch.save({"probe_label": self.probe_label, "probe_image": self.probe_image[0].cpu(),
                    "snapshots": self.snapshots}, tmp)
        os.replace(tmp, self.path)  # readers never see half a file

    def on_train_start(self, trainer, pl_module) -> None:
        self._take(trainer, pl_module, trainer.current_epoch)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batch_epoch = trainer.current_epoch
        if trainer.global_step % self.every == 0:
            self._take(trainer, pl_module, self.batch_epoch)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._save(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        self._take(trainer, pl_module, self.batch_epoch)
        self._save(trainer)


def load_snapshots(run_path: str | os.PathLike) -> tuple[list[Snapshot], torch.Tensor | None]:
    """The run's time-lapse (oldest first) and the normalised probe image; ([], None) when there is none."""
    path = Path(run_path) / "snapshots.pt"
    if not path.is_file():
        return [], None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        snaps = [Snapshot(int(s["step"]), int(s["epoch"]), s["filters"].float(),
                          {k: v.float() for k, v in s["feature_maps"].items()}, int(data.get("probe_label", -1)),
                          _histograms(s.get("histograms")))
                 for s in data["snapshots"]]
    except Exception:  # noqa: BLE001 -- damaged or foreign file: the page shows "no time-lapse" instead
        return [], None
    return snaps, data.get("probe_image")


def _histograms(data) -> Histograms | None:
    """A snapshot's histograms, or None when it has none or they are damaged (the time-lapse still plays)."""
    if not isinstance(data, dict):
        return None
    try:
        return Histograms.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
