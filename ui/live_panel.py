"""The live view of one run: queue place, progress, controls, curves.

It never trains and never talks to a worker: it reads the run folder (``live.json``, written by the
worker a few times a second) and writes ``control.json`` for pause / step / stop. The curves figure
is built once per new data point and shared by every session that watches the run.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import streamlit as st

from ui import identity
from ui.text import plain
from vision_core.classroom import jobs
from vision_core.figures import training as figures
from vision_core.figures.frozen import frozen
from vision_core.runs import store as runs
from vision_core.runs.live_files import RemoteControl, read_live  # not training.live: no Lightning import

REFRESH_SECONDS = 1.0  # curves reach the browser within about a second
# Someone else's paused run: nothing moves until its owner resumes or steps. A class watching the teacher's
# paused run then costs the server a fifth of what it would (each refresh is a script run per viewer).
PAUSED_REFRESH_SECONDS = 5.0
LIVE_STATUSES = runs.ACTIVE_STATUSES + ("testing",)

_figures: OrderedDict = OrderedDict()  # (run id, live version) → figure, shared by every viewer
_figures_lock = threading.Lock()


def shared_curves(run_id: str, snap: dict):
    """The curves of ``snap``, built once per (run, version) for all the sessions watching it."""
    key = (run_id, snap.get("version"), snap.get("status"), len(snap.get("epochs") or []))
    with _figures_lock:
        figure = _figures.get(key)
        if figure is not None:
            _figures.move_to_end(key)
            return figure
    figure = frozen(figures.training_curves(snap))  # each viewer's draw then skips Plotly's to_dict
    with _figures_lock:
        _figures[key] = figure
        while len(_figures) > 64:
            _figures.popitem(last=False)
    return figure


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    minutes, seconds = divmod(round(value), 60)
    if minutes >= 60:
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h {minutes:02d} min"
    return f"{minutes}:{seconds:02d}" if minutes else f"{value:.1f} s"


def _controls(control: RemoteControl, status: str, run: runs.RunRecord, snap: dict) -> None:
    c = st.columns(4)
    paused = control.paused
    if paused:
        if c[0].button("▶ Resume", key="train_resume", use_container_width=True):
            control.resume()
    elif c[0].button("⏸ Pause", key="train_pause", use_container_width=True, disabled=status == "queued"):
        control.pause()
    if c[1].button("⏭ Step one batch", key="train_step", use_container_width=True,
                   help="Runs one batch, then pauses: watch a single update of the weights."):
        control.step(1)
    if c[2].button("⏹ Stop", key="train_stop", use_container_width=True,
                   help="Stops after the current batch and keeps a checkpoint."):
        control.stop()
    if status in ("running", "paused"):
        _learning_rate(control, c[3], run, snap)


def _learning_rate(control: RemoteControl, column, run: runs.RunRecord, snap: dict) -> None:
    """Change the learning rate while it trains, and see the curve react (recorded in metrics.csv)."""
    if run.config.scheduler != "none":
        column.caption(f"Learning rate follows the {run.config.scheduler} schedule.")
        return
    with column.popover("Learning rate…", use_container_width=True):
        current = control.requested_lr or snap.get("lr") or run.config.lr  # what was last asked for
        value = st.number_input("New learning rate", min_value=1e-6, max_value=10.0, value=float(current),
                                format="%g", key="train_live_lr")
        if st.button("Apply from the next batch", key="train_live_lr_apply"):
            control.set_lr(value)
            st.toast(f"Learning rate set to {value:g}")


def _metrics_row(snap: dict) -> None:
    memory = snap.get("gpu_memory_mb")
    c = st.columns(6 if memory else 5)
    c[0].metric(f"Epoch (of {snap.get('total_epochs', 0)})", f"{snap.get('epoch', 0)}")
    total = snap.get("total_steps") or 0
    c[1].metric(f"Step (of {total:,})" if total else "Step", f"{snap.get('step', 0):,}")
    c[2].metric("Samples/s", f"{snap.get('samples_per_sec', 0):,.0f}")
    seconds = snap.get("epoch_seconds") or []
    c[3].metric("Time / epoch", _seconds(seconds[-1]) if seconds else "–")
    c[4].metric("ETA", _seconds(snap.get("eta")))
    if memory:
        c[5].metric("GPU memory (peak)", f"{memory:,.0f} MB")


def continue_button(run: runs.RunRecord, key: str) -> None:
    """"Continue training" for a stopped run its viewer may manage: back in the queue, from its last checkpoint."""
    if run.state not in jobs.CONTINUABLE or not identity.may_manage(run.owner) or run.checkpoint("last") is None:
        return
    if st.button("▶ Continue training", key=key, help="Trains on from the last checkpoint: same run, the epochs "
                 "and curves go on (it takes a place in the queue)."):
        try:
            jobs.manager().continue_run(run.run_id, identity.current_person(), teacher=identity.is_teacher())
        except jobs.QueueError as exc:
            st.error(plain(str(exc)))
        else:
            st.toast("Back in the queue: it continues from its last checkpoint.")
            st.rerun()


def _finished(run: runs.RunRecord, status: str, message: str) -> None:
    message = str(message or "")
    if status == "failed":
        st.error("**The run stopped.**")
        st.text(message)  # from a run folder: plain text, never markdown
    elif status == "interrupted":
        st.warning("**Interrupted.**")
        st.text(message)
    elif status == "stopped" and run.status.get("pause_limit") is True:
        st.warning("**Stopped: it stayed paused longer than the class allows.**")
        st.text(message)
    elif status == "stopped":
        st.warning("**Stopped by you.**" + (f" {plain(message)}" if message else ""))
    elif run.diverged:
        st.error("**Diverged: the run did not learn.**")
        st.text(message)
    continue_button(run, "train_continue")
    summary = run.summary or {}
    if isinstance(summary.get("test_acc"), (int, float)):
        c = st.columns(4)
        c[0].metric("Test accuracy", f"{summary['test_acc']:.2%}")
        loss = summary.get("test_loss")
        c[1].metric("Test loss", f"{loss:.4f}" if isinstance(loss, (int, float)) else "–")
        seconds = summary.get("train_seconds")
        c[2].metric("Training time", _seconds(seconds if isinstance(seconds, (int, float)) else None))
        c[3].metric("Device", str(summary.get("device", "?")))
    if run.checkpoint("last"):
        c = st.columns(3)
        c[0].page_link("pages/evaluate.py", label="Evaluate this run", icon="✅", query_params={"run": run.run_id})
        c[1].page_link("pages/inside.py", label="Look inside", icon="🔬", query_params={"run": run.run_id})
        c[2].page_link("pages/predict.py", label="Predict your own image", icon="🔮",
                       query_params={"run": run.run_id})


def _queued(run: runs.RunRecord) -> None:
    view = jobs.manager().view
    entry = view.get(run.run_id)
    training = [e for e in view.entries if e.status in jobs.RUNNING]
    if entry is None or entry.position is None:
        st.info("Queued: waiting for the scheduler to pick it up…")
        return
    wait = f", estimated wait {_seconds(entry.wait_s)}" if entry.wait_s else ""
    st.info(f"Waiting for a free slot: **#{entry.position} in the queue**{wait} "
            f"({len(training)} run(s) training now on this server).")


def _advice(snap: dict, run: runs.RunRecord) -> None:
    """A run that does not learn says so, with the likely cause (as a diverged run does)."""
    from vision_core.training.diagnosis import training_advice

    classes = len((run.data_info or {}).get("classes") or []) or 10
    advice = training_advice(snap.get("epochs") or [], snap.get("steps") or [], classes,
                             snap.get("lr") or run.config.lr, run.config.optimizer, run.config.momentum)
    if advice:
        st.warning(advice)


def _lr_in_force(run: runs.RunRecord, snap: dict) -> str:
    """The learning rate the run uses now (live.json: by hand or by the schedule), and one asked for while paused
    that applies from the next batch."""
    lr = snap.get("lr")
    now = float(lr) if isinstance(lr, (int, float)) and not isinstance(lr, bool) else run.config.lr
    text = f"{now:g}"
    if run.state in ("running", "paused"):
        asked = RemoteControl(run.path).requested_lr
        if asked is not None and asked != now:
            text += f" ({asked:g} from the next batch)"
    return text


def _status(run: runs.RunRecord, snap: dict) -> str:
    """The run folder's status, made finer by the live file while it trains (paused, testing)."""
    status = run.state
    if status in ("running", "paused") and snap.get("status") in ("running", "paused", "testing"):
        status = snap["status"]
    return status


