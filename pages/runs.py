"""Runs: every run on disk as a comparison table, overlaid curves (smoothing, log scale, step / epoch / time),
CSV export; name, download or delete your own runs; any finished run as code (a notebook and a script).
Learning-rate range tests (queued jobs too, but no trained model) and damaged folders are listed apart.

Everything read from a run folder is shown as plain text (st.text, table cells, escaped Markdown): a name
or a message can never become a link or an image. Delete and rename act on the run id their button was
drawn for (bound in the button's callback), never on a table position that may have moved meanwhile.
"""

import hashlib
import os
from datetime import datetime

import pandas as pd
import streamlit as st

from ui import identity
from ui.frame import ensure_app_frame
from ui.live_panel import continue_button
from ui.names import display as display_name
from ui.shared_figures import shared_figures
from ui.text import plain
from vision_core.code_export import ready as code_export
from vision_core.figures import runs as cf
from vision_core.runs import store as runs

ensure_app_frame()  # a cold server's first request goes through app.py

st.title("📊 Runs")

flash = st.session_state.pop("runs_flash", None)  # what the last delete / rename did
if flash:
    (st.success if flash[0] == "ok" else st.error)(plain(flash[1]))

records, damaged = runs.scan()
range_tests = [r for r in records if r.kind == runs.LR_RANGE_TEST]  # listed apart: they trained no model
records = [r for r in records if r.kind == runs.TRAIN]
me = identity.current_person()


def owner_of(run_id: str) -> str | None:
    """Who owns a run folder, damaged or not (read again at click time, not taken from the page).
    A link in the runs folder has no owner: the teacher's to remove."""
    try:
        return runs.read_owner(runs.run_dir(run_id))
    except runs.RunError:
        return None


def delete(run_id: str) -> None:
    """Button callback: delete exactly ``run_id``, if this person may."""
    try:
        if not os.path.lexists(runs.runs_root() / runs.validate_run_id(run_id)):
            raise runs.RunError(f"Run {run_id} is already gone.")
        if not identity.may_manage(owner_of(run_id)):
            raise runs.RunError(f"Run {run_id} is not yours: only its owner or the teacher can delete it.")
        runs.delete_run(run_id)
    except runs.RunError as exc:
        st.session_state["runs_flash"] = ("error", str(exc))
    else:
        st.session_state["runs_flash"] = ("ok", f"Deleted {run_id}.")


def rename(run_id: str) -> None:
    """Button callback: give ``run_id`` the name typed in its box."""
    name = st.session_state.get(f"runs_name_{run_id}", "")
    try:
        if not runs.run_dir(run_id).is_dir():
            raise runs.RunError(f"Run {run_id} is gone.")
        if not identity.may_manage(owner_of(run_id)):
            raise runs.RunError(f"Run {run_id} is not yours: only its owner or the teacher can rename it.")
        runs.rename_run(run_id, name)
    except runs.RunError as exc:
        st.session_state["runs_flash"] = ("error", str(exc))
    else:
        st.session_state["runs_flash"] = ("ok", f"Renamed {run_id}.")


def code_zip(run: runs.RunRecord, with_checkpoint: bool) -> bytes:
    """The run as a notebook, a script and (for its owner) its checkpoint, zipped; built when clicked."""
    from vision_core.code_export import files  # torch and nbformat load on the click, not with the page

    return files.zip_bytes(run, with_checkpoint=with_checkpoint)


def who(owner: str | None) -> str:
    """'you', 'command line', or the owner's name as the class sees it (their chosen name or animal name)."""
    if owner is None:
        return "command line"
    return "you" if owner == me else display_name(owner)


def by_whom(owner: str | None) -> str:
    return {"you": "by you", "command line": "from the command line"}.get(who(owner), f"by {who(owner)}")


now = datetime.now()  # the server's clock, as the run ids' times (the viewer's time zone is not known here)


