"""The Train page's learning-rate range test: run it on the form's set-up, see loss against lr, use a suggestion.

It runs in the server's own process on the CPU (bounded: at most ``lr_finder.MAX_BATCHES`` batches, the teacher's
limits checked first, one test at a time for the whole server), not as a queued job; one result per set-up is
cached for everyone, so thirty students trying the same recipe cost one test.
"""

from __future__ import annotations

import json
import threading

import streamlit as st

from ui.train_form import md_text
from vision_core.config import RunConfig
from vision_core.figures import lr_finder as figures
from vision_core.training import lr_finder

_ONE_AT_A_TIME = threading.Lock()  # a class clicking at once queues here instead of sharing the CPU thirty ways


@st.cache_data(max_entries=32, show_spinner=False)
def range_test(config_json: str, num_batches: int) -> lr_finder.RangeTest:
    with _ONE_AT_A_TIME:
        return lr_finder.lr_range_test(RunConfig.from_dict(json.loads(config_json)), num_batches=num_batches)


def use_lr(value: float) -> None:
    """Button callback (before the form is drawn again): put the rate into the form's learning-rate box."""
    st.session_state["train_lr"] = float(f"{value:.2g}")


def lr_finder_section(config: RunConfig | None) -> None:
    with st.expander("🔎 Find a learning rate (LR range test)", expanded="train_lrf_for" in st.session_state):
        st.caption("A short run on this set-up that raises the learning rate from 1e-7 to 1 over a few hundred "
                   "batches and records the loss. Too small a rate and the loss barely moves; too large and it "
                   "shoots up. Good rates lie where the loss falls fastest: the **steepest** point, or a tenth of "
                   "the rate at the **lowest** loss (fastai's rule).")
        if config is None:
            st.info("Finish the set-up above first: the test trains the model and data you choose there.")
            return
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        batches = left.slider("Batches", 20, lr_finder.MAX_BATCHES, lr_finder.DEFAULT_BATCHES, step=10,
                              key="train_lrf_batches")
        if right.button("Run the range test", key="train_lrf_run", width="stretch"):
            st.session_state["train_lrf_for"] = (config.replace(name="", epochs=1).to_json(), int(batches))
        wanted = st.session_state.get("train_lrf_for")
        if wanted is None:
            return
        try:
            with st.spinner("Raising the learning rate batch by batch…"):
                result = range_test(*wanted)
        except ValueError as exc:  # over a limit, a shape that does not fit, missing data: one sentence
            st.error(f"The range test cannot run on this set-up: {md_text(exc)}")
            return
        tested = RunConfig.from_dict(json.loads(wanted[0]))
        if tested.replace(lr=config.lr) != config.replace(name="", epochs=1):
            st.caption("This result is for the set-up as it was when you ran the test; run it again after a change.")
        suggestions = {"steepest": result.steepest, "minimum / 10": result.min_tenth}
        st.plotly_chart(figures.range_test_curve(result.lrs, result.losses, result.smoothed, suggestions),
                        key="train_lrf_chart")
        for note in result.notes:
            st.caption(md_text(note))
        columns = st.columns(len(suggestions))
        for column, (name, lr) in zip(columns, suggestions.items()):
            if lr is not None:
                column.button(f"Use {name}: {lr:.2g}", key=f"train_lrf_use_{name.split()[0]}", on_click=use_lr,
                              args=(lr,), disabled=bool(st.session_state.get("train_locked")),
                              help="Puts this rate into the Learning rate box above.")
