"""Regularisation side by side: one base run, one factor, a few values → runs that differ only in that factor.

The overfitting picture of the cats-vs-dogs tutorial (training accuracy near 100 %, validation far below) and the
textbook's dropout and L2 sections, on embedded data: a setup that overfits on purpose (few training images, a
model with many weights) trained once per value of dropout, weight decay, augmentation or data size. Every
variant keeps the base's seed, so the same initial weights (where the shapes match) and the same batches.

Example::

    exp = experiment("digits_mlp", "dropout")          # the measured preset: dropout 0 vs 0.5
    configs = exp.variants()                           # two RunConfigs named "dropout 0" and "dropout 0.5"
    [c.model_options["dropout"] for c in configs]      # [0.0, 0.5]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vision_core.config import RunConfig

MAX_VARIANTS = 4  # one chart stays readable, and four runs of a preset train in a few minutes on a CPU


# --------------------------------------------------------------------------- the setups that overfit


@dataclass(frozen=True)
class Setup:
    """A base run chosen to overfit in a short time on a CPU, and the values each factor is tried at."""

    key: str
    title: str
    config: RunConfig
    defaults: dict[str, tuple]  # factor → the values its preset compares (measured: see README)
    note: str = ""  # what the student should expect to see
    epochs: dict[str, int] = field(default_factory=dict)  # factor → epochs its preset needs, when not the base's
    expect: dict[str, str] = field(default_factory=dict)  # factor → what its preset showed when measured

    def epochs_for(self, factor_key: str) -> int:
        return self.epochs.get(factor_key, self.config.epochs)


# The custom template with no convolution block is an MLP on the raw pixels (1,024 → 512 → 512 → 10: 0.8 M
# weights) and 100 training images of 1,078 (10 per digit): it learns them by heart in a few epochs. A quarter of
# the training images is held out for validation (360 images: a smoother curve than the default 10 %).
_DIGITS_MLP = RunConfig(
    dataset="digits", dataset_options={"val_size": 0.25, "train_limit": 100},
    model="custom", model_options={"blocks": 0, "linear_layers": 2, "hidden_units": 512},
    optimizer="adam", lr=1e-3, batch_size=32, epochs=30, snapshot_every=0,
)
# The presets, measured with the engine on a 2-core CPU (last epoch, training vs validation accuracy); without any
# help the setup ends at 100 % vs 87.2 % (12.8 points apart) after 30 epochs and its validation loss climbs back
# from 0.35 to 0.43. Augmentation slows the fit down, so its preset trains 60 epochs.
SETUPS: dict[str, Setup] = {
    s.key: s for s in (
        Setup("digits_mlp", "Digits: a wide MLP on 100 training images", _DIGITS_MLP,
              {"dropout": (0.0, 0.5), "weight_decay": (0.0, 0.01), "augment": ("none", "shift"),
               "train_limit": (100, None)},
              "Without help the training accuracy reaches 100 % while validation stays far below it.",
              epochs={"augment": 60},
              expect={
                  "dropout": "Measured here: without dropout 100 % training vs 87 % validation (13 points apart); "
                             "with dropout 0.5, 93 % vs 87 % (6 points).",
                  "weight_decay": "Measured here: L2 shows in the loss first: with 0.01 the validation loss no longer "
                                  "climbs back up (0.34 at the end instead of 0.43) while the accuracies hardly move "
                                  "(13 points apart either way). Adam divides the penalty's gradient like any other, "
                                  "which weakens L2; larger values (0.1) make training itself unstable.",
                  "augment": "Measured here over 60 epochs: without augmentation 100 % training vs 89 % "
                             "validation (11 points apart); with shifted copies 92 % vs 89 % (3 points), and a "
                             "lower validation loss (0.33 instead of 0.39). It learns more slowly: give it epochs.",
                  "train_limit": "Measured here: 100 images end 13 points apart (100 % vs 87 %); all 1,078 end "
                                 "2 points apart, at 98 % validation accuracy.",
              }),
    )
}


# --------------------------------------------------------------------------- the factors


# Augmentation levels by name, so that a value fits in a text box and a link (vision_core.data.augment's keys).
AUGMENT_LEVELS: dict[str, dict[str, Any]] = {
    "none": {},
    "shift": {"crop": 4},
    "shift+rotate": {"crop": 4, "rotation": 15},
    "shift+rotate+flip": {"crop": 4, "rotation": 30, "hflip": True},
}

ALL = "all"  # the data-size value that keeps every training image


def _number(text: str, name: str, low: float, high: float, high_open: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} values are numbers, got {text!r}") from None
    if not math.isfinite(value) or value < low or value > high or (high_open and value == high):
        bound = f"below {high:g}" if high_open else f"at most {high:g}"
        raise ValueError(f"{name} must be at least {low:g} and {bound}, got {text!r}")
    return value


def _parse_dropout(text: str) -> float:
    return _number(text, "dropout", 0.0, 1.0, high_open=True)


def _parse_weight_decay(text: str) -> float:
    return _number(text, "weight decay", 0.0, 1.0)


def _parse_augment(text: str) -> str:
    if text.lower() not in AUGMENT_LEVELS:
        raise ValueError(f"augmentation values are {', '.join(AUGMENT_LEVELS)}; got {text!r}")
    return text.lower()


def _parse_train_limit(text: str) -> int | None:
    if text.lower() == ALL:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"data size values are whole numbers of training images ≥ 1, or '{ALL}'; got {text!r}")
    return int(text)


def _apply_dropout(base: RunConfig, value: float) -> RunConfig:
    if base.model != "custom":
        raise ValueError(f"dropout is an option of the custom template; {base.model} does not take it")
    return base.replace(model_options={**base.model_options, "dropout": float(value)})


def _apply_weight_decay(base: RunConfig, value: float) -> RunConfig:
    return base.replace(weight_decay=float(value))


def _apply_augment(base: RunConfig, value: str | dict) -> RunConfig:
    return base.replace(augment=dict(AUGMENT_LEVELS[value] if isinstance(value, str) else value))


def _apply_train_limit(base: RunConfig, value: int | None) -> RunConfig:
    options = {k: v for k, v in base.dataset_options.items() if k != "train_limit"}
    if value is not None:
        options["train_limit"] = int(value)
    return base.replace(dataset_options=options)


def _augment_label(value: str | dict) -> str:
    if isinstance(value, str):
        return "no augmentation" if value == "none" else f"augmentation {value}"
    name = next((k for k, v in AUGMENT_LEVELS.items() if v == value), None)
    if name is not None:
        return _augment_label(name)
    return "augmentation " + "+".join(f"{k} {v:g}" if isinstance(v, float) else k for k, v in sorted(value.items()))


@dataclass(frozen=True)
class Factor:
    """One thing that changes between the variants: how a value is read, applied to a config and named."""

    key: str
    title: str
    explain: str
    parse: Callable[[str], Any]  # one value from text (a text box, a link) → ValueError with the fix
    apply: Callable[[RunConfig, Any], RunConfig]
    label: Callable[[Any], str]
    show: Callable[[Any], str] = str  # a value back to the text parse() reads


FACTORS: dict[str, Factor] = {
    f.key: f for f in (
        Factor("dropout", "Dropout",
               "During training each hidden unit is switched off with this probability, so no unit can rely on "
               "another: the network cannot memorise with a few units (textbook: dropout).",
               _parse_dropout, _apply_dropout, lambda v: f"dropout {v:g}", lambda v: f"{v:g}"),
        Factor("weight_decay", "Weight decay (L2)",
               "Adds λ·w to every weight's gradient (an L2 penalty λ/2·‖w‖² on the loss): large weights cost "
               "something, so the fit stays smoother (textbook: L2 regularisation).",
               _parse_weight_decay, _apply_weight_decay, lambda v: f"weight decay {v:g}", lambda v: f"{v:g}"),
        Factor("augment", "Augmentation",
               "Every epoch shows each training image shifted (and rotated, mirrored) a little differently: the "
               "model sees more variety than the images themselves hold (the cats-vs-dogs tutorial's fix).",
               _parse_augment, _apply_augment, _augment_label),
        Factor("train_limit", "Data size",
               "The same model on more training images: the cheapest regulariser when you can get more data.",
               _parse_train_limit, _apply_train_limit,
               lambda v: "all training images" if v is None else f"{v:,} training images",
               lambda v: ALL if v is None else str(v)),
    )
}


def factor(key: str) -> Factor:
    if key not in FACTORS:
        raise ValueError(f"unknown factor {key!r}; the factors are {', '.join(FACTORS)}")
    return FACTORS[key]


def parse_values(factor_key: str, text: str) -> list:
    """A comma-separated list of values typed by a student → values, or ValueError in one sentence.

    Example: ``parse_values("dropout", "0, 0.5")`` → ``[0.0, 0.5]``; ``parse_values("train_limit", "100, all")`` →
    ``[100, None]``.
    """
    spec = factor(factor_key)
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    values = [spec.parse(p) for p in parts]
    _check_count(spec, values)
    return values


def show_values(factor_key: str, values: Sequence) -> str:
    """The text ``parse_values`` reads back: ``show_values("train_limit", [100, None])`` → '100, all'."""
    spec = factor(factor_key)
    return ", ".join(spec.show(v) for v in values)


def _check_count(spec: Factor, values: Sequence) -> None:
    if not 2 <= len(values) <= MAX_VARIANTS:
        raise ValueError(f"compare 2 to {MAX_VARIANTS} values of {spec.title.lower()}, got {len(values)}")
    labels = [spec.label(v) for v in values]
    if len(set(labels)) != len(labels):
        raise ValueError(f"each value of {spec.title.lower()} once, please: {', '.join(labels)} repeats one")


# --------------------------------------------------------------------------- experiments


def variants(base: RunConfig, factor_key: str, values: Sequence) -> list[RunConfig]:
    """One RunConfig per value, each the base with only ``factor_key`` changed (and its name, for the legend).

    Example: ``[c.name for c in variants(RunConfig(), "weight_decay", [0, 1e-3])]`` →
    ``['weight decay 0', 'weight decay 0.001']``.
    """
    spec = factor(factor_key)
    _check_count(spec, values)
    return [spec.apply(base, value).replace(name=spec.label(value)) for value in values]


@dataclass(frozen=True)
class Experiment:
    """A base RunConfig, the factor that changes and its values (``variants()`` makes the runs)."""

    base: RunConfig
    factor: str
    values: tuple
    setup: str = ""  # the SETUPS key it came from ("" for a base of one's own)
    title: str = field(default="", compare=False)

    def variants(self) -> list[RunConfig]:
        return variants(self.base, self.factor, self.values)

    def labels(self) -> list[str]:
        return [factor(self.factor).label(v) for v in self.values]

    def check(self, limits=None) -> list[float]:
        """Each variant's memory estimate in MB, after checking it against the classroom ``limits``.

        Raises ValueError (``guards.GuardError`` is one) in one sentence: a data size above the training images
        there are, a variant over a limit. Loads the base's dataset once (cached per process).
        """
        from vision_core.data import datasets
        from vision_core.training import guards

        options = {k: v for k, v in self.base.dataset_options.items() if k != "train_limit"}
        data = datasets.load(self.base.dataset, **options)
        estimates = []
        for config in self.variants():
            limit = config.dataset_options.get("train_limit")
            if limit is not None and limit > len(data.train):
                raise ValueError(f"{config.name}: this setup has only {len(data.train):,} training images; "
                                 f"choose at most {len(data.train):,} (or '{ALL}')")
            estimate = guards.check(config, data.input_shape, len(data.classes), limits)
            estimates.append(estimate.total_bytes / 2**20)
        return estimates


def experiment(setup_key: str, factor_key: str, values: Sequence | None = None, epochs: int | None = None
               ) -> Experiment:
    """The experiment of a setup and a factor: the preset's measured values unless ``values`` are given.

    Example: ``experiment("digits_mlp", "train_limit").labels()`` → ['100 training images', 'all training images'].
    """
    if setup_key not in SETUPS:
        raise ValueError(f"unknown setup {setup_key!r}; the setups are {', '.join(SETUPS)}")
    setup = SETUPS[setup_key]
    spec = factor(factor_key)
    base = setup.config.replace(epochs=int(setup.epochs_for(factor_key) if epochs is None else epochs))
    chosen = tuple(setup.defaults[factor_key] if values is None else values)
    exp = Experiment(base, factor_key, chosen, setup_key, f"{spec.title}: {setup.title}")
    exp.variants()  # checks the values now, not when the runs are submitted
    return exp


# --------------------------------------------------------------------------- reading the results


@dataclass(frozen=True)
class Gap:
    """The last epoch with both a training and a validation accuracy: how far apart they ended."""

    epoch: int
    train_acc: float
    val_acc: float
    train_loss: float | None
    val_loss: float | None

    @property
    def gap(self) -> float:
        """Training minus validation accuracy: large and positive is overfitting."""
        return self.train_acc - self.val_acc


def is_number(value: Any) -> bool:
    """A real, finite number (not a bool, not NaN): a value a curve can draw."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def final_gap(epochs: Sequence[dict]) -> Gap | None:
    """``Gap`` of the last epoch record (live.json / metrics_history shape) holding both accuracies, else None.

    Example: ``final_gap([{"epoch": 1, "train_acc": 0.9, "val_acc": 0.6}]).gap`` → 0.3 (up to rounding).
    """
    for record in reversed(epochs or []):
        if isinstance(record, dict) and is_number(record.get("train_acc")) and is_number(record.get("val_acc")):
            losses = [record.get(k) if is_number(record.get(k)) else None for k in ("train_loss", "val_loss")]
            return Gap(int(record.get("epoch", 0)), float(record["train_acc"]), float(record["val_acc"]), *losses)
    return None
