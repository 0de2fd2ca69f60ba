"""Choose a run: the one in the URL (?run=...), else this person's best finished run, in a select box of every run.

Damaged run folders never reach a page (runs.list_runs leaves them out). A run without a checkpoint yet
shows one sentence and waits: the page refreshes itself when the first checkpoint appears.
"""

from __future__ import annotations

import streamlit as st

from ui import identity
from ui.text import plain  # noqa: F401 — pages imported it from here before ui/text.py
from vision_core.runs import store as runs

CHECKPOINT_POLL_S = 2  # how often a page waiting for a run's first checkpoint looks again


def run_label(run: runs.RunRecord) -> str:
    name = f"{run.name} · " if run.name else ""
    return f"{name}{run.run_id} — {run.config.model} on {run.config.dataset} ({run.state})"


def default_index(records: list[runs.RunRecord]) -> int:
    """Where a select box of ``records`` starts when the URL names no run (see runs.default_run)."""
    best = runs.default_run(records, identity.current_person())
    return records.index(best) if best is not None else 0


def _wanted_from_url(ids: list[str]) -> str | None:
    """The run id in ``?run=``, when it is valid and on disk; otherwise a one-line note and None."""
    wanted = st.query_params.get("run")
    if not wanted:
        return None
    try:
        runs.validate_run_id(wanted)
    except runs.RunError:
        st.warning("The link names no valid run; showing your best finished run instead.")
        return None
    if wanted not in ids:
        st.warning(f"Run {wanted} is not on disk (deleted, or damaged); showing another run.")
        return None
    return wanted


def pick_run(key: str, label: str = "Run") -> runs.RunRecord:
    """The selected run; stops the page with a hint when there is none, or while it has no checkpoint yet."""
    records = runs.list_runs()
    if not records:
        st.info("No runs yet: train one on the Train page.")
        st.page_link("pages/train.py", label="Go to Train", icon="🏋️")
        st.stop()
    ids = [r.run_id for r in records]
    wanted = _wanted_from_url(ids)
    if wanted is not None and st.session_state.get(key) not in (None, wanted) and \
            st.session_state.get(f"{key}_url") != wanted:
        st.session_state[key] = wanted  # a new link was opened in this tab: it wins over the last choice
    st.session_state[f"{key}_url"] = wanted
    if st.session_state.get(key) not in ids:
        st.session_state.pop(key, None)  # the run chosen before was deleted meanwhile
    if key in st.session_state:
        index = ids.index(st.session_state[key])  # the kept choice is also the default (see ui/kept.py)
    else:
        index = ids.index(wanted) if wanted is not None else default_index(records)
    by_id = {r.run_id: r for r in records}
    run_id = st.selectbox(label, ids, index=index, format_func=lambda i: run_label(by_id[i]), key=key)
    if st.query_params.get("run") != run_id:
        st.query_params["run"] = run_id
    run = by_id[run_id]
    if run.checkpoint("last") is None:
        _no_checkpoint_yet(run)
    return run


def _no_checkpoint_yet(run: runs.RunRecord) -> None:
    """One sentence; while the run trains, a fragment looks again every few seconds and reloads the page
    as soon as a checkpoint is there."""
    if run.state not in runs.ACTIVE_STATUSES + ("testing",):
        st.info(f"This run has no checkpoint yet, and will not get one: it is {run.state} (it ended before "
                "saving one, or its checkpoints were deleted). Pick another run.")
        st.stop()
    st.info(f"No checkpoint yet: this run is {run.state} and saves one at the end of each epoch. "
            "This page opens it by itself as soon as it is there.")
    _wait_for_checkpoint(run.run_id)
    st.stop()


@st.fragment(run_every=CHECKPOINT_POLL_S)
def _wait_for_checkpoint(run_id: str) -> None:
    try:
        run = runs.load_run(run_id)
    except runs.RunError:
        st.rerun()  # deleted or damaged meanwhile: the whole page picks another run
        return
    if run.checkpoint("last") is not None or run.state not in runs.ACTIVE_STATUSES + ("testing",):
        st.rerun()
    st.caption(f"⏳ {run.state} · epoch {run.status.get('epoch', 0)} of {run.config.epochs} · looking again "
               f"every {CHECKPOINT_POLL_S} s")
