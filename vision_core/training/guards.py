"""Guards before anything is allocated: a job's data and memory, sized from its options, against the teacher's limits.

``gate(config)`` is the one gate between what a student sends (a form, a ``?setup=`` link, a queued run, the
command line) and any allocation: the dataset is sized from its options alone (``datasets.plan``: images ×
channels × height × width, and how many images a generator would draw), then the model on the meta device.

The model is built under ``torch.device("meta")``: every parameter has a shape and a dtype but no storage, so
a 2-billion-parameter model costs nothing to "build". One forward pass on a meta batch, with a hook on every
layer, measures the activations autograd keeps for the backward pass.

Example::

    estimate = check(RunConfig(model="lenet", batch_size=64), (1, 32, 32), num_classes=10)
    estimate.describe()  # '≈ 1.4 MB (weights 241 KB, gradients 241 KB, optimiser state 482 KB, ...)'
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass

import torch
from torch import nn

from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.limits import Limits, load_limits
from vision_core.models import zoo as models
from vision_core.runs import challenges


class GuardError(ValueError):
    """A job over a classroom limit. ``limit`` is the ``Limits`` field, ``value`` what the job asked for,
    ``allowed`` the limit, ``estimate`` the memory estimate (None when refused before building the model),
    ``hint`` how to get under the limit."""

    def __init__(self, message: str, *, limit: str, value: float, allowed: float,
                 estimate: MemoryEstimate | None = None, hint: str = "") -> None:
        super().__init__(f"{message} {hint}".strip())
        self.limit = limit
        self.value = value
        self.allowed = allowed
        self.estimate = estimate
        self.hint = hint


def human_bytes(n: float) -> str:
    """1024-based, three significant figures at most: ``human_bytes(9.6 * 2**30)`` → '9.6 GB'."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            break
        n /= 1024
    if unit == "bytes":
        return f"{int(n)} bytes"
    return f"{n:.1f} {unit}" if n < 100 else f"{n:.0f} {unit}"


@dataclass(frozen=True)
class MemoryEstimate:
    """What one training job needs for one batch, in bytes (float32 unless the model says otherwise).

    Optimiser state: Adam/AdamW keep two running averages per parameter, SGD with momentum one, plain SGD none.
    Activations: every layer's output for one batch (what autograd keeps for the backward pass) plus the batch.
    """

    parameters: int
    weight_bytes: int
    gradient_bytes: int
    optimizer_bytes: int
    activation_bytes: int
    batch_size: int

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.gradient_bytes + self.optimizer_bytes + self.activation_bytes

    @property
    def fixed_bytes(self) -> int:
        """What the model costs whatever the batch size: weights, gradients, optimiser state."""
        return self.weight_bytes + self.gradient_bytes + self.optimizer_bytes

    def describe(self) -> str:
        """'≈ 9.6 GB (weights 8.0 GB, gradients 8.0 GB, optimiser state 16.0 GB, activations of a batch of 64 …)'."""
        return (f"≈ {human_bytes(self.total_bytes)} (weights {human_bytes(self.weight_bytes)}, "
                f"gradients {human_bytes(self.gradient_bytes)}, optimiser state {human_bytes(self.optimizer_bytes)}, "
                f"activations of a batch of {self.batch_size:,} {human_bytes(self.activation_bytes)})")


# --------------------------------------------------------------------------- estimating


