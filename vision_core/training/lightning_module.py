"""The LightningModule and LightningDataModule every run uses (CLI and dashboard alike).

Per-step cost decides the speed of small models (on a GPU their step is well under a millisecond),
so a training step returns its loss and its (detached) logits on the device and the loop
(``fit_loop.FabricTrainer``) keeps them: no metric object, no host sync per step, and the correct
answers of many steps are counted at once (``correct_mask`` on their concatenated logits).
Measurements: docs/PERFORMANCE.md.

The speed options of a run (``RunConfig.fast`` and the flags next to it) are resolved here too:
``speed_options`` for the module, ``trainer_overrides`` for the loop's own arguments (precision,
cuDNN autotuning).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import warnings
from dataclasses import dataclass

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.data.loader import BatchLoader

WHITENING_SAMPLE = 5000  # training images a model's init_from_data sees (airbench uses 5,000)
# The columns of metrics.csv each stage's running sums become (the pages and runs.metrics_history read them).
EPOCH_NAMES = {"train": ("train_loss_epoch", "train_acc"), "val": ("val_loss", "val_acc"),
               "test": ("test_loss", "test_acc")}


def is_binary_logit(model: nn.Module) -> bool:
    """A model whose last Linear gives one number: trained with BCE-with-logits (the smile recipe)."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return bool(last) and last[-1].out_features == 1


# ---------------------------------------------------------------------------------------------------------------
# Speed options


@dataclass(frozen=True)
class SpeedOptions:
    """What a run actually uses on its device, and why an option it asked for is off (``notes``)."""

    precision: str = "32"
    channels_last: bool = False
    compile: bool = False
    fused_optimizer: bool = False
    cudnn_benchmark: bool = False
    notes: tuple[str, ...] = ()


def _is_gpu(accelerator: str) -> bool:
    return accelerator in ("gpu", "cuda")


def compile_unsupported(accelerator: str) -> str | None:
    """Why torch.compile cannot run here (a sentence for the student), or None when it can."""
    if not hasattr(torch, "compile"):
        return "this PyTorch has no torch.compile"
    try:
        from torch import _dynamo

        if not _dynamo.is_dynamo_supported():
            return f"torch.compile does not support Python {sys.version_info.major}.{sys.version_info.minor} here"
    except ImportError:
        return "torch.compile is not available in this PyTorch build"
    if _is_gpu(accelerator) and importlib.util.find_spec("triton") is None:
        return "torch.compile on a GPU needs Triton, which is not installed"
    if not _is_gpu(accelerator) and not any(shutil.which(c) for c in ("g++", "c++", "clang++", "cl")):
        return "torch.compile on the CPU needs a C++ compiler (g++ or clang++), and none was found"
    return None


def speed_options(config: RunConfig, accelerator: str) -> SpeedOptions:
    """Resolve ``config.fast`` and the individual flags for ``accelerator`` ("gpu"/"cuda" or "cpu").

    ``fast`` turns on what pays off on the device: on a GPU bf16 autocast (where the GPU has bf16),
    channels-last, fused optimisers and cuDNN autotuning; on the CPU only the fused optimiser
    (bf16 and channels-last are slower on most CPUs). ``torch.compile`` is never implied by ``fast``:
    its first step takes tens of seconds, longer than a classroom run; ask for it with ``compile``.

    Example: ``speed_options(RunConfig(fast=True), "gpu").precision == "bf16-mixed"`` on an Ampere GPU.
    """
    gpu = _is_gpu(accelerator)
    notes = []
    precision = config.precision
    if config.fast and gpu and precision == "32" and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        precision = "bf16-mixed"
    if precision == "bf16-mixed" and gpu and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        precision = "32"
        notes.append("bf16 is off: this GPU has no bfloat16 support; training in float32.")
    use_compile = config.compile
    if use_compile and (reason := compile_unsupported(accelerator)):
        use_compile = False
        notes.append(f"torch.compile is off: {reason}; training without it.")
    return SpeedOptions(
        precision=precision,
        channels_last=config.channels_last or (config.fast and gpu),
        compile=use_compile,
        fused_optimizer=config.fused_optimizer or config.fast,
        cudnn_benchmark=config.fast and gpu,
        notes=tuple(notes),
    )


