"""The strip on every page that shows the running and queued runs and links to them.

It reads the scheduler's last look (``jobs.manager().view``): no disk access per viewer.
"""

from __future__ import annotations

import streamlit as st

from ui import identity
from ui.text import plain
from vision_core.classroom import jobs


def job_line(entry: jobs.Entry, mine: bool) -> str:
    who = " (yours)" if mine else ""
    line = f"**{plain(entry.model)}** on **{plain(entry.dataset)}**{who} · {entry.status}"
    if entry.status == "queued":
        if entry.position:
            line += f" · #{entry.position} in queue"
        if entry.wait_s:
            line += f" · ~{max(entry.wait_s, 1):.0f} s wait" if entry.wait_s < 120 else \
                f" · ~{entry.wait_s / 60:.0f} min wait"
        return line
    line += f" · epoch {entry.epoch}/{entry.epochs} · {entry.progress:.0%}"
    if entry.val_acc is not None:
        line += f" · val acc {entry.val_acc:.1%}"
    return line


@st.fragment(run_every=2)
def status_strip() -> None:
    view = jobs.manager().view
    if not view.entries:
        st.caption("No training running.")
        return
    me = identity.current_person()
    for entry in view.entries[:12]:
        st.markdown(job_line(entry, entry.owner == me))
        st.page_link("pages/train.py", label="Open this run", icon="📈", query_params={"run": entry.run_id})
    if len(view.entries) > 12:
        st.caption(f"…and {len(view.entries) - 12} more on the Runs page.")
