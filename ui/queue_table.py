"""The class queue as a table: every run queued or training, its place, whose it is, the estimated wait."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import identity
from vision_core.classroom import jobs


def queue_rows(view: jobs.QueueView, me: str) -> list[dict]:
    rows = []
    for entry in view.entries:
        rows.append({
            "place": ("paused" if entry.status == "paused" else "training") if entry.status in jobs.RUNNING
            else f"#{entry.position}",
            "whose": "yours" if entry.owner == me else "a classmate's",
            "model": entry.model,
            "data": entry.dataset,
            "device": entry.device.upper(),
            "progress": entry.progress if entry.status in jobs.RUNNING else 0.0,
            "wait / left": _minutes(entry.wait_s),
        })
    return rows


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


@st.fragment(run_every=2)
def queue_table() -> None:
    view = jobs.manager().view
    if not view.entries:
        return
    with st.expander(f"Class queue: {len(view.entries)} run(s) training or waiting", expanded=False):
        st.dataframe(pd.DataFrame(queue_rows(view, identity.current_person())), hide_index=True,
                     column_config={"progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0)},
                     key="train_queue_table")
        st.caption("Runs start in turn: everyone's first run before anyone's second. Waits are estimates from "
                   "runs of the same model and data on this server.")
