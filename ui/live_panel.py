"""The live view of one run: progress, controls, curves. Reads the job's state, never trains itself."""

from __future__ import annotations

import streamlit as st

from vision_core import figures, jobs, runs

REFRESH_SECONDS = 1.0  # curves reach the browser within about a second


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes}:{seconds:02d}" if minutes else f"{value:.1f} s"


def _controls(job: jobs.Job, status: str) -> None:
    c = st.columns(4)
    paused = job.control.paused
    if paused:
        if c[0].button("▶ Resume", key="train_resume", use_container_width=True):
            job.control.resume()
    elif c[0].button("⏸ Pause", key="train_pause", use_container_width=True, disabled=status == "queued"):
        job.control.pause()
    if c[1].button("⏭ Step one batch", key="train_step", use_container_width=True,
                   help="Runs one batch, then pauses: watch a single update of the weights."):
        job.control.step(1)
    if c[2].button("⏹ Stop", key="train_stop", use_container_width=True,
                   help="Stops after the current batch and keeps a checkpoint."):
        job.control.stop()


def _metrics_row(snap: dict) -> None:
    memory = snap.get("gpu_memory_mb")
    c = st.columns(6 if memory else 5)
    c[0].metric(f"Epoch (of {snap.get('total_epochs', 0)})", f"{snap.get('epoch', 0)}")
    c[1].metric(f"Step (of {snap.get('total_steps', 0):,})", f"{snap.get('step', 0):,}")
    c[2].metric("Samples/s", f"{snap.get('samples_per_sec', 0):,.0f}")
    seconds = snap.get("epoch_seconds") or []
    c[3].metric("Time / epoch", _seconds(seconds[-1]) if seconds else "–")
    c[4].metric("ETA", _seconds(snap.get("eta")))
    if memory:
        c[5].metric("GPU memory (peak)", f"{memory:,.0f} MB")


def _finished(run: runs.RunRecord, status: str, message: str) -> None:
    if status == "failed":
        st.error(f"**The run stopped.** {message}")
    elif status == "interrupted":
        st.warning(f"**Interrupted.** {message}")
    elif status == "stopped":
        st.warning(f"**Stopped by you.** {message}")
    summary = run.summary or {}
    if summary.get("test_acc") is not None:
        c = st.columns(4)
        c[0].metric("Test accuracy", f"{summary['test_acc']:.2%}")
        c[1].metric("Test loss", f"{summary['test_loss']:.4f}")
        c[2].metric("Training time", _seconds(summary.get("train_seconds")))
        c[3].metric("Device", summary.get("device", "?"))
    if run.checkpoint("last"):
        c = st.columns(3)
        c[0].page_link("pages/evaluate.py", label="Evaluate this run", icon="✅", query_params={"run": run.run_id})
        c[1].page_link("pages/inside.py", label="Look inside", icon="🔬", query_params={"run": run.run_id})
        c[2].page_link("pages/predict.py", label="Predict your own image", icon="🔮",
                       query_params={"run": run.run_id})


LIVE_STATUSES = runs.ACTIVE_STATUSES + ("testing",)


def _is_active(run_id: str) -> bool:
    """Live in this process, or written by another process (the CLI) that is still running."""
    job = jobs.manager().get(run_id)
    if job is not None:
        return not job.done
    try:
        return runs.load_run(run_id).state in runs.ACTIVE_STATUSES
    except runs.RunError:
        return False


def live_panel(run_id: str) -> None:
    """Draw run ``run_id``; refreshes itself every second while the job is active."""
    active = _is_active(run_id)

    @st.fragment(run_every=REFRESH_SECONDS if active else None)
    def body() -> None:
        job = jobs.manager().get(run_id)
        try:
            run = runs.load_run(run_id)
        except runs.RunError as exc:
            st.warning(f"{exc}")
            return
        config = run.config
        if job is not None:
            snap = job.state.snapshot()
            status, message = snap["status"], snap["message"]
        else:
            snap = runs.metrics_history(run)
            status, message = run.state, run.status.get("message", "")
            snap.update(epoch=len(snap["epochs"]), total_epochs=config.epochs)
        st.subheader(f"{config.model} on {config.dataset}")
        st.caption(f"Run `{run_id}` · {config.optimizer} lr {config.lr:g} · batch {config.batch_size} · "
                   f"seed {config.seed} · status **{status}**")
        if job is not None and not job.done:
            if status == "queued":
                position = jobs.manager().queue_position(run_id)
                busy = len([j for j in jobs.manager().active_jobs() if j.state.status != "queued"])
                st.info(f"Waiting for a free slot: **#{position or '?'} in the queue** "
                        f"({busy} run(s) training now on this server).")
            elif status == "paused":
                st.info("Paused. Resume, or step one batch at a time.")
            st.progress(snap["progress"], text=f"{snap['progress']:.0%}")
            _controls(job, status)
            _metrics_row(snap)
        st.plotly_chart(figures.training_curves(snap), key="train_live_chart")
        if job is None or job.done:
            if job is not None:
                run = runs.load_run(run_id)  # the summary written at the end
            _finished(run, status, message)
        if active and status not in LIVE_STATUSES:
            st.rerun()  # stop refreshing: redraw the whole page once in its final state

    body()
