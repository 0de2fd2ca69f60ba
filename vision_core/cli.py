"""Command line: ``vision-core train --dataset digits --model lenet --epochs 5``.

``vision-core lr-find`` (same set-up flags) runs the learning-rate range test here and prints the suggested rates.

Trains exactly what the dashboard trains (same RunConfig, same engine, same run folders, the same classroom
limits). Lightning's ``--accelerator / --devices / --strategy / --num-nodes`` pass through to Lightning Fabric,
so one run scales to several GPUs or machines with DDP.

A run the command line starts is the command line's: its folder is claimed for this process when it is made
(``runs.create_run(trained_by="cli")``), so a dashboard serving the same runs folder never starts a worker for
it; the dashboard still shows it live, from the ``live.json`` and heartbeat this process writes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
from typing import Any

from vision_core.config import ACCELERATORS, OPTIMIZERS, PRECISIONS, SCHEDULERS, RunConfig

RUN_ID_ENV = "VISION_CORE_RUN_ID"  # DDP re-launches this command per process: they must share one run folder
# Lightning strategies the Fabric loop launches from a command with what this project installs
# (ddp_spawn and fsdp would need a function to launch; deepspeed / xla more packages).
STRATEGIES = ("auto", "ddp", "ddp_find_unused_parameters_true")
_LOAD_OPTIONS = ("root", "image_size", "val_size", "seed", "download", "train_limit")  # what datasets.load takes for every dataset


class UsageError(ValueError):
    """A bad command-line value: one line saying what is allowed, exit status 2, nothing written."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake ends in one line (the value, what is allowed) and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _devices(text: str):
    """``auto``, a count ≥ 1, or device indices ``0,1`` (what Lightning's ``devices`` takes)."""
    text = text.strip()
    if text == "auto":
        return "auto"
    parts = text.split(",")
    if all(p.strip().isdigit() for p in parts):
        if len(parts) == 1 and not text.endswith(","):
            if int(text) >= 1:
                return int(text)
        else:
            return [int(p) for p in parts]
    raise argparse.ArgumentTypeError(f"must be 'auto', a number of devices ≥ 1 or device indices like 0,1; "
                                     f"got {text!r}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number ≥ 1, got {text!r}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}")
    return value


def _batches(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1] or a number of batches ≥ 1, got {text!r}")
    return value


