"""train(config): the one training entry point, shared by the command line and the dashboard."""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any, NoReturn

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger

from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.models import zoo as models
from vision_core.runs import store as runs
from vision_core.training.diagnosis import ended_at_chance
from vision_core.training.fit_loop import FabricTrainer, RestoreError
from vision_core.training.lightning_module import ClassifierModule, VisionDataModule, trainer_overrides
from vision_core.training.live import DivergedError, JobControl, LiveCallback, LiveState, continued_state, write_live


class TrainingError(RuntimeError):
    """A run that could not start or finish; the message is meant for the student."""


def resolve_accelerator(accelerator: str) -> str:
    """``auto`` → ``gpu`` when CUDA is usable, else ``cpu``; asking for a GPU without one is a clear error."""
    has_gpu = torch.cuda.is_available()
    if accelerator == "gpu" and not has_gpu:
        raise TrainingError("This machine has no usable GPU (CUDA). Choose CPU or auto.")
    if accelerator == "auto":
        return "gpu" if has_gpu else "cpu"
    return accelerator


def device_name(accelerator: str) -> str:
    if accelerator == "gpu" and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return "CPU"


def prepare(config: RunConfig, dataset: datasets.ImageDataset | None = None, root=None
            ) -> tuple[datasets.ImageDataset, torch.nn.Module]:
    """Load the data and build the model, failing early with the data or shape problem explained.

    A run for a challenge (``config.challenge``, read from the runs folder ``root``) never gets the challenge's
    held-out images in its training or validation split.
    """
    from vision_core.training import guards, scoring

    if dataset is None:
        # The classroom's gate, sized from the options alone: refused before one image is read or generated.
        guards.gate(config, root=root)
        dataset = scoring.load_data(config, scoring.challenge_of(config, root))
    num_classes = len(dataset.classes)
    # Refuse a run that would not fit before a single weight is allocated (meta-device estimate).
    guards.check(config, dataset.input_shape, num_classes)
    L.seed_everything(config.seed, workers=False, verbose=False)  # the model's initial weights come from the seed
    model = models.build(
        config.model,
        in_channels=dataset.channels,
        num_classes=num_classes,
        image_size=dataset.image_size,
        **config.model_options,
    )
    models.check_input(model, dataset.input_shape)
    return dataset, model


def data_info(dataset: datasets.ImageDataset) -> dict[str, Any]:
    """What evaluation and prediction need to know about the data, without loading it again."""
    return {
        "name": dataset.name,
        "classes": list(dataset.classes),
        "channels": dataset.channels,
        "image_size": list(dataset.image_size),
        "mean": list(dataset.mean),
        "std": list(dataset.std),
        "train_size": len(dataset.train),
        "val_size": len(dataset.val) if dataset.val is not None else 0,
        "test_size": len(dataset.test),
        "held_out_size": len(dataset.held_out) if dataset.held_out is not None else 0,  # a challenge's, never seen
    }


def _keep_metrics(logger: CSVLogger, path) -> None:
    """A continued run appends to its metrics.csv. Lightning's CSV writer deletes the file it finds when it
    starts; it is moved aside while the writer starts, and the writer learns its columns."""
    if not path.is_file() or path.is_symlink():
        logger.experiment  # noqa: B018 — nothing to keep: start the writer as usual
        return
    aside = path.with_name(".metrics-kept.csv")
    path.replace(aside)
    try:
        writer = logger.experiment
    finally:
        aside.replace(path)
    with path.open(newline="") as file:
        header = file.readline().strip()
    writer.metrics_keys = sorted(key for key in header.split(",") if key)