def meta_model(model: str, model_options: dict, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """The model as ``models.build`` makes it, on the meta device: shapes and parameter counts, no storage.

    Raises what ``models.build`` raises (ShapeMismatchError / ValueError / TypeError) for a model that cannot be
    built for this input. Example: ``models.total_params(meta_model("lenet", {}, (1, 32, 32), 10))`` → 61706.
    """
    channels, height, width = (int(s) for s in input_shape)
    with torch.device("meta"):
        return models.build(model, in_channels=channels, num_classes=num_classes, image_size=(height, width),
                            **model_options)


def _optimizer_slots(config: RunConfig) -> int:
    """Tensors of parameter size the optimiser keeps per parameter."""
    if config.optimizer in ("adam", "adamw"):
        return 2  # exp_avg and exp_avg_sq
    return 1 if config.momentum > 0 else 0  # SGD's momentum buffer


def activation_bytes(model: nn.Module, input_shape: tuple[int, int, int], batch_size: int) -> int:
    """Bytes of every layer's output for one batch of ``batch_size`` (plus the batch), on the model's device.

    On the meta device this allocates nothing. Sequential containers are skipped: their output is their last
    layer's, already counted. Example: a Flatten → Linear(4, 2) on a batch of 8 1×2×2 inputs → (32 + 32 + 16) × 4.
    """
    total = 0

    def count(module, inputs, output):
        nonlocal total
        for tensor in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(tensor, torch.Tensor):
                total += tensor.numel() * tensor.element_size()

    handles = [m.register_forward_hook(count) for m in model.modules() if not isinstance(m, nn.Sequential)]
    device = next(model.parameters(), torch.empty(0)).device
    dtype = next(model.parameters(), torch.empty(0)).dtype
    was_training = model.training
    try:
        model.train()  # the training-time graph (dropout masks, BatchNorm batch statistics)
        batch = torch.empty(batch_size, *input_shape, device=device, dtype=dtype)
        with torch.no_grad():
            model(batch)
        total += batch.numel() * batch.element_size()
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return total


def estimate_model(model: nn.Module, config: RunConfig, input_shape: tuple[int, int, int]) -> MemoryEstimate:
    """The estimate for an already built (meta or real) model; see ``estimate``."""
    return _estimate_of(model, tuple(input_shape), config.batch_size, _optimizer_slots(config))


def _estimate_of(model: nn.Module, input_shape: tuple[int, int, int], batch_size: int,
                 optimizer_slots: int) -> MemoryEstimate:
    params = list(model.parameters())
    weights = sum(p.numel() * p.element_size() for p in params)
    trainable = sum(p.numel() * p.element_size() for p in params if p.requires_grad)
    return MemoryEstimate(
        parameters=sum(p.numel() for p in params),
        weight_bytes=weights,
        gradient_bytes=trainable,
        optimizer_bytes=trainable * optimizer_slots,
        activation_bytes=activation_bytes(model, tuple(input_shape), batch_size),
        batch_size=batch_size,
    )


@functools.lru_cache(maxsize=256)
def _checked_estimate(model: str, options_json: str, input_shape: tuple[int, int, int], num_classes: int,
                      batch_size: int, optimizer_slots: int) -> MemoryEstimate:
    """``check``'s model half, once per model, options (their JSON, as a run's config.json holds them), input,
    batch size and optimiser: the Train form asks on every rerun (a meta build and a meta forward, ~15 ms of
    the shared server's CPU each time). A model that does not fit raises, and is not remembered."""
    built = meta_model(model, json.loads(options_json), input_shape, num_classes)
    models.check_input(built, input_shape)  # a shape that does not fit is explained, layer by layer
    return _estimate_of(built, input_shape, batch_size, optimizer_slots)  # a meta forward: nothing allocated


def estimate(config: RunConfig, input_shape: tuple[int, int, int], num_classes: int) -> MemoryEstimate:
    """Memory one training job of ``config`` needs, without allocating its weights (meta device).

    Example: ``estimate(RunConfig(model="lenet"), (1, 32, 32), 10).parameters`` → 61706.
    """
    model = meta_model(config.model, dict(config.model_options), input_shape, num_classes)
    return estimate_model(model, config, input_shape)


# --------------------------------------------------------------------------- checking against the limits


@functools.lru_cache(maxsize=1)
def gpu_memory_bytes() -> int | None:
    """The first GPU's memory, None without one. Asked once per process: ``torch.cuda.is_available()`` loads NVML
    afresh on every call (~1 ms of every Train page rerun, py-spy)."""
    return torch.cuda.get_device_properties(0).total_memory if torch.cuda.is_available() else None


def memory_limit_bytes(limits: Limits, config: RunConfig | None = None) -> int:
    """One job's memory limit: ``max_memory_mb``, and never more than the GPU share when it trains on a GPU."""
    limit = limits.max_memory_bytes
    gpu_total = gpu_memory_bytes()
    if gpu_total is not None and (config is None or config.accelerator in ("auto", "gpu")):
        limit = min(limit, int(limits.gpu_memory_share * gpu_total))
    return limit


def _largest_layer(model: nn.Module) -> tuple[str, nn.Module, int]:
    """(name, layer, parameters) of the leaf layer holding the most parameters."""
    layers = [(name, m, sum(p.numel() for p in m.parameters(recurse=False))) for name, m in model.named_modules()]
    return max(layers, key=lambda row: row[2])


def _parameter_hint(model: nn.Module, total: int) -> str:
    name, layer, count = _largest_layer(model)
    share = 100 * count / max(total, 1)
    if isinstance(layer, nn.Linear):
        fix = "add pooling (or more blocks) before it, or use fewer channels or hidden units"
    else:
        fix = "use fewer channels or a smaller kernel"
    return f"{name} ({models.describe(layer)}) holds {share:.0f} % of them: {fix}."


def _memory_hint(est: MemoryEstimate, limit: int) -> str:
    per_sample = max(est.activation_bytes / est.batch_size, 1)
    fitting = math.floor((limit - est.fixed_bytes) / per_sample)
    if fitting >= 1 and fitting < est.batch_size:
        batch = 2 ** int(math.log2(fitting))  # a round number students recognise
        return f"Try batch size {batch} or fewer, or fewer channels."
    return (f"The model alone (weights, gradients, optimiser state) needs {human_bytes(est.fixed_bytes)}: "
            f"use fewer channels or hidden units, or add pooling before the Linear layers.")


def check_numbers(config: RunConfig, input_shape: tuple[int, int, int], limits: Limits | None = None) -> None:
    """The limits that need no model: batch size, epochs, image size. Raises GuardError."""
    limits = limits or load_limits()
    if config.batch_size > limits.max_batch_size:
        raise GuardError(f"Batch size {config.batch_size:,} is above this classroom's limit of "
                         f"{limits.max_batch_size:,}.", limit="max_batch_size", value=config.batch_size,
                         allowed=limits.max_batch_size, hint=f"Use a batch size of {limits.max_batch_size:,} or less.")
    if config.epochs > limits.max_epochs:
        raise GuardError(f"{config.epochs:,} epochs is above this classroom's limit of {limits.max_epochs:,}.",
                         limit="max_epochs", value=config.epochs, allowed=limits.max_epochs,
                         hint="Early stopping or fewer epochs get there too.")
    side = max(int(s) for s in input_shape[1:])
    if side > limits.max_image_size:
        raise GuardError(f"Images of {'×'.join(map(str, input_shape[1:]))} pixels are above this classroom's limit "
                         f"of {limits.max_image_size} pixels per side.", limit="max_image_size", value=side,
                         allowed=limits.max_image_size, hint="Resize the images to a smaller size.")


def check(config: RunConfig, input_shape: tuple[int, int, int], num_classes: int,
          limits: Limits | None = None) -> MemoryEstimate:
    """Refuse a job over a classroom limit before anything is allocated; return its memory estimate.

    Checks batch size, epochs, image size, then (on a meta model) parameters and the memory estimate against
    ``limits`` (default: ``load_limits()``). Raises GuardError (a ValueError) with the estimate, the limit and a
    hint, and ShapeMismatchError / ValueError when the model cannot be built for this input.
    Example: ``check(RunConfig(model="lenet"), (1, 32, 32), 10).total_bytes``.
    """
    limits = limits or load_limits()
    check_numbers(config, input_shape, limits)
    est = _checked_estimate(config.model, json.dumps(config.model_options, sort_keys=True), tuple(input_shape),
                            num_classes, config.batch_size, _optimizer_slots(config))
    if est.parameters > limits.max_parameters:
        model = meta_model(config.model, dict(config.model_options), input_shape, num_classes)
        raise GuardError(f"This model has {est.parameters:,} parameters; this classroom's limit is "
                         f"{limits.max_parameters:,}. Training it would need {est.describe()}.", limit="max_parameters",
                         value=est.parameters, allowed=limits.max_parameters, estimate=est,
                         hint=_parameter_hint(model, est.parameters))
    limit = memory_limit_bytes(limits, config)
    if est.total_bytes > limit:
        raise GuardError(f"Training this needs {est.describe()}; the limit per job is {human_bytes(limit)}.",
                         limit="max_memory_mb", value=est.total_bytes, allowed=limit, estimate=est,
                         hint=_memory_hint(est, limit))
    return est


# --------------------------------------------------------------------------- the data, from its options alone


def check_data(plan: datasets.DataPlan, limits: Limits | None = None) -> None:
    """Refuse a dataset over a classroom limit from its plan (nothing built yet). Raises GuardError.

    Image side (``max_image_size``), generated images (``max_generated_images``), then its bytes in memory
    (``max_dataset_mb``). Example: a plan of 400,000 generated shapes → "This set-up asks for 400,000 generated
    images; the classroom allows 20,000 (max_generated_images). ..."
    """
    limits = limits or load_limits()
    height, width = plan.image_size
    if max(height, width) > limits.max_image_size:
        raise GuardError(f"This set-up asks for images of {height}×{width} pixels; the classroom allows "
                         f"{limits.max_image_size} pixels per side (max_image_size).", limit="max_image_size",
                         value=max(height, width), allowed=limits.max_image_size,
                         hint="Choose a smaller image size.")
    if plan.generated > limits.max_generated_images:
        raise GuardError(f"This set-up asks for {plan.generated:,} generated images; the classroom allows "
                         f"{limits.max_generated_images:,} (max_generated_images).", limit="max_generated_images",
                         value=plan.generated, allowed=limits.max_generated_images,
                         hint="Ask for fewer training or test images (n_train, n_test).")
    allowed = limits.max_dataset_mb * 2**20
    if plan.nbytes > allowed:
        raise GuardError(f"This set-up asks for {plan.images:,} images of {'×'.join(map(str, plan.input_shape))}, "
                         f"{human_bytes(plan.nbytes)} in memory; the classroom allows {limits.max_dataset_mb:,} MB "
                         f"per dataset (max_dataset_mb).", limit="max_dataset_mb", value=plan.nbytes,
                         allowed=allowed, hint="Choose a smaller image size or fewer images.")


def gate(config: RunConfig, limits: Limits | None = None, root=None) -> MemoryEstimate:
    """The one check before anything a set-up asks for is built: its data, then its model, against the limits,
    then the rules of the challenge it is for (read from the runs folder ``root``, default the server's).

    Called by the Train form (and so by shared links), at submission, by every worker before it loads data, and by
    the command line. Raises GuardError (one sentence naming the value asked and the limit), ChallengeError (a
    ValueError: the challenge's rule and the value), ValueError / TypeError for options that ``datasets.load`` or
    ``models.build`` would refuse, DatasetNotFoundError for an image folder that is not there. Returns the memory
    estimate. Example: ``gate(RunConfig(dataset="digits")).total_bytes``.
    """
    from vision_core.training import scoring

    limits = limits or load_limits()
    challenge = scoring.challenge_of(config, root)
    plan = datasets.plan(config.dataset, held_out=scoring.held_out(challenge), **config.dataset_options)
    check_data(plan, limits)
    estimate = check(config, plan.input_shape, max(plan.num_classes, 1), limits)
    if challenge is not None:
        challenges.check_run(challenge, config, estimate.parameters)
    return estimate
