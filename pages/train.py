"""Train: set up a run (data, model, recipe, hyper-parameters), start it, watch it learn."""

import streamlit as st

from ui.frame import ensure_app_frame
from ui.live_panel import live_panel
from ui.lr_finder import lr_finder_section
from ui.queue_table import queue_table
from ui.submit import submit_run
from ui.train_form import QUICKSTART, apply_config, config_form, md_text

ensure_app_frame()  # a cold server's first request goes through app.py

st.title("🏋️ Train")


def start(config) -> None:
    run = submit_run(config)
    if run is None:
        return
    st.query_params["run"] = run.run_id
    st.rerun()


# The home page's one-click first run.
if st.session_state.pop("train_pending_preset", None) == "quickstart":
    apply_config(QUICKSTART, "Your first run: LeNet on the handwritten digits. Watch the loss fall.")
    start(QUICKSTART)

run_id = st.query_params.get("run")
if run_id:
    live_panel(run_id)
    if st.button("+ New run", key="train_new_run"):
        del st.query_params["run"]
        st.rerun()
    st.divider()
queue_table()

st.subheader("Set up a run" if not run_id else "Set up another run")
config, problem = config_form()
if problem:
    st.warning(f"Start is disabled: {md_text(problem)}")  # shown literally: model and dataset names are not markdown
if st.button("▶ Start training", type="primary", disabled=config is None or problem is not None,
             key="train_start", help=problem):
    start(config)
lr_finder_section(config if problem is None else None)
