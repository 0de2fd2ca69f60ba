"""The strip on every page: this person's runs (with a link to each) and one line about the rest of the class.

It reads the scheduler's last look (``jobs.manager().view``): no disk access per viewer. It redraws every few
seconds for every student on every page, so it stays a handful of elements: listing the whole class's runs here (up to 25
elements per student per refresh) cost the server more than the Class page itself, which shows them all.
"""

from __future__ import annotations

import streamlit as st

from ui import identity
from ui.text import plain
from vision_core.classroom import jobs

MY_RUNS_SHOWN = 3  # a student's own runs listed with a link; more are counted (the Runs page lists them all)


def job_line(entry: jobs.Entry) -> str:
    line = f"**{plain(entry.model)}** on **{plain(entry.dataset)}** · {entry.status}"
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


def class_line(others: list[jobs.Entry]) -> str:
    """The rest of the class in one line: ``The rest of the class: 27 running · 2 queued``."""
    counts: dict[str, int] = {}
    for entry in others:
        counts[entry.status] = counts.get(entry.status, 0) + 1
    return "The rest of the class: " + " · ".join(f"{n} {status}" for status, n in counts.items())


# How often the strip redraws: every 2 s while this person has a run queued or training (they watch it move), else
# every 5 s. Thirty idle students' strips at 2 s cost the server 6.0 % of a core, at 5 s 3.3 % (mostly Streamlit's
# own work per redraw; protocol_class.py --idle 30); a student's Start reruns the whole page, so their strip
# speeds up at once.
WATCHING_S, IDLE_S = 2.0, 5.0


def status_strip() -> None:
    me = identity.current_person()
    watching = any(entry.owner == me for entry in jobs.manager().view.entries)
    st.fragment(run_every=WATCHING_S if watching else IDLE_S)(_strip)()


def _strip() -> None:
    view = jobs.manager().view
    if not view.entries:
        st.caption("No training running.")
        return
    me = identity.current_person()
    mine = [e for e in view.entries if e.owner == me]
    for entry in mine[:MY_RUNS_SHOWN]:
        st.markdown(job_line(entry))
        st.page_link("pages/train.py", label="Open this run", icon="📈", query_params={"run": entry.run_id})
    if len(mine) > MY_RUNS_SHOWN:
        st.caption(f"…and {len(mine) - MY_RUNS_SHOWN} more of yours on the Runs page.")
    others = [e for e in view.entries if e.owner != me]
    if others:
        st.caption(class_line(others))
        st.page_link("pages/class.py", label="See every run of the class", icon="🏫")
