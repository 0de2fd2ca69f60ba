"""Whether a run can be exported as code, and which checkpoint its code loads: torch-free, for the Runs page."""

from __future__ import annotations

from vision_core.runs.store import RunRecord

EXPORTABLE = ("finished", "stopped")  # runs whose test accuracy and checkpoint are final


class ExportError(ValueError):
    """A run that cannot be exported yet (not finished, or its folder lacks what the code needs)."""


def why_not_exportable(run: RunRecord) -> str | None:
    """One sentence saying why ``run`` cannot be exported, or None when it can."""
    if run.state not in EXPORTABLE:
        return f"Run {run.run_id} is {run.state}: only a finished or stopped run can be exported as code."
    if run.data_info is None or not isinstance((run.summary or {}).get("test_acc"), (int, float)):
        return f"Run {run.run_id} has no test result or no dataset.json: it cannot be reproduced as code."
    return None


def checkpoint_kind(run: RunRecord) -> str:
    """``best`` or ``last``: the checkpoint the run was tested with (a stopped run: the weights at the stop)."""
    return "best" if (run.summary or {}).get("tested_checkpoint") == "best" else "last"


def checkpoint_name(run: RunRecord) -> str:
    """The file the notebook loads: ``<run id>.ckpt``, as the Runs page's checkpoint download names it."""
    return f"{run.run_id}.ckpt"
