"""Start a run from a page: the one submission the Train page and the Make-a-dataset page share.

The queue's own checks (a place per person, the class's queue) and a made dataset's owner check
(``own_datasets.check_use``: a set-up link may name another student's private dataset) refuse with one sentence.
"""

from __future__ import annotations

import streamlit as st

from ui import identity
from ui.text import plain
from vision_core.classroom import jobs
from vision_core.data import own_datasets
from vision_core.runs import store as runs


def estimate_mb(config) -> float:
    """The run's memory estimate (for fitting several runs on one GPU); 0 when it cannot be made here."""
    try:
        from vision_core.training import guards

        return guards.gate(config).total_bytes / 2**20  # sized from the options: no dataset built in the server
    except Exception:  # noqa: BLE001 — the worker checks the limits again before allocating anything
        return 0.0


def submit_run(config) -> runs.RunRecord | None:
    """Queue ``config`` for this browser's person → the new run, or None after showing why it was refused."""
    # Imported here: the engine imports Lightning (seconds of CPU), which a page view never needs; submit() does.
    from vision_core.training.engine import TrainingError

    person, teacher = identity.current_person(), identity.is_teacher()
    try:
        own_datasets.check_use(config, person=person, teacher=teacher)
        return jobs.manager().submit(config, owner=person, estimate_mb=estimate_mb(config), teacher=teacher)
    except (TrainingError, jobs.QueueError, own_datasets.OwnDatasetError) as exc:
        st.error(plain(exc))
        return None
