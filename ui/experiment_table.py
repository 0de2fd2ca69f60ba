"""The Overfitting lab's results table: one row per variant, with its status and its train/validation gap."""

from __future__ import annotations

from ui.text import plain as literal
from vision_core.classroom import jobs
from vision_core.lessons import experiments as X
from vision_core.runs import store as runs


def variant_label(record: runs.RunRecord) -> str:
    """A variant's name: the one the experiment gave its run, else the run's label."""
    return record.config.name or record.label


def percent(value) -> str:
    return f"{value:.1%}" if X.is_number(value) else "–"


def variant_row(record: runs.RunRecord, snap: dict, label: str) -> dict:
    """One row of the results table: status (its queue place, its epoch), images, and the final gap."""
    gap = X.final_gap(snap.get("epochs") or [])
    status = record.state
    if status in ("running", "paused") and snap.get("status") in ("running", "paused", "testing"):
        status = snap["status"]
    if status == "queued":
        entry = jobs.manager().view.get(record.run_id)
        status = f"queued (#{entry.position})" if entry and entry.position else "queued"
    elif status in ("running", "paused"):
        status = f"{status}: epoch {snap.get('epoch', 0)} of {record.config.epochs}"
    images = (record.data_info or {}).get("train_size")
    return {
        "variant": literal(label),  # st.table renders Markdown in its cells
        "status": status,
        "training images": f"{images:,}" if isinstance(images, int) else "–",
        "epoch": str(gap.epoch) if gap else "–",
        "training accuracy": percent(gap.train_acc if gap else None),
        "validation accuracy": percent(gap.val_acc if gap else None),
        "gap": f"{gap.gap * 100:+.1f} pts" if gap else "–",
        "test accuracy": percent((record.summary or {}).get("test_acc")),
    }
