"""Challenges: the teacher sets the class one task (a dataset, rules, a deadline); everyone sees the leaderboard.

Each finished run for a challenge was scored by the server on held-out images no run for it trained or validated on
(vision_core/runs/challenges.py); the leaderboard shows each person's best counted run. Students only read here.
"""

import streamlit as st

from ui import identity
from ui.challenge_board import board_tables, file_stamp, new_challenge_form
from ui.frame import ensure_app_frame
from ui.text import plain
from vision_core.data import datasets
from vision_core.models import zoo as models
from vision_core.runs import challenges
from vision_core.runs import store as runs

ensure_app_frame()  # a cold server's first request goes through app.py

st.title("🏆 Challenges")
teacher = identity.is_teacher()
flash = st.session_state.pop("challenge_flash", None)
if flash:
    st.success(plain(flash))

if teacher:
    with st.expander("New challenge", expanded=False):
        names = [i.name for i in datasets.list_datasets() if i.embedded or datasets.is_available(i.name)]
        new_challenge_form([n for n in names if n != "imagefolder"], models.list_models())

found, damaged = challenges.scan_challenges()
for broken in damaged:  # one line each; the others work as usual
    st.warning(f"The challenge file {plain(broken.name)} cannot be read ({plain(broken.reason)}); it is left out.")
if not found:
    st.info("No challenge yet." + ("" if teacher else " The teacher creates one here; it then shows on this page."))
    st.stop()

by_name = {c.name: c for c in found}
wanted = st.query_params.get("challenge")
if wanted in by_name and st.session_state.get("challenge_link") != wanted:
    st.session_state["challenge_link"] = wanted  # a link chooses once; the menu is the student's after that
    st.session_state["challenge_pick"] = wanted
if st.session_state.get("challenge_pick") not in by_name:
    st.session_state.pop("challenge_pick", None)
name = st.selectbox("Challenge", list(by_name), key="challenge_pick", format_func=lambda n: by_name[n].title)
challenge = by_name[name]

rules = challenge.constraints()
state = ("frozen at " + challenges.when(challenge.frozen_at)) if challenge.frozen else (
    f"open until {challenges.when(challenge.deadline)}" if challenge.deadline else "open, no deadline")
if challenge.deadline and not challenge.frozen and not challenge.is_open():
    state = f"closed at {challenges.when(challenge.deadline)}"
st.markdown(f"**{plain(challenge.title)}** · dataset **{plain(challenge.dataset)}** · "
            f"{plain('; '.join(rules)) if rules else 'no rules beyond the classroom limits'} · {state}")
seed = f" (seed {challenge.seed})" if teacher else ""  # which images they are is the teacher's to know
st.caption(f"Each finished run for this challenge is scored on {challenge.held_out:,} held-out images{seed} "
           "that no run for it trains or validates on, and no page shows. Runs that finish after "
           "the deadline or the freeze do not count. `vision-core score RUN_ID --challenge "
           f"{challenge.name}` computes the same number.")
if challenge.is_open():
    st.link_button("▶ Start a run for this challenge", f"train?challenge={challenge.name}", type="primary")
freeze_help = "Runs that finish after this no longer count, and no new run can be started for it."
if teacher and not challenge.frozen and st.button("❄️ Freeze the leaderboard now", key="challenge_freeze",
                                                  help=freeze_help):
    challenges.freeze(challenge.name)
    st.rerun()

tables = board_tables(str(runs.runs_root()), challenge.name, file_stamp(challenge.name))
if isinstance(tables, str):
    st.error(plain(tables))
    st.stop()
board, class_runs = tables
st.subheader("Leaderboard")
if board.empty:
    st.info("No finished run for this challenge yet.")
else:
    st.dataframe(board, hide_index=True, key="challenge_board",
                 column_config={"held-out accuracy (%)": st.column_config.NumberColumn(format="%.2f")})
cols = st.columns(2)
cols[0].download_button("Download the leaderboard (CSV)", board.to_csv(index=False), f"{challenge.name}-leaderboard.csv",
                        "text/csv", key="challenge_board_csv")
cols[1].download_button("Download the class's runs for it (CSV)", class_runs.to_csv(index=False),
                        f"{challenge.name}-runs.csv", "text/csv", key="challenge_runs_csv")
with st.expander(f"The class's runs for this challenge ({len(class_runs)})"):
    st.dataframe(class_runs, hide_index=True, key="challenge_runs")