def _parse_value(text: str) -> Any:
    """``3`` → 3, ``0.5`` → 0.5, ``true`` → True, ``[8,16]`` → [8, 16], anything else stays a string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _key_values(pairs: list[str], flag: str) -> dict[str, Any]:
    result = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} expects KEY=VALUE, got {pair!r}")
        result[key.replace("-", "_")] = _parse_value(value)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vision-core", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model and write a run folder")
    _setup_arguments(t)
    t.add_argument("--challenge", metavar="NAME", help="train for this challenge (its rules apply; scored at the end)")
    t.add_argument("--runs-dir", help="where run folders go (default $VISION_CORE_RUNS or ./runs)")
    # Speed options (RunConfig.fast and the flags next to it; docs/PERFORMANCE.md says what each does).
    t.add_argument("--fast", action=argparse.BooleanOptionalAction, help="every speed option this device supports")
    t.add_argument("--precision", choices=PRECISIONS, help="32, or bf16-mixed (bfloat16 autocast)")
    t.add_argument("--channels-last", action=argparse.BooleanOptionalAction, help="NHWC memory layout")
    t.add_argument("--compile", action=argparse.BooleanOptionalAction, help="torch.compile the model")
    t.add_argument("--fused-optimizer", action=argparse.BooleanOptionalAction, help="single-kernel optimiser step")
    # Lightning pass-through.
    t.add_argument("--accelerator", choices=ACCELERATORS + ("mps",), help="auto / cpu / gpu / mps")
    t.add_argument("--devices", type=_devices, default="auto", help="number of devices, indices like 0,1, or auto")
    t.add_argument("--strategy", choices=STRATEGIES, default="auto", help="e.g. ddp")
    t.add_argument("--num-nodes", type=_positive_int, default=1)
    t.add_argument("--limit-train-batches", type=_batches, help="a fraction or a count of batches per epoch")
    t.add_argument("--limit-val-batches", type=_batches)
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    sub.add_parser("list", help="datasets, models and presets")
    r = sub.add_parser("runs", help="list run folders")
    r.add_argument("--runs-dir")
    d = sub.add_parser("download", help="download a real dataset into the data folder (needs internet)")
    d.add_argument("dataset")
    d.add_argument("--root")
    e = sub.add_parser("export", help="a finished run as a notebook and/or a script that reproduce it in PyTorch")
    e.add_argument("run_id", metavar="RUN_ID")
    e.add_argument("--notebook", metavar="OUT.ipynb", help="write a Jupyter notebook")
    e.add_argument("--script", metavar="OUT.py", help="write a plain Python script")
    e.add_argument("--no-checkpoint", action="store_true",
                   help="do not copy the run's checkpoint (RUN_ID.ckpt) next to the files")
    e.add_argument("--runs-dir")
    f = sub.add_parser("lr-find", help="the learning-rate range test on a set-up: print the suggested rates")
    _setup_arguments(f)
    f.add_argument("--batches", type=_positive_int, default=100, help="batches to raise the rate over (20-300)")
    f.add_argument("--accelerator", choices=ACCELERATORS, help="auto / cpu / gpu")
    s = sub.add_parser("score", help="a challenge run's accuracy on the challenge's held-out images (the leaderboard's "
                                     "number)")
    s.add_argument("run_id", metavar="RUN_ID")
    s.add_argument("--challenge", metavar="NAME", required=True)
    s.add_argument("--runs-dir")
    return parser


def _setup_arguments(t: argparse.ArgumentParser) -> None:
    """The set-up's flags (data, model, hyper-parameters): shared by ``train`` and ``lr-find``."""
    defaults = RunConfig()
    t.add_argument("--preset", help="start from a tutorial recipe (see `vision-core list`)")
    t.add_argument("--dataset", help=f"dataset name (default {defaults.dataset})")
    t.add_argument("--model", help=f"model name (default {defaults.model})")
    t.add_argument("--optimizer", choices=OPTIMIZERS)
    t.add_argument("--lr", type=_finite_float)
    t.add_argument("--momentum", type=_finite_float)
    t.add_argument("--weight-decay", type=_finite_float)
    t.add_argument("--scheduler", choices=SCHEDULERS)
    t.add_argument("--nesterov", action=argparse.BooleanOptionalAction, help="Nesterov momentum (SGD)")
    t.add_argument("--label-smoothing", type=_finite_float, help="e.g. 0.2 (0 = off)")
    t.add_argument("--batch-size", type=int)
    t.add_argument("--epochs", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--early-stopping-patience", type=int)
    t.add_argument("--snapshot-every", type=int)
    t.add_argument("--name")
    t.add_argument("--dataset-option", action="append", metavar="KEY=VALUE",
                   help="e.g. image_size=32, root=/data, val_size=0.1 (repeatable)")
    t.add_argument("--model-option", action="append", metavar="KEY=VALUE",
                   help="e.g. hidden_units=10, batchnorm=true (repeatable)")
    t.add_argument("--augment", action="append", metavar="KEY=VALUE", help="e.g. hflip=true (repeatable)")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    from vision_core.training import presets

    base = presets.get_preset(args.preset).config if args.preset else RunConfig()
    changes = {}
    for f in dataclasses.fields(RunConfig):
        value = getattr(args, f.name, None)
        if value is not None and f.name not in ("dataset_options", "model_options", "augment", "accelerator"):
            changes[f.name] = value
    if args.accelerator in ACCELERATORS:
        changes["accelerator"] = args.accelerator
    changes["dataset_options"] = {**base.dataset_options, **_key_values(args.dataset_option, "--dataset-option")}
    changes["model_options"] = {**base.model_options, **_key_values(args.model_option, "--model-option")}
    changes["augment"] = {**base.augment, **_key_values(args.augment, "--augment")}
    return base.replace(**changes)


def check_config(config: RunConfig) -> None:
    """UsageError unless the dataset, model, their options and the augmentations are all known and valid
    (the classroom's limits are ``check_limits``'s).

    The model is built on the meta device: its options and its fit to the images are checked without
    allocating a single weight.
    """
    import torch

    from vision_core.data import augment, datasets
    from vision_core.models import zoo as models
    try:
        info = datasets.dataset_info(config.dataset)
        unknown = sorted(set(config.dataset_options) - set(info.options) - set(_LOAD_OPTIONS))
        if unknown:
            raise ValueError(f"--dataset-option: {info.name} does not take {unknown}; it takes "
                             f"{sorted(set(info.options) | set(_LOAD_OPTIONS))}")
        models.model_info(config.model)
        augment.validate_augment(config.augment)
        size = config.dataset_options.get("image_size") or info.image_size
        with torch.device("meta"):
            models.build(config.model, in_channels=info.channels, num_classes=max(info.num_classes, 2),
                         image_size=size, **config.model_options)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc).splitlines()[0]) from None