def trainer_overrides(config: RunConfig, accelerator: str) -> dict:
    """Keyword arguments for the training loop that the run's speed options need (merge them into the call).

    Example: ``FabricTrainer(accelerator="gpu", **trainer_overrides(config, "gpu"), ...)``.
    """
    options = speed_options(config, accelerator)
    overrides: dict = {"precision": options.precision}
    if options.cudnn_benchmark:
        overrides["benchmark"] = True  # fixed input shapes: cuDNN picks the fastest convolution once
    return overrides


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def make_optimizer(config: RunConfig, params, fused: bool = False) -> torch.optim.Optimizer:
    """The optimiser ``config`` names; ``fused`` asks for PyTorch's single-kernel implementation."""
    kwargs = {"fused": True} if fused else {}
    if config.optimizer == "sgd":
        make = torch.optim.SGD
        kwargs.update(momentum=config.momentum, nesterov=config.nesterov)
    elif config.optimizer == "adam":
        make = torch.optim.Adam
    else:
        make = torch.optim.AdamW
    return make(params, lr=config.lr, weight_decay=config.weight_decay, **kwargs)


def warmup_linear(step: int, total_steps: int) -> float:
    """The lr factor of the ``warmup_linear`` schedule at ``step``: airbench's triangle.

    0.2 → 1 over the first 23 % of the steps, then linearly down to 0.07 at the last one.
    Example: ``warmup_linear(0, 100) == 0.2``, ``warmup_linear(23, 100) == 1.0``.
    """
    peak = max(int(0.23 * total_steps), 1)
    if step < peak:
        return 0.2 + 0.8 * step / peak
    return 1.0 - 0.93 * min((step - peak) / max(total_steps - peak, 1), 1.0)


# ---------------------------------------------------------------------------------------------------------------
# The module


