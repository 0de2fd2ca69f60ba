"""RunConfig: the one description of a training run, shared by the CLI, the app and the run folders."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "cosine", "step")
ACCELERATORS = ("auto", "cpu", "gpu")


@dataclass
class RunConfig:
    """Everything that decides what a run computes.

    Example: ``RunConfig(dataset="digits", model="lenet", epochs=5)``.
    """

    dataset: str = "digits"  # a name from vision_core.datasets.list_datasets()
    dataset_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"image_size": 32, "root": "..."}
    model: str = "lenet"  # a name from vision_core.models.list_models()
    model_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"hidden_units": 10}
    optimizer: str = "adam"  # sgd / adam / adamw
    lr: float = 1e-3  # Adam's usual default; the SGD recipes use 0.1 or 0.001
    momentum: float = 0.0  # SGD only
    weight_decay: float = 0.0  # L2 penalty applied by the optimiser
    scheduler: str = "none"  # none / cosine (over all epochs) / step (lr × 0.1 every third of the run)
    batch_size: int = 64
    epochs: int = 5
    seed: int = 42  # the tutorials build every model after torch.manual_seed(42)
    accelerator: str = "auto"  # auto picks the GPU when there is one
    augment: dict[str, Any] = field(default_factory=dict)  # keys of vision_core.augment.AUGMENTATIONS
    early_stopping_patience: int = 0  # 0 = off; the LeNet recipe uses 4 on val_loss
    snapshot_every: int = 25  # steps between filter / feature-map snapshots (0 = off)
    name: str = ""  # a label the student chooses; the run id is made from it

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
