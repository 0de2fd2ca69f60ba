"""Class: every active run of the class at a glance (the class wall), for everyone; controls for the teacher.

``?projector=1`` is the view for the front of the room: large type, no sidebar, no controls (app.py and
ui/projector_mode.py), cycling through PROJECTOR_VIEWS every PROJECTOR_CYCLE_SECONDS when there is more than one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import streamlit as st

from ui import class_wall, identity, projector_mode
from ui.frame import ensure_app_frame

ensure_app_frame()  # a cold server's first request goes through app.py

PROJECTOR_CYCLE_SECONDS = 20.0


def _wall_view() -> None:
    class_wall.wall(projector=True)


# What the projector shows in turn: (title, draw). A leaderboard joins with one line, e.g.
# ``PROJECTOR_VIEWS.append(("Leaderboard", leaderboard.projector_view))``.
PROJECTOR_VIEWS: list[tuple[str, Callable[[], None]]] = [("Class wall", _wall_view)]


def projector_view(now: float | None = None) -> tuple[str, Callable[[], None]]:
    """The view the projector shows now: PROJECTOR_VIEWS in turn, PROJECTOR_CYCLE_SECONDS each."""
    turn = int((time.time() if now is None else now) // PROJECTOR_CYCLE_SECONDS)
    return PROJECTOR_VIEWS[turn % len(PROJECTOR_VIEWS)]


if projector_mode.on():
    if len(PROJECTOR_VIEWS) == 1:
        st.title("🏫 Our class, training")
        _wall_view()
    else:
        @st.fragment(run_every=PROJECTOR_CYCLE_SECONDS)
        def cycle() -> None:
            title, draw = projector_view()
            st.title(f"🏫 {title}")
            draw()

        cycle()
    st.stop()

st.title("🏫 Class")
st.caption("Every run of the class that is waiting, training or just ended, refreshed every "
           f"{class_wall.REFRESH_SECONDS:g} s. **Stuck at chance**: it trains but guesses (hover the word for the "
           "likely cause); **diverged**: the loss blew up or it ended at chance. Names are what each student chose "
           "(sidebar, *Your name*), else an animal name.")
st.page_link("pages/class_page.py", label="Projector view (large type, no controls)", icon="📽️",
             query_params={"projector": "1"})
class_wall.wall()
if identity.is_teacher():
    class_wall.teacher_panel()