def check_limits(config: RunConfig, runs_dir: str | None = None) -> None:
    """GuardError (one sentence naming the value and the limit) for a set-up over the classroom's limits, or
    ChallengeError for one that breaks its challenge's rules: the gate the dashboard and its workers apply, before
    anything is read, generated or written."""
    from vision_core.data import datasets
    from vision_core.training import guards

    try:
        guards.gate(config, root=runs_dir)
    except datasets.DatasetNotFoundError:
        pass  # an image folder that is not there: cmd_train says which files to put where


def check_devices(accelerator: str | None, devices) -> None:
    """UsageError when the machine lacks the asked accelerator or that many GPUs."""
    import torch

    if accelerator == "gpu" and not torch.cuda.is_available():
        raise UsageError("--accelerator gpu: this machine has no GPU PyTorch can use; allowed here: auto, cpu")
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise UsageError("--accelerator mps: this machine has no Apple GPU; allowed here: auto, cpu")
    uses_gpu = accelerator == "gpu" or (accelerator in (None, "auto") and torch.cuda.is_available())
    if uses_gpu and devices != "auto":
        count = torch.cuda.device_count()
        wanted = devices if isinstance(devices, int) else max(devices, default=-1) + 1
        if wanted > count:
            raise UsageError(f"--devices {devices}: this machine has {count} GPU(s); "
                             f"allowed: auto, 1..{count} or indices 0..{count - 1}")


def check_runs_dir(runs_dir: str | None):
    """The runs folder, made if needed; UsageError when run folders cannot be written there."""
    import tempfile

    from vision_core.runs import store as runs

    root = runs.runs_root(runs_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"--runs-dir: cannot write run folders in {root} ({reason}); "
                         "give a folder you can write to") from None
    return root


def _limit(value: float | None):
    if value is None:
        return None
    return int(value) if value >= 1 and float(value).is_integer() else value


def _one_process(args: argparse.Namespace) -> bool:
    """Whether Lightning trains in this process alone (no DDP): then the dashboard's Pause / Stop reach it
    (under DDP each process would read control.json at a different step and the others would wait forever)."""
    if args.strategy != "auto" or args.num_nodes != 1:
        return False
    if args.devices == "auto":
        import torch

        return args.accelerator in ("cpu", "mps") or torch.cuda.device_count() <= 1
    return args.devices == 1 or (isinstance(args.devices, list) and len(args.devices) == 1)