class ClassifierModule(L.LightningModule):
    """Wraps a zoo model: its loss, its optimiser and schedule, and one training or evaluation step.

    The loop that drives it is ``fit_loop.FabricTrainer`` (Lightning Fabric): it calls ``prepare``
    once on the device, ``make_optimizer``, then ``train_step`` / ``eval_step`` per batch, and keeps
    the running sums of loss and correct predictions. Still a LightningModule, so a run's checkpoint
    loads with ``ClassifierModule.load_from_checkpoint`` and carries the run's config.
    """

    def __init__(self, model: nn.Module, config: RunConfig, num_classes: int) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.binary = is_binary_logit(model)
        # Saved inside every checkpoint, so a checkpoint says what made it.
        self.save_hyperparameters({"config": config.to_dict(), "num_classes": num_classes})
        self.speed = SpeedOptions()
        self.speed_notes: list[str] = []  # messages about speed options that are off (for the run's status)
        self._compiled = None  # torch.compile'd model (a callable, kept out of the module tree), or None
        self._compile_checked = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Training goes through the compiled model when there is one; evaluation never (a mode switch
        # would compile it once more, for a few batches).
        if self._compiled is not None and self.training:
            return self._compiled(x)
        return self.model(x)

    # --- set-up ---------------------------------------------------------------------------------------------

    def prepare(self, device_type: str) -> None:
        """Resolve the speed options for the device ("cuda" or "cpu") and apply the model's part of them."""
        self.speed = speed_options(self.config, "gpu" if device_type == "cuda" else device_type)
        for note in self.speed.notes:
            if note not in self.speed_notes:
                self.speed_notes.append(note)
                _warn(note)
        if self.speed.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if self.speed.compile and self._compiled is None:
            # dynamic=False: the shapes are fixed (the last, smaller batch compiles once more).
            self._compiled = torch.compile(self.model, dynamic=False).__call__
            self._compile_checked = False

    def init_from_data(self, dataset: datasets.ImageDataset) -> None:
        """Models with a data-dependent start (airbench's whitening conv) see a sample of the training
        images once, before the first step. Every DDP rank computes the same weights from the same sample."""
        init = getattr(self.model, "init_from_data", None)
        if callable(init):
            init(dataset.normalize(dataset.train.images[:WHITENING_SAMPLE].float() / 255).to(self.device))

    def make_optimizer(self, total_steps: int):
        """(optimizer, scheduler or None, "step" or "epoch"): what the config names, for ``total_steps`` steps."""
        c = self.config
        optimizer = None
        if self.speed.fused_optimizer:
            try:
                optimizer = make_optimizer(c, self.parameters(), fused=True)
            except (RuntimeError, ValueError, TypeError) as exc:
                note = f"The fused optimiser is off ({exc}); using the standard one."
                self.speed_notes.append(note)
                _warn(note)
        if optimizer is None:
            optimizer = make_optimizer(c, self.parameters())
        if c.scheduler == "cosine":
            return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=c.epochs), "epoch"
        if c.scheduler == "step":
            step = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(c.epochs // 3, 1), gamma=0.1)
            return optimizer, step, "epoch"
        if c.scheduler == "warmup_linear":
            total = max(int(total_steps), 1)
            return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_linear(s, total)), "step"
        return optimizer, None, "epoch"

    def _inputs(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch  # (B, C, H, W), (B,)
        if self.speed.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    # --- steps ---------------------------------------------------------------------------------------------------

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.binary:
            return F.binary_cross_entropy_with_logits(logits.squeeze(1), y.float())
        return F.cross_entropy(logits, y, label_smoothing=self.config.label_smoothing)

    def correct_mask(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(N,) bool: which predictions are right. Works on one batch or on many batches' logits at once."""
        if self.binary:
            return (logits.squeeze(1) > 0) == y.bool()
        return logits.argmax(dim=1) == y

    def train_step(self, batch, forward, backward) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward of one batch: (loss, logits), detached, on the device; the optimiser step is the loop's.

        ``forward`` is this module as Fabric set it up (autocast, DDP's gradient sync), ``backward``
        Fabric's backward. The first compiled step is tried: compilers fail late (no C++ compiler,
        Triton, an operator they lack); then the step runs again without compile, and training goes on.
        """
        x, y = self._inputs(batch)
        if self._compiled is None or self._compile_checked:
            logits = forward(x)
            loss = self._loss(logits, y)
            backward(loss)
            return loss.detach(), logits.detach()
        self._compile_checked = True
        try:
            logits = forward(x)
            loss = self._loss(logits, y)
            backward(loss)
            return loss.detach(), logits.detach()
        except Exception as exc:  # noqa: BLE001 — compiler failures have many types (BackendCompilerFailed, OSError…)
            self._compiled = None
            first_line = str(exc).splitlines()[0][:200] if str(exc) else ""
            note = f"torch.compile failed ({type(exc).__name__}: {first_line}); training continues without it."
            self.speed_notes.append(note)
            _warn(note)
            self.model.zero_grad(set_to_none=True)
            return self.train_step(batch, forward, backward)

    def eval_step(self, batch, forward) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, logits) of one batch in eval mode (the caller holds torch.no_grad)."""
        x, y = self._inputs(batch)
        logits = forward(x)
        return self._loss(logits, y), logits


class VisionDataModule(L.LightningDataModule):
    """Batches straight from in-memory tensors on the training device (no per-sample work)."""

    def __init__(self, config: RunConfig, dataset: datasets.ImageDataset | None = None) -> None:
        super().__init__()
        self.config = config
        self.dataset = dataset

    def prepare_data(self) -> None:
        # Download happens here, once, when the machine is online and the user asked for it.
        if self.dataset is None:
            datasets.load(self.config.dataset, **self.config.dataset_options)

    def setup(self, stage: str | None = None) -> None:
        if self.dataset is None:
            self.dataset = datasets.load(self.config.dataset, **self.config.dataset_options)

    def _loader(self, split, *, train: bool) -> BatchLoader:
        trainer = self.trainer
        return BatchLoader(
            split,
            self.dataset,
            self.config.batch_size,
            shuffle=train,
            device=trainer.strategy.root_device if trainer else "cpu",
            augment=self.config.augment if train else None,
            seed=self.config.seed,
            rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
        )

    def train_dataloader(self) -> BatchLoader:
        return self._loader(self.dataset.train, train=True)

    def val_dataloader(self) -> BatchLoader:
        # Recipes without a validation split (FashionMNIST) validate on the test set, as the tutorial does.
        val = self.dataset.val if self.dataset.val is not None else self.dataset.test
        return self._loader(val, train=False)

    def test_dataloader(self) -> BatchLoader:
        return self._loader(self.dataset.test, train=False)
