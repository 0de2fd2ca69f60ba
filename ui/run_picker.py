"""Choose a run: the one in the URL (?run=...), else a select box of every run on disk."""

from __future__ import annotations

import streamlit as st

from vision_core import runs


def run_label(run: runs.RunRecord) -> str:
    return f"{run.run_id} — {run.config.model} on {run.config.dataset} ({run.state})"


def pick_run(key: str, label: str = "Run") -> runs.RunRecord:
    """The selected run; stops the page with a hint when there is none."""
    records = runs.list_runs()
    if not records:
        st.info("No runs yet: train one on the Train page.")
        st.page_link("pages/train.py", label="Go to Train", icon="🏋️")
        st.stop()
    ids = [r.run_id for r in records]
    wanted = st.query_params.get("run")
    index = ids.index(wanted) if wanted in ids else 0
    run = st.selectbox(label, records, index=index, format_func=run_label, key=key)
    if st.query_params.get("run") != run.run_id:
        st.query_params["run"] = run.run_id
    return run