def cmd_train(args: argparse.Namespace) -> int:
    from vision_core.data import datasets
    from vision_core.runs import store as runs
    from vision_core.training.engine import TrainingError, train
    from vision_core.training.live import CONTROL_FILE, FileControl, JobControl, LivePublisher, LiveState

    # Every argument is checked before anything is written: a mistake leaves no run folder behind.
    try:
        config = config_from_args(args)
        check_devices(args.accelerator, args.devices)  # first: the limits below read the GPU's memory
        check_config(config)
        check_limits(config, args.runs_dir)  # the gate: the data and the model against the classroom's limits
        check_runs_dir(args.runs_dir)
        run_id = runs.validate_run_id(os.environ[RUN_ID_ENV]) if os.environ.get(RUN_ID_ENV) else None
    except (ValueError, TypeError) as exc:  # UsageError, RunConfig's checks, RunError for the run id
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"vision-core train: error: {message}", file=sys.stderr)
        return 2
    if not datasets.is_available(config.dataset, config.dataset_options.get("root")):
        try:  # load() says which files to put where (or downloads them when allowed)
            datasets.load(config.dataset, **config.dataset_options)
        except (FileNotFoundError, ValueError, TypeError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    trainer_options: dict[str, Any] = {"devices": args.devices, "strategy": args.strategy,
                                       "num_nodes": args.num_nodes}
    if args.accelerator:
        trainer_options["accelerator"] = args.accelerator
    for key in ("limit_train_batches", "limit_val_batches"):
        if getattr(args, key) is not None:
            trainer_options[key] = _limit(getattr(args, key))

    run_id = run_id or runs.new_run_id(config)
    os.environ[RUN_ID_ENV] = run_id  # inherited by the processes DDP launches
    rank = int(os.environ.get("LOCAL_RANK", "0")) + int(os.environ.get("NODE_RANK", "0"))
    if rank and (runs.run_dir(run_id, args.runs_dir) / "config.json").is_file():
        run = runs.load_run(run_id, args.runs_dir)  # a DDP process: rank 0 made the folder, do not reset it
    else:
        run = runs.create_run(config, args.runs_dir, run_id=run_id, trained_by="cli")  # no scheduler starts it
    state = LiveState(total_epochs=config.epochs)
    control = FileControl(run.path / CONTROL_FILE) if _one_process(args) else JobControl()
    publisher = None
    if rank == 0:  # a dashboard serving this runs folder shows the run live: live.json, a heartbeat every second
        publisher = LivePublisher(state, run.path, heartbeat=lambda: runs.touch_heartbeat(run)).start()
        print(f"run {run.run_id}: {config.model} on {config.dataset}, {config.epochs} epochs → {run.path}")
    try:
        summary = train(config, run=run, state=state, control=control, trainer_options=trainer_options,
                        progress_bar=not args.no_progress)
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if publisher is not None:
            publisher.close()
    if rank == 0:
        acc = summary["test_acc"]
        print(f"test accuracy {acc:.4f}  test loss {summary['test_loss']:.4f}  "
              f"({summary['train_seconds']:.1f} s on {summary['device']}, "
              f"{summary['samples_per_sec']:.0f} samples/s, {summary['parameters']:,} parameters)")
        print(f"run folder: {run.path}")
    return 0


def cmd_lr_find(args: argparse.Namespace) -> int:
    """The range test in this process (the teacher's machine, as ``train``), on the same set-up flags; prints the
    two suggestions. Nothing is written: the dashboard's tests are queued jobs, this one answers at once."""
    from vision_core.training.engine import TrainingError, resolve_accelerator
    from vision_core.training.lr_finder import lr_range_test

    try:
        config = config_from_args(args)
        check_devices(args.accelerator, "auto")
        check_config(config)
        check_limits(config)
        device = "cuda" if resolve_accelerator(args.accelerator or config.accelerator) == "gpu" else "cpu"
        result = lr_range_test(config, num_batches=args.batches, device=device)
    except (ValueError, TypeError, TrainingError) as exc:  # a bad flag, over a limit, a shape that does not fit
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"vision-core lr-find: error: {message}", file=sys.stderr)
        return 2
    except (FileNotFoundError, OSError) as exc:  # data that is not on disk: load() says where to put it
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{config.model} on {config.dataset}, {config.optimizer}, batch {config.batch_size}: lr from "
          f"{result.lrs[0]:.1e} to {result.lrs[-1]:.1e} over {len(result.lrs)} batches on {device}")
    for name, lr in (("steepest", result.steepest), ("minimum / 10", result.min_tenth)):
        print(f"  {name:<13} {'–' if lr is None else f'{lr:.2g}'}")
    for note in result.notes:
        print(f"  note: {note}")
    return 0


