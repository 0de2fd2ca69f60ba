"""The Challenges page's pieces: who a row belongs to, the leaderboard and the class's runs as tables (and CSV), the
teacher's form for a new challenge.

Everything a student or a file controls is shown as text: titles through ``plain()``, names and run names in
st.dataframe cells (plain text). The tables are built once per runs-folder change and shared by every viewer
(``board_tables``: a class refreshing the page costs one scan every few seconds, not one per person).
"""

from __future__ import annotations

import time
from datetime import datetime

import pandas as pd
import streamlit as st

from ui.names import display as display_name  # the class's names (chosen, else a stable animal pseudonym)
from ui.text import plain
from vision_core.data import datasets
from vision_core.runs import challenges
from vision_core.runs import store as runs


def _when(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%H:%M:%S") if timestamp else ""


LEADERBOARD_COLUMNS = ["rank", "name", "held-out accuracy (%)", "parameters", "training time (s)", "epochs", "model",
                       "run", "finished"]


def leaderboard_table(entries: list[challenges.Entry]) -> pd.DataFrame:
    return pd.DataFrame([{
        "rank": e.rank, "name": display_name(e.owner), "held-out accuracy (%)": round(100 * e.accuracy, 2),
        "parameters": e.parameters, "training time (s)": round(e.train_seconds, 1) if e.train_seconds is not None
        else None, "epochs": e.epochs, "model": e.model, "run": e.run_name, "finished": _when(e.finished_at),
    } for e in entries], columns=LEADERBOARD_COLUMNS)


def runs_table(challenge: challenges.Challenge, records: list[runs.RunRecord],
               entries: list[challenges.Entry]) -> pd.DataFrame:
    """Every run of the class for the challenge (any state), with its score and whether the leaderboard counts it."""
    counted = {run.run_id for run, _ in challenges.counted_runs(challenge, records)}
    best = {e.run_id for e in entries}
    rows = []
    for run in records:
        if run.config.challenge != challenge.name:
            continue
        score = challenges.read_score(run)
        summary = run.summary or {}
        rows.append({"name": display_name(run.owner), "run": run.label, "run id": run.run_id, "status": run.state,
                     "model": run.config.model, "parameters": summary.get("parameters"),
                     "epochs": summary.get("epochs_completed"), "training time (s)": summary.get("train_seconds"),
                     "test accuracy": summary.get("test_acc"),
                     "held-out accuracy": score["accuracy"] if score else None,
                     "counts": "best" if run.run_id in best else ("yes" if run.run_id in counted else "no"),
                     "finished": _when(score["finished_at"]) if score else ""})
    return pd.DataFrame(rows, columns=["name", "run", "run id", "status", "model", "parameters", "epochs",
                                       "training time (s)", "test accuracy", "held-out accuracy", "counts",
                                       "finished"])


@st.cache_data(ttl=3, max_entries=32, show_spinner=False)
def board_tables(root: str, name: str, stamp: float) -> tuple[pd.DataFrame, pd.DataFrame] | str:
    """(leaderboard, the class's runs) of one challenge, shared by every viewer for a few seconds; the reason as a
    string when the challenge cannot be read. ``stamp``: the challenge file's change time (a freeze shows at once)."""
    try:
        challenge = challenges.load_challenge(name, root)
    except challenges.ChallengeError as exc:
        return str(exc)
    records = runs.list_runs(root)
    entries = challenges.leaderboard(challenge, records)
    return leaderboard_table(entries), runs_table(challenge, records, entries)


def file_stamp(name: str) -> float:
    try:
        return challenges.challenge_file(name).stat().st_mtime
    except (OSError, challenges.ChallengeError):
        return 0.0


# --------------------------------------------------------------------------- the teacher's form


def new_challenge_form(dataset_names: list[str], model_names: list[str]) -> None:
    """Title, dataset, held-out split, rules and deadline → a challenge file (the teacher's page only)."""
    with st.form("challenge_new", clear_on_submit=False):
        title = st.text_input("Title", max_chars=challenges.MAX_TITLE_CHARS, key="challenge_title",
                              placeholder="e.g. Digits under 50k")
        c = st.columns(3)
        dataset = c[0].selectbox("Dataset", dataset_names, key="challenge_dataset")
        held_out = c[1].number_input("Held-out images", 1, challenges.MAX_HELD_OUT, 300, key="challenge_held_out",
                                     help="Taken from the training images: no run for the challenge trains or "
                                          "validates on them, no page shows them; each finished run is scored on them.")
        seed = c[2].number_input("Seed of the held-out split", 0, 2**31 - 1, int(time.time()) % 100_000,
                                 key="challenge_seed")
        c = st.columns(3)
        max_parameters = c[0].number_input("Most parameters (0 = no limit)", 0, 10**9, 0, key="challenge_max_params")
        max_epochs = c[1].number_input("Most epochs (0 = no limit)", 0, 10_000, 0, key="challenge_max_epochs")
        custom = c[2].checkbox("Custom models allowed", True, key="challenge_custom")
        allowed = st.multiselect("Allowed models (none chosen = every model)", [m for m in model_names if m != "custom"],
                                 key="challenge_models")
        c = st.columns(3)
        has_deadline = c[0].checkbox("Deadline", False, key="challenge_has_deadline")
        day = c[1].date_input("Day", key="challenge_day")
        hour = c[2].time_input("Time", key="challenge_time", step=300)
        submitted = st.form_submit_button("Create the challenge", type="primary")
    if not submitted:
        return
    deadline = datetime.combine(day, hour).timestamp() if has_deadline else None
    try:
        # The held-out split must leave training images: sized from the dataset's options, nothing loaded.
        datasets.plan(dataset, held_out=datasets.HeldOut(int(held_out), int(seed)))
    except (ValueError, OSError) as exc:
        st.error(plain(exc))
        return
    try:
        made = challenges.create_challenge(
            title, dataset, held_out=int(held_out), seed=int(seed), max_parameters=int(max_parameters) or None,
            max_epochs=int(max_epochs) or None, allowed_models=allowed, custom_models=custom, deadline=deadline)
    except challenges.ChallengeError as exc:
        st.error(plain(exc))  # it may quote the title as typed
        return
    st.session_state["challenge_flash"] = f"Created the challenge “{made.title}”."
    st.query_params["challenge"] = made.name
    st.rerun()


def current_challenge(root: str | None = None) -> challenges.Challenge | None:
    """The challenge the front of the room follows: the newest open one, else the newest (None: no challenge)."""
    found, _damaged = challenges.scan_challenges(root)
    if not found:
        return None
    newest_first = sorted(found, key=lambda c: c.created, reverse=True)
    return next((c for c in newest_first if c.is_open()), newest_first[0])


PROJECTOR_REFRESH_SECONDS = 5.0


@st.fragment(run_every=PROJECTOR_REFRESH_SECONDS)
def projector_leaderboard() -> None:
    """The leaderboard of current_challenge() for the projector: the first ten places, large, no controls; it
    redraws itself (the tables are shared by every viewer for a few seconds, board_tables)."""
    challenge = current_challenge()
    if challenge is None:
        st.info("No challenge yet.")
        return
    tables = board_tables(str(runs.runs_root()), challenge.name, file_stamp(challenge.name))
    if isinstance(tables, str):
        st.error(plain(tables))
        return
    board = tables[0]
    rules = challenge.constraints()
    st.markdown(f"### {plain(challenge.title)}")
    st.caption(f"{plain(challenge.dataset)} · {plain('; '.join(rules)) if rules else 'no extra rules'} · scored on "
               f"{challenge.held_out:,} held-out images")
    if board.empty:
        st.info("No finished run for this challenge yet.")
        return
    st.dataframe(board.head(10)[["rank", "name", "held-out accuracy (%)", "parameters", "epochs", "model"]],
                 hide_index=True, width="stretch")