def file_stamp(path) -> tuple[int, int] | None:
    """(mtime, size) of a file, None when it is not there: enough to know it changed."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


@shared_figures(max_entries=32)
def curves_figure(shown_key: tuple, metric: str, x_axis: str, smoothing: float, log_y: bool, _curves):
    """The overlay of ``_curves`` (named by ``shown_key``), built once for every viewer of the same runs."""
    return cf.compare_curves(_curves, metric, x_axis, smoothing, log_y)


def row(run: runs.RunRecord) -> dict:
    s, c = run.summary or {}, run.config
    return {
        "name": run.label,  # its owner's name for it, else model · dataset · start time
        "id": run.short_id,
        "started": cf.started_text(run.started, now),
        "model": c.model,
        "dataset": c.dataset,
        "optimizer": c.optimizer,
        "learning rate": c.lr,
        "batch": c.batch_size,
        "epochs": f"{s['epochs_completed']}/{c.epochs}" if isinstance(s.get("epochs_completed"), int)
        else str(c.epochs),
        "augment": ", ".join(sorted(k for k, v in c.augment.items() if v)),
        "status": f"{run.state} (diverged)" if run.diverged else run.state,
        "test acc": s.get("test_acc"),
        "best val acc": s.get("best_val_acc"),
        "test loss": s.get("test_loss"),
        "train time (s)": s.get("train_seconds"),
        "parameters": s.get("parameters"),
        "samples/s": s.get("samples_per_sec"),
        "device": s.get("device") or run.status.get("device") or "",
        "started by": who(run.owner),
        "run id": run.run_id,
    }


if not records and not damaged and not range_tests:
    st.info("No runs yet: train one on the Train page.")
    st.page_link("pages/train.py", label="Go to Train", icon="🏋️")
    st.stop()

selected: list[str] = []
if records:
    ids = tuple(r.run_id for r in records)
    by_id = {r.run_id: r for r in records}
    # The table's key follows the list of runs: when a run appears or goes, the selection is rebuilt from
    # the run ids selected before, so a row number never silently means another run.
    table_key = "runs_table_" + hashlib.sha1("|".join(ids).encode()).hexdigest()[:12]
    before = [i for i in st.session_state.get("runs_selected", []) if i in by_id]
    st.caption("Tick rows to compare their curves. Each run is named by its owner, or by model · dataset · "
               "start time until then; **id** is the end of its run id (the whole id is in the last column). "
               "Times are the server's clock.")
    selection = st.dataframe(
        pd.DataFrame([row(r) for r in records]), hide_index=True, on_select="rerun", selection_mode="multi-row",
        key=table_key, placeholder="–", selection_default={"selection": {"rows": [ids.index(i) for i in before]}},
        column_config={
            "name": st.column_config.TextColumn(pinned=True),
            "id": st.column_config.TextColumn(pinned=True, help="The end of the run id: the whole id is in the "
                                                                "last column"),
            "started": st.column_config.TextColumn(help="When the run was created, by the server's clock"),
            "learning rate": st.column_config.NumberColumn(format="%g"),
            "test acc": st.column_config.NumberColumn(format="percent"),
            "best val acc": st.column_config.NumberColumn(format="percent"),
            "test loss": st.column_config.NumberColumn(format="%.4f"),
            "train time (s)": st.column_config.NumberColumn(format="%.1f"),
            "parameters": st.column_config.NumberColumn(format="localized"),
            "samples/s": st.column_config.NumberColumn(format="%.0f"),
        },
    )
    selected = [ids[i] for i in selection.selection.rows if 0 <= i < len(ids)]
    st.session_state["runs_selected"] = selected
    chosen = [by_id[i] for i in selected] or list(records[:5])
    if not selected:
        st.caption(f"Showing the {len(chosen)} newest run(s); tick rows above to choose.")

    # --- curves -------------------------------------------------------------------------------------
    st.subheader("Compare curves")
    labels = cf.run_labels({r.run_id: r.config.to_dict() for r in chosen}, {r.run_id: r.name for r in chosen})
    # What the curves are made of: the runs, their labels and their metrics.csv as it is now (the figure below is
    # cached by this, built once for every viewer of the same runs and settings).
    shown_key = tuple((r.run_id, labels[r.run_id], file_stamp(r.path / "metrics.csv"),
                       (r.summary or {}).get("train_seconds")) for r in chosen)
    curves = [cf.RunCurves(r.run_id, labels[r.run_id], runs.read_metrics(r), (r.summary or {}).get("train_seconds"))
              for r in chosen]
    metrics = cf.plot_metrics(curves) or ["val_acc"]
    c = st.columns(2)
    metric = c[0].selectbox("Metric", metrics, format_func=cf.metric_label, key="runs_metric")
    x_axis = c[1].radio("x-axis", list(cf.X_AXES), horizontal=True, key="runs_x",
                        help="time: a run's training time spread over its steps at its average pace")
    c = st.columns([3, 1], vertical_alignment="center")
    smoothing = c[0].slider("Smoothing", 0.0, 0.99, 0.6, 0.01, key="runs_smoothing",
                            help="exponential moving average, as in TensorBoard (0 = raw values)")
    log_y = c[1].toggle("Log scale", key="runs_log")
    fig = curves_figure(shown_key, metric or metrics[0], x_axis, smoothing, log_y, curves)
    st.plotly_chart(fig, key="runs_overlay")
    missing = (fig.to_dict()["layout"].get("meta") or {}).get("missing", [])
    if missing:
        st.text(f"Not drawn (no {cf.metric_label(metric)} on this axis yet): {', '.join(missing)}")
    st.download_button("Download these curves (CSV)", lambda: cf.metrics_csv(curves), file_name="runs-metrics.csv",
                       mime="text/csv", key="runs_csv", icon="⬇️")

    # --- one run ------------------------------------------------------------------------------------
    st.subheader("One run")
    options = selected or list(ids)
    run_id = st.selectbox("Run", options, key="runs_manage",
                          format_func=lambda i: f"{by_id[i].label} · {by_id[i].short_id} ({by_id[i].state})")
    run = by_id[run_id]
    # The name is in the box above: this line says the rest once (the id, what it trained, when and by whom).
    st.text(f"Run {run.run_id}: {run.config.model} on {run.config.dataset}, started "
            f"{cf.started_text(run.started, now)} {by_whom(run.owner)}, {run.state}")
    if run.status.get("message"):
        st.text(run.status["message"])
    if run.problems:
        st.text("Unreadable values in this run's folder were ignored: " + "; ".join(run.problems))
    c = st.columns(4)
    c[0].page_link("pages/train.py", label="Open live view", icon="📈", query_params={"run": run.run_id})
    c[1].page_link("pages/evaluate.py", label="Evaluate", icon="✅", query_params={"run": run.run_id})
    if identity.may_manage(run.owner):
        checkpoint = run.checkpoint("best")
        if checkpoint is not None:
            c[2].download_button("Download checkpoint", lambda path=checkpoint: path.read_bytes(),
                                 file_name=f"{run.run_id}.ckpt", mime="application/octet-stream",
                                 key="runs_download")
        else:
            c[2].caption("No checkpoint yet.")
        with c[3].popover("Delete run"):
            st.text(f"Delete {run.label} ({run.run_id}) and its checkpoints from disk?")
            st.button("Delete for good", type="primary", key=f"runs_delete_{run.run_id}", on_click=delete,
                      args=(run.run_id,))
        c = st.columns([3, 1], vertical_alignment="bottom")
        c[0].text_input("Name", value=run.name, max_chars=runs.MAX_NAME_CHARS, key=f"runs_name_{run.run_id}",
                        placeholder="e.g. Adam, lr 0.01, with flips")
        c[1].button("Rename", key=f"runs_rename_{run.run_id}", on_click=rename, args=(run.run_id,))
        continue_button(run, f"runs_continue_{run.run_id}")
    else:
        st.caption("Someone else's run: you can compare, evaluate and export it as code; only its owner or the "
                   "teacher can rename, download the checkpoint of or delete it.")
    # Anyone may take a finished run home as code: its recipe is in the table already. The checkpoint goes into
    # the zip only for whoever may download it. The zip is built on click (a callable), not on every rerun.
    if code_export.why_not_exportable(run) is None:
        with_checkpoint = identity.may_manage(run.owner)
        st.download_button(
            "Download as code (notebook + script" + (" + checkpoint)" if with_checkpoint else ")"),
            lambda r=run, ckpt=with_checkpoint: code_zip(r, ckpt),
            file_name=f"{run.run_id}.zip", mime="application/zip", key="runs_code", icon="🧑‍💻",
            help="A Jupyter notebook and a Python script that reproduce this run in plain PyTorch: the same data, "
                 "the network as an nn.Module, the training loop, the evaluation, and the run's checkpoint checked "
                 "against its test accuracy.")

# --- learning-rate range tests ------------------------------------------------------------------------------
if range_tests:
    st.subheader(f"Learning-rate range tests ({len(range_tests)})")
    st.caption("Started from the Train page's \"Find a learning rate\"; one test per set-up is shared by the class.")
    for test in range_tests:
        c = st.columns([4, 1], vertical_alignment="center")
        c[0].text(f"{test.run_id}: {test.config.model} on {test.config.dataset}, batch {test.config.batch_size}, "
                  f"{test.job.get('num_batches')} batches, {test.state} {by_whom(test.owner)}")
        if identity.may_manage(test.owner) and test.state not in runs.ACTIVE_STATUSES:
            with c[1].popover("Delete"):
                st.text(f"Delete the range test {test.run_id}?")
                st.button("Delete for good", type="primary", key=f"runs_delete_{test.run_id}", on_click=delete,
                          args=(test.run_id,))
        else:
            c[1].caption("running" if test.state in runs.ACTIVE_STATUSES else "not yours")

# --- damaged folders ----------------------------------------------------------------------------------
if damaged:
    st.subheader(f"Damaged run folders ({len(damaged)})")
    st.caption("These folders cannot be read as runs; every other page skips them.")
    for bad in damaged:
        c = st.columns([4, 1], vertical_alignment="center")
        c[0].text(f"{bad.run_id}: {bad.reason}")
        if identity.may_manage(bad.owner):
            with c[1].popover("Delete"):
                st.text(f"Delete the folder {bad.run_id}?")
                st.button("Delete for good", type="primary", key=f"runs_delete_{bad.run_id}", on_click=delete,
                          args=(bad.run_id,))
        else:
            c[1].caption("not yours")
