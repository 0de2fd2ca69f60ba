"""Command line: ``vision-core train --dataset digits --model lenet --epochs 5``.

Trains exactly what the dashboard trains (same RunConfig, same engine, same run folders).
Lightning's ``--accelerator / --devices / --strategy / --num-nodes`` pass through, so one run
scales to several GPUs or machines with DDP.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Any

from vision_core.config import ACCELERATORS, OPTIMIZERS, SCHEDULERS, RunConfig

RUN_ID_ENV = "VISION_CORE_RUN_ID"  # DDP re-launches this command per process: they must share one run folder


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
            raise SystemExit(f"{flag} expects KEY=VALUE, got {pair!r}")
        result[key.replace("-", "_")] = _parse_value(value)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vision-core", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model and write a run folder")
    defaults = RunConfig()
    t.add_argument("--preset", help="start from a tutorial recipe (see `vision-core list`)")
    t.add_argument("--dataset", help=f"dataset name (default {defaults.dataset})")
    t.add_argument("--model", help=f"model name (default {defaults.model})")
    t.add_argument("--optimizer", choices=OPTIMIZERS)
    t.add_argument("--lr", type=float)
    t.add_argument("--momentum", type=float)
    t.add_argument("--weight-decay", type=float)
    t.add_argument("--scheduler", choices=SCHEDULERS)
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
    t.add_argument("--runs-dir", help="where run folders go (default $VISION_CORE_RUNS or ./runs)")
    # Lightning pass-through.
    t.add_argument("--accelerator", choices=ACCELERATORS + ("mps", "tpu"), help="auto / cpu / gpu")
    t.add_argument("--devices", default="auto", help="number of devices (or 'auto')")
    t.add_argument("--strategy", default="auto", help="e.g. ddp")
    t.add_argument("--num-nodes", type=int, default=1)
    t.add_argument("--limit-train-batches", type=float, help="a fraction or a count of batches per epoch")
    t.add_argument("--limit-val-batches", type=float)
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    sub.add_parser("list", help="datasets, models and presets")
    r = sub.add_parser("runs", help="list run folders")
    r.add_argument("--runs-dir")
    d = sub.add_parser("download", help="download a real dataset into the data folder (needs internet)")
    d.add_argument("dataset")
    d.add_argument("--root")
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    from vision_core import presets

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


def _as_number(text: str | None):
    if text is None or text == "auto":
        return "auto"
    return int(text)


def _limit(value: float | None):
    if value is None:
        return None
    return int(value) if value >= 1 and float(value).is_integer() else value


def cmd_train(args: argparse.Namespace) -> int:
    from vision_core import runs
    from vision_core.engine import TrainingError, train

    try:
        config = config_from_args(args)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    trainer_options: dict[str, Any] = {"devices": _as_number(args.devices), "strategy": args.strategy,
                                       "num_nodes": args.num_nodes}
    if args.accelerator:
        trainer_options["accelerator"] = args.accelerator
    for key in ("limit_train_batches", "limit_val_batches"):
        if getattr(args, key) is not None:
            trainer_options[key] = _limit(getattr(args, key))

    run_id = os.environ.get(RUN_ID_ENV) or runs.new_run_id(config)
    os.environ[RUN_ID_ENV] = run_id  # inherited by the processes DDP launches
    run = runs.create_run(config, args.runs_dir, run_id=run_id)
    rank = int(os.environ.get("LOCAL_RANK", "0")) + int(os.environ.get("NODE_RANK", "0"))
    if rank == 0:
        print(f"run {run.run_id}: {config.model} on {config.dataset}, {config.epochs} epochs → {run.path}")
    try:
        summary = train(config, run=run, trainer_options=trainer_options, progress_bar=not args.no_progress)
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if rank == 0:
        acc = summary["test_acc"]
        print(f"test accuracy {acc:.4f}  test loss {summary['test_loss']:.4f}  "
              f"({summary['train_seconds']:.1f} s on {summary['device']}, "
              f"{summary['samples_per_sec']:.0f} samples/s, {summary['parameters']:,} parameters)")
        print(f"run folder: {run.path}")
    return 0


def cmd_list() -> int:
    from vision_core import datasets, models, presets

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
    from vision_core import runs

    for run in runs.list_runs(args.runs_dir):
        acc = (run.summary or {}).get("test_acc")
        print(f"{run.run_id:<48} {run.state:<12} {'' if acc is None else f'test acc {acc:.4f}'}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from vision_core import datasets

    try:
        dataset = datasets.load(args.dataset, root=args.root, download=True)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{dataset.name}: {len(dataset.train)} train / {len(dataset.test)} test images ready")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return cmd_train(args)
    if args.command == "list":
        return cmd_list()
    if args.command == "runs":
        return cmd_runs(args)
    return cmd_download(args)


if __name__ == "__main__":
    sys.exit(main())
