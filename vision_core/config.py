"""RunConfig: the one description of a training run, shared by the CLI, the app and the run folders."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "cosine", "step", "warmup_linear")
ACCELERATORS = ("auto", "cpu", "gpu")
PRECISIONS = ("32", "bf16-mixed")  # Lightning's names: float32, or bfloat16 autocast with float32 weights
FAST_FLAGS = ("channels_last", "compile", "fused_optimizer")  # the boolean speed options besides precision
# A challenge's name: its file name in the runs folder and its ?challenge= link, so nothing that could make a path.
CHALLENGE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


@dataclass
class RunConfig:
    """Everything that decides what a run computes.

    Example: ``RunConfig(dataset="digits", model="lenet", epochs=5)``.
    """

    dataset: str = "digits"  # a name from vision_core.data.datasets.list_datasets()
    dataset_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"image_size": 32, "root": "..."}
    model: str = "lenet"  # a name from vision_core.models.zoo.list_models()
    model_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"hidden_units": 10}
    optimizer: str = "adam"  # sgd / adam / adamw
    lr: float = 1e-3  # Adam's usual default; the SGD recipes use 0.1 or 0.001
    momentum: float = 0.0  # SGD only
    nesterov: bool = False  # SGD with momentum only: Nesterov's look-ahead form (the CIFAR-10 speed recipe)
    weight_decay: float = 0.0  # L2 penalty applied by the optimiser
    # none / cosine (over all epochs) / step (lr × 0.1 every third of the run) /
    # warmup_linear (per step: 0.2·lr → lr over the first 23 % of steps, then down to 0.07·lr, as airbench)
    scheduler: str = "none"
    label_smoothing: float = 0.0  # cross-entropy target: 1 − ε on the true class, ε spread over all classes
    batch_size: int = 64
    epochs: int = 5
    seed: int = 42  # the tutorials build every model after torch.manual_seed(42)
    accelerator: str = "auto"  # auto picks the GPU when there is one
    augment: dict[str, Any] = field(default_factory=dict)  # keys of vision_core.data.augment.AUGMENTATIONS
    early_stopping_patience: int = 0  # 0 = off; the LeNet recipe uses 4 on val_loss
    snapshot_every: int = 25  # steps between filter / feature-map snapshots (0 = off)
    name: str = ""  # a label the student chooses; the run id is made from it
    # Speed options (vision_core.training.lightning_module.speed_options resolves them for the device).
    fast: bool = False  # turn on every speed option the device supports (GPU: all four; CPU: fused optimiser)
    precision: str = "32"  # "bf16-mixed": bfloat16 autocast, float32 weights (a little less exact, faster on GPUs)
    channels_last: bool = False  # NHWC memory layout for the weights and batches (faster convolutions on GPUs)
    compile: bool = False  # torch.compile the model (long first step; falls back to eager with a message)
    fused_optimizer: bool = False  # one fused kernel for the optimiser step instead of one per tensor
    # The challenge this run is for (vision_core.runs.challenges): its held-out images are left out of the data,
    # its constraints are checked by the gate, and the server scores the run on them when it finishes.
    challenge: str = ""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the bad value and the allowed ones."""
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")
        if self.accelerator not in ACCELERATORS:
            raise ValueError(f"accelerator must be one of {ACCELERATORS}, got {self.accelerator!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {self.batch_size}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be ≥ 1, got {self.epochs}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        for flag in ("nesterov", "fast", *FAST_FLAGS):
            if not isinstance(getattr(self, flag), bool):
                # ValueError like every other check here: callers catch one type for "bad config".
                raise ValueError(f"{flag} must be true or false, got {getattr(self, flag)!r}")  # noqa: TRY004
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise ValueError("nesterov needs the sgd optimizer with momentum > 0")
        if not isinstance(self.challenge, str) or not (self.challenge == "" or CHALLENGE_NAME_RE.match(self.challenge)):
            raise ValueError(f"challenge must be a challenge's name (lower-case letters, digits and '-'), "
                             f"got {str(self.challenge)[:60]!r}")
        if self.momentum < 0 or self.weight_decay < 0:
            raise ValueError(
                f"momentum and weight_decay must be ≥ 0, got {self.momentum} and {self.weight_decay}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Build from a dict, ignoring keys this version does not know (older/newer run folders)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)