def _quiet_lightning() -> None:
    # The dashboard shows its own progress; Lightning's tips and info lines are noise there.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def train(
    config: RunConfig,
    *,
    run: runs.RunRecord | None = None,
    root=None,
    state: LiveState | None = None,
    control: JobControl | None = None,
    trainer_options: dict[str, Any] | None = None,
    progress_bar: bool = False,
    extra_callbacks: list[L.Callback] | None = None,
    dataset: datasets.ImageDataset | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Train one run to the end (or until stopped) and return its summary.

    Writes the run folder as it goes. Raises TrainingError for problems a student can fix
    (missing data, shapes that do not fit, divergence, a full GPU); the run folder then says
    ``failed`` with the same message.

    ``dataset`` replaces the one ``config.dataset`` names (benchmarks train on synthetic tensors).
    ``resume``: continue ``run`` from its last checkpoint (weights, optimiser, epoch and step counts); its
    metrics.csv keeps its rows and the curves go on from its ``live.json``.

    Example: ``train(RunConfig(dataset="digits", model="lenet", epochs=3))["test_acc"]``.
    """
    _quiet_lightning()
    if resume and run is None:
        raise ValueError("resume=True continues an existing run: pass run=")
    control = control or JobControl()
    trainer_options = dict(trainer_options or {})
    # Claimed as it is made: a dashboard's scheduler serving the same runs folder must not start a worker for it.
    run = run or runs.create_run(config, root, trained_by="python")
    state = state or (continued_state(run.path, config.epochs) if resume else LiveState(total_epochs=config.epochs))
    checkpoint = run.checkpoint("last") if resume else None
    if resume and checkpoint is None:
        message = "This run has no checkpoint to continue from; start a new run instead."
        runs.write_status(run, "failed", message)
        state.update(status="failed", message=message)
        raise TrainingError(message)
    before = run.summary or {}  # a continued run's earlier training time
    accelerator = resolve_accelerator(trainer_options.pop("accelerator", config.accelerator))

    try:
        dataset, model = prepare(config, dataset, root=run.path.parent)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        runs.write_status(run, "failed", str(exc))
        state.update(status="failed", message=str(exc))
        raise TrainingError(str(exc)) from exc

    runs.write_data_info(run, data_info(dataset))
    module = ClassifierModule(model, config, num_classes=len(dataset.classes))
    checkpoints = run.path / "checkpoints"
    write_status = True  # set from the trainer below: under DDP only rank 0 writes the run folder

    def pause_status(status: str) -> None:
        # status.json says "paused": the scheduler gives the slot to the queue, the sidebar says paused.
        if write_status:
            runs.write_status(run, status, "Paused." if status == "paused" else "")

    callbacks: list[L.Callback] = [LiveCallback(state, control, on_status=pause_status)]
    if config.snapshot_every:
        from vision_core.training.snapshots import SnapshotCallback

        callbacks.append(SnapshotCallback(run.path, config.snapshot_every, dataset))
    callbacks += extra_callbacks or []

    # Speed options (precision, cuDNN autotuning) unless the caller set them itself (the CLI, a benchmark).
    overrides = {k: v for k, v in trainer_overrides(config, accelerator).items() if k not in trainer_options}
    # metrics.csv gets its new rows every 100 steps and at each epoch's end (the live curves read live.json).
    logger = CSVLogger(save_dir=run.path, name="", version="", flush_logs_every_n_steps=100)
    if resume:
        _keep_metrics(logger, run.path / "metrics.csv")
    trainer = FabricTrainer(
        accelerator=accelerator,
        max_epochs=config.epochs,
        logger=logger,
        callbacks=callbacks,
        checkpoint_dir=checkpoints,
        early_stopping_patience=config.early_stopping_patience,  # counts validations: none, no stopping
        log_every_n_steps=trainer_options.pop("log_every_n_steps", "auto"),
        progress_bar=progress_bar,
        **overrides,
        **trainer_options,
    )
    datamodule = VisionDataModule(config, dataset)
    write_status = trainer.is_global_zero  # under DDP only rank 0 writes the run folder
    if write_status:
        runs.write_status(run, "running", device=device_name(accelerator), accelerator=accelerator)
    state.update(status="running", total_epochs=config.epochs)

    started = time.perf_counter()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=checkpoint)
    except DivergedError as exc:
        _fail(run, state, str(exc), write_status, diverged=True)
    except RestoreError as exc:
        _fail(run, state, str(exc), write_status)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        _fail(run, state, "The GPU ran out of memory. Try a smaller batch size or a smaller model, "
                     "or wait until other runs on this GPU finish.", write_status)
    train_seconds = time.perf_counter() - started

    stopped = control.stop_requested
    if stopped:
        # Stop leaves a usable checkpoint of the weights as they are now.
        trainer.save_checkpoint(checkpoints / "last.ckpt")
    state.update(status="testing")
    best = checkpoints / "best.ckpt"
    test_results = trainer.test(module, datamodule=datamodule,
                                ckpt_path=str(best) if best.is_file() and not stopped else None)
    test_metrics = {k: float(v) for k, v in (test_results[0] if test_results else {}).items()}

    snapshot = state.snapshot()
    samples = len(dataset.train) * max(trainer.current_epoch - trainer.resumed_epoch, 1)  # trained in this process
    summary = {
        "status": "stopped" if stopped else "finished",
        "test_loss": test_metrics.get("test_loss"),
        "test_acc": test_metrics.get("test_acc"),
        "best_val_acc": max((e["val_acc"] for e in snapshot["epochs"] if e.get("val_acc") is not None),
                            default=None),
        "final_val_loss": next((e["val_loss"] for e in reversed(snapshot["epochs"]) if e.get("val_loss")), None),
        "epochs_completed": len(snapshot["epoch_seconds"]),
        "steps": int(trainer.global_step),
        "train_seconds": train_seconds + _number(before.get("train_seconds")),
        "samples_per_sec": samples / train_seconds if train_seconds > 0 and not stopped else snapshot["samples_per_sec"],
        "device": device_name(accelerator),
        "accelerator": accelerator,
        "parameters": models.total_params(model),
        "tested_checkpoint": "best" if best.is_file() and not stopped else "current weights",
    }
    if stopped:
        message = control.stop_reason or "The last checkpoint holds the weights at the stop."
        diverged = None
    else:  # a run that ends still at chance diverged without a NaN (SGD at lr 10): it says so
        diverged = ended_at_chance(summary["test_acc"], len(dataset.classes), snapshot["steps"],
                                   snapshot["lr"] or config.lr, config.optimizer, config.momentum)
        message = diverged or ""
    state.update(status=summary["status"], test_metrics=test_metrics, message=message)
    if write_status and config.challenge and summary["status"] == "finished":
        message = _score(run, message) or message
    if write_status:
        write_live(run.path, state)  # the final curves, for the pages (a worker's publisher also writes it)
        runs.write_summary(run, summary)
        runs.write_status(run, summary["status"], message, epoch=summary["epochs_completed"],
                          diverged=diverged is not None, pause_limit=stopped and bool(control.stop_reason))
    return summary


def _score(run: runs.RunRecord, message: str) -> str | None:
    """Score a finished challenge run on the held-out images before its status says finished (so the leaderboard
    never shows it unscored); the time it finished training is what the deadline is compared with. A run that
    cannot be scored still finishes, and says why (None when it was scored)."""
    from vision_core.runs import challenges
    from vision_core.training import scoring

    finished_at = time.time()
    try:
        challenge = challenges.load_challenge(run.config.challenge, run.path.parent)
        challenges.write_score(run.path, scoring.score(run, challenge, finished_at=finished_at))
    except (ValueError, OSError) as exc:  # ChallengeError and RunError are ValueErrors
        return f"{message} It could not be scored for the challenge: {exc}".strip()
    return None


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _fail(run: runs.RunRecord, state: LiveState, message: str, write_status: bool, **fields: Any) -> NoReturn:
    state.update(status="failed", message=message)
    if write_status:
        runs.write_status(run, "failed", message, **fields)
    raise TrainingError(message)
