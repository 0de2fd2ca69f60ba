"""The strip on every page that shows the running and queued jobs and links to them."""

from __future__ import annotations

import streamlit as st

from vision_core import jobs


def job_line(job: jobs.Job) -> str:
    snap = job.state.snapshot()
    c = job.config
    line = f"**{c.model}** on **{c.dataset}** · {snap['status']}"
    if snap["status"] == "queued":
        position = jobs.manager().queue_position(job.run_id)
        return line + (f" · #{position} in queue" if position else "")
    line += f" · epoch {snap['epoch']}/{snap['total_epochs']} · {snap['progress']:.0%}"
    last_val = next((e["val_acc"] for e in reversed(snap["epochs"]) if e.get("val_acc") is not None), None)
    if last_val is not None:
        line += f" · val acc {last_val:.1%}"
    return line


@st.fragment(run_every=2)
def status_strip() -> None:
    active = jobs.manager().active_jobs()
    if not active:
        st.caption("No training running.")
        return
    for job in active:
        st.markdown(job_line(job))
        st.page_link("pages/train.py", label="Open this run", icon="📈", query_params={"run": job.run_id})
