"""The Train page's learning-rate range test: queue it on the form's set-up, see loss against lr, use a suggestion.

The test is a queued job like a run (issue 22): "Run the range test" submits it (``Scheduler.submit_range_test``:
the same gate, per-person cap, turns and slots, owned by this person) and returns at once; a worker process runs it.
This process never trains: while the test waits or runs, a small fragment reads the queue's last look (no file while
it is queued or running) and redraws the whole page once when it ends; then the curve and the "Use …" buttons are
drawn from the test's result file (vision_core/runs/range_tests.py). The test is a pure function of the set-up, so a
class asking for one set-up shares one test, and a refreshed page finds this person's latest test of it again.
"""

from __future__ import annotations

import streamlit as st

from ui import identity
from ui.train_form import md_text
from vision_core.classroom import jobs
from vision_core.config import RunConfig
from vision_core.figures import lr_finder as figures
from vision_core.runs import range_tests
from vision_core.runs import store as runs
from vision_core.runs.live_files import RemoteControl
from vision_core.training import lr_finder

SHOWN = "train_lrf_job"  # {"run_id", "shared"}: the test this session shows
LOOKED = "train_lrf_looked"  # the (set-up, batches) already looked up on disk in this session
REFRESH_SECONDS = 1.0


def use_lr(value: float) -> None:
    """Button callback (before the form is drawn again): put the rate into the form's learning-rate box."""
    st.session_state["train_lr"] = float(f"{value:.2g}")


def _request(config: RunConfig, batches: int) -> None:
    """Queue a test of this set-up, or share the one the class already has."""
    from vision_core.training.engine import TrainingError  # Lightning: loaded on the click, not with the page

    try:
        run, shared = jobs.manager().submit_range_test(config, batches, identity.current_person(),
                                                        teacher=identity.is_teacher())
    except (ValueError, TrainingError) as exc:  # QueueError, GuardError, no GPU: one sentence
        st.session_state.pop(SHOWN, None)
        st.error(f"The range test cannot run on this set-up: {md_text(exc)}")
        return
    st.session_state[SHOWN] = {"run_id": run.run_id, "shared": shared}


def _find_again(config: RunConfig, batches: int) -> None:
    """After a refresh (a new session): this person's latest test of the set-up, looked up once per set-up."""
    key = (range_tests.tested_setup(config).to_json(), batches)
    if SHOWN in st.session_state or st.session_state.get(LOOKED) == key:
        return
    st.session_state[LOOKED] = key
    run = range_tests.latest(config, batches, identity.current_person())
    if run is not None:
        st.session_state[SHOWN] = {"run_id": run.run_id, "shared": False}


@st.fragment(run_every=REFRESH_SECONDS)
def _waiting(run_id: str, owner: str | None) -> None:
    """Queued or running: place in the queue, or progress; the whole page redraws once when the test ends."""
    entry = jobs.manager().view.get(run_id)
    if entry is None:  # the queue's last look is older than the submission, or the test ended
        try:
            state = runs.load_run(run_id).state
        except runs.RunError:
            state = "deleted"
        if state not in runs.ACTIVE_STATUSES:
            st.rerun(scope="app")
        st.info("Queued: waiting for the scheduler to pick it up…")
    elif entry.status == "queued":
        wait = f", about {entry.wait_s:.0f} s to wait" if entry.wait_s else ""
        st.info(f"Queued: **#{entry.position or '?'} in the class queue**{wait}. It starts when a slot is free; "
                "you can go on setting up meanwhile.")
    else:
        progress = min(max(float(entry.progress or 0.0), 0.0), 1.0)
        st.progress(progress, text=f"Raising the learning rate batch by batch in a worker… {progress:.0%}")
    if identity.may_manage(owner) and st.button("Cancel the range test", key="train_lrf_cancel"):
        RemoteControl(runs.run_dir(run_id)).stop()
        st.toast("Cancelling: it stops before its next batch.")


def _result(run: runs.RunRecord, shared: bool, config: RunConfig, batches: int) -> None:
    try:
        result = range_tests.read_result(run)
    except runs.RunError as exc:
        st.error(md_text(exc))
        return
    if shared or run.owner != identity.current_person():
        st.caption("This set-up was tested already (by you or a classmate): its result is shown instead of running "
                   "the same test again. The test depends only on the set-up and its seed.")
    if not range_tests.same_setup(run, config, batches):
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


def _show(config: RunConfig, batches: int) -> None:
    shown = st.session_state[SHOWN]
    try:
        run = runs.load_run(shown["run_id"])
    except runs.RunError:
        st.session_state.pop(SHOWN)
        st.info("That range test was deleted; run it again.")
        return
    if run.state in runs.ACTIVE_STATUSES:
        _waiting(run.run_id, run.owner)
    elif run.state == "finished":
        _result(run, shown["shared"], config, batches)
    elif run.state == "stopped":
        st.info("The range test was cancelled. Run it again when you like.")
    else:  # failed (over a limit, a shape that does not fit, missing data) or interrupted: one sentence
        st.error(f"The range test cannot run on this set-up: {md_text(run.status.get('message') or run.state)}")


def lr_finder_section(config: RunConfig | None) -> None:
    batches = int(st.session_state.get("train_lrf_batches", lr_finder.DEFAULT_BATCHES))
    if config is not None:
        _find_again(config, batches)
    with st.expander("🔎 Find a learning rate (LR range test)", expanded=SHOWN in st.session_state):
        st.caption("A short run on this set-up that raises the learning rate from 1e-7 to 1 over a few hundred "
                   "batches and records the loss. Too small a rate and the loss barely moves; too large and it "
                   "shoots up. Good rates lie where the loss falls fastest: the **steepest** point, or a tenth of "
                   "the rate at the **lowest** loss (fastai's rule). It waits in the class queue like a run.")
        if config is None:
            st.info("Finish the set-up above first: the test trains the model and data you choose there.")
            return
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        batches = left.slider("Batches", 20, lr_finder.MAX_BATCHES, lr_finder.DEFAULT_BATCHES, step=10,
                              key="train_lrf_batches")
        if right.button("Run the range test", key="train_lrf_run", width="stretch"):
            _request(config, int(batches))
        if SHOWN in st.session_state:
            _show(config, int(batches))
