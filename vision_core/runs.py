"""Run folders on disk: every run the CLI or the dashboard starts lives in ``runs/<run_id>/``.

The folder is the source of truth after a server restart (see docs/ARCHITECTURE.md for its files).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vision_core.config import RunConfig

ACTIVE_STATUSES = ("queued", "running", "paused")
CHECKPOINTS = ("best", "last")


class RunError(ValueError):
    """A run folder or checkpoint that cannot be used; the message says why and what to do."""


def runs_root(root: str | os.PathLike | None = None) -> Path:
    """Where run folders live: ``root``, else ``$VISION_CORE_RUNS``, else ``./runs``."""
    return Path(root or os.environ.get("VISION_CORE_RUNS", "runs")).resolve()


@dataclass
class RunRecord:
    """What the Runs page and the evaluation pages know about one run folder."""

    run_id: str
    path: Path
    config: RunConfig
    status: dict[str, Any]
    summary: dict[str, Any] | None
    data_info: dict[str, Any] | None  # classes, channels, image_size, mean, std of the data it trained on

    @property
    def state(self) -> str:
        """queued / running / paused / finished / stopped / failed / interrupted."""
        return self.status.get("status", "unknown")

    def checkpoint(self, which: str = "best") -> Path | None:
        """Path of the best or last checkpoint, falling back to the other one; None when there is none."""
        if which not in CHECKPOINTS:
            raise ValueError(f"which must be one of {CHECKPOINTS}, got {which!r}")
        other = "last" if which == "best" else "best"
        for name in (which, other):
            path = self.path / "checkpoints" / f"{name}.ckpt"
            if path.is_file():
                return path
        return None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def new_run_id(config: RunConfig) -> str:
    """A sortable, readable, unique id: ``20261122-112233-lenet-digits-3fa1``."""
    label = _slug(config.name) or f"{_slug(config.model)}-{_slug(config.dataset)}"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{label}-{secrets.token_hex(2)}"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    # Write then rename, so a reader (another tab, the Runs page) never sees half a file.
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def create_run(config: RunConfig, root: str | os.PathLike | None = None, run_id: str | None = None) -> RunRecord:
    """Make the run folder and write its config; status starts as ``queued``."""
    run_id = run_id or new_run_id(config)
    path = runs_root(root) / run_id
    (path / "checkpoints").mkdir(parents=True, exist_ok=True)
    _write_json(path / "config.json", config.to_dict())
    status = {"status": "queued", "message": "", "pid": os.getpid(), "updated": time.time()}
    _write_json(path / "status.json", status)
    return RunRecord(run_id, path, config, status, None, None)


def write_status(run: RunRecord, status: str, message: str = "", **fields: Any) -> None:
    """Record the run's state on disk (and on the record)."""
    run.status = {**run.status, **fields, "status": status, "message": message,
                  "pid": os.getpid(), "updated": time.time()}
    _write_json(run.path / "status.json", run.status)


def write_summary(run: RunRecord, summary: dict[str, Any]) -> None:
    run.summary = summary
    _write_json(run.path / "summary.json", summary)


def write_data_info(run: RunRecord, data_info: dict[str, Any]) -> None:
    run.data_info = data_info
    _write_json(run.path / "dataset.json", data_info)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_run(run_id: str | os.PathLike, root: str | os.PathLike | None = None) -> RunRecord:
    """Read one run folder. A run that says it is active but whose process is gone is ``interrupted``."""
    path = Path(run_id) if Path(run_id).is_absolute() else runs_root(root) / str(run_id)
    config_data = _read_json(path / "config.json")
    if config_data is None:
        raise RunError(f"No run named {Path(run_id).name!r} in {path.parent} (missing or unreadable config.json)")
    status = _read_json(path / "status.json") or {"status": "unknown"}
    if status.get("status") in ACTIVE_STATUSES and not _pid_alive(status.get("pid")):
        status = {**status, "status": "interrupted",
                  "message": "The process that ran it stopped (server restart?); what it saved is kept."}
    return RunRecord(
        run_id=path.name,
        path=path,
        config=RunConfig.from_dict(config_data),
        status=status,
        summary=_read_json(path / "summary.json"),
        data_info=_read_json(path / "dataset.json"),
    )


def list_runs(root: str | os.PathLike | None = None) -> list[RunRecord]:
    """Every readable run folder, newest first. Unreadable folders are skipped, never fatal."""
    base = runs_root(root)
    if not base.is_dir():
        return []
    records = []
    for path in sorted(base.iterdir(), reverse=True):
        if (path / "config.json").is_file():
            try:
                records.append(load_run(path))
            except RunError:
                continue
    return records


