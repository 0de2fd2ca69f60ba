"""Class: every active run of the class at a glance (the class wall), for everyone; controls for the teacher.

``?projector=1`` is the view for the front of the room: large type, no sidebar, no controls (app.py and
ui/projector_mode.py), cycling through PROJECTOR_VIEWS every PROJECTOR_CYCLE_SECONDS when there is more than one
(the wall, and the leaderboard of the newest open challenge once there is one); ``&view=wall`` or
``&view=leaderboard`` keeps one of them on the screen.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import streamlit as st

from ui import challenge_board, class_wall, identity, projector_mode
from ui.frame import ensure_app_frame
from vision_core.runs import challenges

ensure_app_frame()  # a cold server's first request goes through app.py

PROJECTOR_CYCLE_SECONDS = 20.0


def _wall_view() -> None:
    class_wall.wall(projector=True)


# What the projector shows in turn: (title, draw); the leaderboard only once the teacher has set a challenge.
PROJECTOR_VIEWS: list[tuple[str, Callable[[], None]]] = [("Class wall", _wall_view)]
if challenge_board.current_challenge() is not None:
    PROJECTOR_VIEWS.append(("Leaderboard", challenge_board.projector_leaderboard))
PINNED = {"wall": "Class wall", "leaderboard": "Leaderboard"}  # ?view=… (untrusted: only these two words)


def projector_view(now: float | None = None) -> tuple[str, Callable[[], None]]:
    """The view the projector shows now: the one ``?view=`` pins, else PROJECTOR_VIEWS in turn,
    PROJECTOR_CYCLE_SECONDS each."""
    pinned = PINNED.get(st.query_params.get("view", ""))
    for title, draw in PROJECTOR_VIEWS:
        if title == pinned:
            return title, draw
    turn = int((time.time() if now is None else now) // PROJECTOR_CYCLE_SECONDS)
    return PROJECTOR_VIEWS[turn % len(PROJECTOR_VIEWS)]


def show(title: str, draw: Callable[[], None]) -> None:
    st.title("🏫 Our class, training" if title == "Class wall" else f"🏆 {title}")
    draw()


if projector_mode.on():
    if len(PROJECTOR_VIEWS) == 1 or st.query_params.get("view") in PINNED:
        show(*projector_view())
    else:
        @st.fragment(run_every=PROJECTOR_CYCLE_SECONDS)
        def cycle() -> None:
            show(*projector_view())

        cycle()
    st.stop()

st.title("🏫 Class")
st.caption("Every run of the class that is waiting, training or just ended, refreshed every "
           f"{class_wall.REFRESH_SECONDS:g} s. **Stuck at chance**: it trains but guesses (hover the word for the "
           "likely cause); **diverged**: the loss blew up or it ended at chance. Names are what each student chose "
           "(sidebar, *Your name*), else an animal name.")
st.page_link("pages/class.py", label="Projector view (large type, no controls)", icon="📽️",
             query_params={"projector": "1"})
found, _damaged = challenges.scan_challenges()
titles = {c.name: c.title for c in found}
only = st.selectbox("Runs for", ["", *titles], key="class_challenge",
                    format_func=lambda name: titles.get(name, "every run") if name else "every run",
                    help="Only the runs started for one challenge (Challenges page).") if titles else ""
if only:
    class_wall.wall(keep=lambda row: row.challenge == only, keep_key=f"challenge:{only}")
else:
    class_wall.wall()
if identity.is_teacher():
    class_wall.teacher_panel()
