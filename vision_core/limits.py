"""The teacher's limits for a shared classroom server, read from one TOML file.

``load_limits()`` reads ``$VISION_CORE_CLASSROOM`` or ``./classroom.toml``; a missing file means the
classroom defaults below. Every key is optional; an unknown key or a bad value is a ValueError that
names the key, so a typo in the teacher's file never passes silently. ``classroom.example.toml`` at
the repository root documents each key.

Example: ``load_limits().max_batch_size`` → 1024 without a file.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import tomllib

ENV_VAR = "VISION_CORE_CLASSROOM"
DEFAULT_FILE = "classroom.toml"


@dataclass(frozen=True)
class Limits:
    """What one student's job may use. Defaults suit ~30 students sharing one GPU box.

    Example: ``Limits(max_epochs=50)``.
    """

    max_parameters: int = 20_000_000  # 80 MB of float32 weights: every zoo model fits a hundred times over
    max_batch_size: int = 1024  # beyond this, classroom datasets have only a few steps per epoch anyway
    max_image_size: int = 256  # pixels per side of one model input
    max_epochs: int = 200  # the longest tutorial recipe uses 100
    max_memory_mb: int = 4096  # estimated memory of one job: weights, gradients, optimiser state, activations
    gpu_memory_share: float = 0.9  # share of one GPU's memory all jobs together may use
    max_jobs_per_person: int = 2  # queued + running, so the queue stays fair
    max_pause_minutes: int = 30  # a run paused longer is stopped with a checkpoint (its owner can continue it)
    max_queued_runs: int = 60  # runs waiting to start, the whole class together: every page reads the queue
    max_upload_mb: int = 50  # one uploaded zip of class folders
    max_zip_files: int = 20_000  # entries in one uploaded zip
    max_unzipped_mb: int = 1024  # what one uploaded zip may hold once extracted
    max_generated_images: int = 20_000  # generated images (train + test) one set-up may ask for; shapes uses 3,600
    max_dataset_mb: int = 1024  # one dataset's pixels in memory (uint8): CIFAR-10 at 64×64 is 703 MB
    max_uploads_mb: int = 2048  # every uploaded dataset together, on the server's disk
    max_uploads_mb_per_person: int = 256  # what one person's uploaded datasets may take on disk together

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type == "float":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                    raise ValueError(f"classroom limit {f.name} must be a share between 0 and 1 "
                                     f"(e.g. 0.9), got {value!r}")
                object.__setattr__(self, f.name, float(value))
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"classroom limit {f.name} must be a whole number ≥ 1, got {value!r}")

    @property
    def max_memory_bytes(self) -> int:
        return self.max_memory_mb * 2**20


def limit_names() -> list[str]:
    """The keys a classroom file may set, in the order of ``Limits``."""
    return [f.name for f in dataclasses.fields(Limits)]


def limits_path(path: str | Path | None = None) -> Path:
    """The file ``load_limits`` reads: ``path``, else ``$VISION_CORE_CLASSROOM``, else ``./classroom.toml``."""
    if path not in (None, ""):
        return Path(path).expanduser()
    return Path(os.environ.get(ENV_VAR) or DEFAULT_FILE).expanduser()


def load_limits(path: str | Path | None = None) -> Limits:
    """The classroom's limits: the defaults, with the keys the teacher's TOML file sets.

    Raises ValueError naming the key for an unknown key or a bad value, or the line of a TOML syntax error.
    Example: a file holding ``max_epochs = 50`` → ``load_limits(file).max_epochs == 50``.
    """
    file = limits_path(path)
    if not file.is_file():
        return Limits()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"the classroom file {file.name} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"the classroom file {file.name} cannot be read: {exc}") from None
    known = limit_names()
    unknown = [key for key in data if key not in known]
    if unknown:
        raise ValueError(f"unknown classroom limit {unknown[0]!r} in {file.name}; the known keys are "
                         f"{', '.join(known)}")
    return Limits(**data)