def cmd_list() -> int:
    from vision_core.data import datasets
    from vision_core.models import zoo as models
    from vision_core.training import presets

    print("datasets:")
    for info in datasets.list_datasets():
        where = "embedded" if info.embedded else ("on disk" if datasets.is_available(info.name) else "not on disk")
        print(f"  {info.name:<14} {where:<12} {info.description}")
    print("models:")
    for name in models.list_models():
        print(f"  {name:<14} {models.model_info(name).title}")
    print("presets:")
    for key, preset in presets.PRESETS.items():
        print(f"  {key:<16} {preset.title}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from vision_core.runs import store as runs

    for run in runs.list_runs(args.runs_dir):
        acc = (run.summary or {}).get("test_acc")
        print(f"{run.run_id:<48} {run.state:<12} {'' if acc is None else f'test acc {acc:.4f}'}")
    for damaged in runs.list_damaged(args.runs_dir):
        print(f"{damaged.run_id:<48} {'damaged':<12} {damaged.reason}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from vision_core.data import datasets

    try:
        dataset = datasets.load(args.dataset, root=args.root, download=True)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{dataset.name}: {len(dataset.train)} train / {len(dataset.test)} test images ready")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from vision_core.code_export.files import write_files
    from vision_core.code_export.ready import ExportError
    from vision_core.runs import store as runs

    if not args.notebook and not args.script:
        print("vision-core export: error: say what to write: --notebook OUT.ipynb and/or --script OUT.py",
              file=sys.stderr)
        return 2
    try:
        run = runs.load_run(args.run_id, args.runs_dir)
        written = write_files(run, notebook=args.notebook, script=args.script, checkpoint=not args.no_checkpoint)
    except (ExportError, runs.RunError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Prints what the leaderboard shows for the run, computed again here: the same held-out images (the
    challenge's recorded seed and size), the same checkpoint, float32 on the CPU."""
    from vision_core.runs import challenges
    from vision_core.runs import store as runs
    from vision_core.training import scoring

    try:
        run = runs.load_run(args.run_id, args.runs_dir)
        challenge = challenges.load_challenge(args.challenge, args.runs_dir)
        result = scoring.score(run, challenge)
    except (ValueError, OSError) as exc:  # RunError and ChallengeError are ValueErrors
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"held-out accuracy {result['accuracy']:.4f} ({result['correct']:,} of {result['images']:,} images, "
          f"challenge {challenge.name}, seed {challenge.seed}, {result['checkpoint']} checkpoint)")
    recorded = challenges.read_score(run)
    if recorded is not None and recorded["challenge"] == challenge.name:
        same = "the same" if recorded["correct"] == result["correct"] else "DIFFERENT"
        print(f"recorded by the server: {recorded['accuracy']:.4f} ({same})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return cmd_train(args)
    if args.command == "list":
        return cmd_list()
    if args.command == "runs":
        return cmd_runs(args)
    if args.command == "export":
        return cmd_export(args)
    if args.command == "lr-find":
        return cmd_lr_find(args)
    if args.command == "score":
        return cmd_score(args)
    return cmd_download(args)


if __name__ == "__main__":
    sys.exit(main())