def _refresh_every(status: str, mine: bool) -> float | None:
    """How often the panel looks again: every second while it moves, never once the run has ended."""
    if status not in LIVE_STATUSES:
        return None
    return PAUSED_REFRESH_SECONDS if status == "paused" and not mine else REFRESH_SECONDS


def live_panel(run_id: str) -> None:
    """Draw run ``run_id``; refreshes itself every second while the run is queued or training."""
    try:
        first = runs.load_run(run_id)
    except (runs.RunError, ValueError):
        st.warning("There is no run with this id (it may have been deleted).")
        return
    every = _refresh_every(_status(first, read_live(first.path) or {}), identity.may_manage(first.owner))

    @st.fragment(run_every=every)
    def body() -> None:
        try:
            run = runs.load_run(run_id)
        except (runs.RunError, ValueError):
            st.warning("This run was deleted.")
            return
        config = run.config
        snap = read_live(run.path)
        if snap is None:
            snap = runs.metrics_history(run)
            snap.update(epoch=len(snap["epochs"]), total_epochs=config.epochs)
        status = _status(run, snap)
        message = run.status.get("message", "")
        title = f"{config.model} on {config.dataset}"
        st.subheader(plain(f"{run.name} · {title}" if run.name else title))
        st.caption(f"Run `{run.run_id}` · {config.optimizer} lr {_lr_in_force(run, snap)} · batch "
                   f"{config.batch_size} · seed {config.seed} · status **{status}**")
        mine = identity.may_manage(run.owner)
        if status in LIVE_STATUSES:
            if status == "queued":
                _queued(run)
            elif status == "starting":
                st.info(plain(message) if message else "Starting a training process…")  # which step it is at
            elif status == "paused":  # say only what this viewer can do
                st.info("Paused. Resume, or step one batch at a time." if mine else
                        "Paused by its owner: the curves go on when they resume it.")
            if mine:
                _controls(RemoteControl(run.path), status, run, snap)
            else:
                st.caption("Someone else's run: you can watch it, not change it.")
            if status not in ("queued", "starting"):
                st.progress(min(max(float(snap.get("progress") or 0), 0.0), 1.0),
                            text=f"{float(snap.get('progress') or 0):.0%}")
                _metrics_row(snap)
        if status not in ("queued", "starting"):
            _advice(snap, run)
            st.plotly_chart(shared_curves(run.run_id, snap), key="train_live_chart")
        if status not in LIVE_STATUSES:
            _finished(run, status, message)
        if _refresh_every(status, mine) != every:
            # Ended, paused or resumed: redraw the whole page once, so the panel refreshes at the new pace
            # (or stops refreshing in its final state).
            st.rerun()

    body()