def delete_run(run_id: str, root: str | os.PathLike | None = None) -> None:
    run = load_run(run_id, root)
    if run.state in ACTIVE_STATUSES:
        raise RunError(f"Run {run_id} is still {run.state}; stop it before deleting it.")
    shutil.rmtree(run.path)


def read_metrics(run: RunRecord):
    """The Lightning CSV log as a pandas DataFrame (empty when nothing was written yet)."""
    import pandas as pd

    path = run.path / "metrics.csv"
    if not path.is_file():
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return pd.DataFrame()


def metrics_history(run: RunRecord) -> dict[str, Any]:
    """A finished run's curves from metrics.csv, in the same shape as ``LiveState.snapshot()``."""
    df = read_metrics(run)
    steps, epochs = [], []
    if "train_loss_step" in df.columns:
        rows = df.dropna(subset=["train_loss_step"])
        steps = [(int(s), float(v), float("nan")) for s, v in zip(rows["step"], rows["train_loss_step"])]
    if "epoch" in df.columns:
        for epoch, group in df.groupby("epoch"):
            record: dict[str, Any] = {"epoch": int(epoch) + 1}
            for key in ("train_loss_epoch", "train_acc", "val_loss", "val_acc", "lr"):
                if key in group.columns and group[key].notna().any():
                    record["train_loss" if key == "train_loss_epoch" else key] = float(group[key].dropna().iloc[-1])
            if len(record) > 1:
                epochs.append(record)
    steps_per_epoch = 0
    if steps and epochs and "train_loss_epoch" in df.columns:
        ends = df.dropna(subset=["train_loss_epoch"])["step"]
        steps_per_epoch = int(ends.iloc[0]) + 1 if len(ends) else 0
    return {"steps": steps, "epochs": epochs, "steps_per_epoch": steps_per_epoch,
            "status": run.state, "message": run.status.get("message", "")}


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Model weights from a Lightning checkpoint or a plain state_dict file, never unpickling objects.

    ``weights_only=True`` refuses anything but tensors and plain containers, so a tampered file
    cannot run code; every failure becomes a RunError with a plain sentence.
    """
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunError(f"Checkpoint {path} does not exist.") from None
    except Exception as exc:  # noqa: BLE001 — untrusted files fail in many ways: pickle, zip, truncation, globals
        raise RunError(
            f"{Path(path).name} is not a checkpoint we can read safely ({type(exc).__name__}). "
            "It may be corrupt, truncated, or not made by this tool."
        ) from None
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise RunError(f"{Path(path).name} holds no model weights (expected a state_dict of tensors).")
    # Lightning prefixes the wrapped network's keys with "model.".
    if data and all(k.startswith("model.") for k in data):
        data = {k[len("model."):]: v for k, v in data.items()}
    return data


def build_model(run: RunRecord) -> torch.nn.Module:
    """The run's architecture, untrained, built for the data it trained on."""
    from vision_core import models

    info = run.data_info
    if info is None:
        raise RunError(f"Run {run.run_id} has no dataset.json yet (it has not started training).")
    return models.build(
        run.config.model,
        in_channels=info["channels"],
        num_classes=len(info["classes"]),
        image_size=tuple(info["image_size"]),
        **run.config.model_options,
    )


def load_weights_into(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """load_state_dict with a message a student can act on when the architecture does not match."""
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1:3]
        raise RunError(
            f"The weights in {source} do not fit this architecture ({'; '.join(s.strip() for s in first)}). "
            "Pick the run that made them, or a checkpoint of the same model."
        ) from None


def load_model(run_id: str | RunRecord, which: str = "best", root: str | os.PathLike | None = None):
    """The trained network of a run, on the CPU in eval mode.

    Example: ``model = load_model("20261122-112233-lenet-digits-3fa1")``.
    """
    run = run_id if isinstance(run_id, RunRecord) else load_run(run_id, root)
    path = run.checkpoint(which)
    if path is None:
        raise RunError(f"Run {run.run_id} has no checkpoint yet: it saves one at the end of each epoch.")
    model = build_model(run)
    load_weights_into(model, load_state_dict(path), path.name)
    return model.eval()


def checkpoint_epoch(path: str | os.PathLike) -> int | None:
    """The epoch a checkpoint was saved at (to say which epoch a page shows)."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 — an unreadable checkpoint simply has no known epoch
        return None
    return data.get("epoch") if isinstance(data, dict) else None
