"""Runs: every run on disk as a comparison table; overlay curves, delete, download."""

import pandas as pd
import streamlit as st

from vision_core import figures, runs

st.title("📊 Runs")

records = runs.list_runs()
if not records:
    st.info("No runs yet: train one on the Train page.")
    st.page_link("pages/train.py", label="Go to Train", icon="🏋️")
    st.stop()


def row(run: runs.RunRecord) -> dict:
    s = run.summary or {}
    return {
        "run": run.run_id,
        "status": run.state,
        "dataset": run.config.dataset,
        "model": run.config.model,
        "parameters": s.get("parameters"),
        "best val acc": s.get("best_val_acc"),
        "test acc": s.get("test_acc"),
        "test loss": s.get("test_loss"),
        "train time (s)": s.get("train_seconds"),
        "samples/s": s.get("samples_per_sec"),
        "device": s.get("device") or run.status.get("device"),
        "optimizer": f"{run.config.optimizer} {run.config.lr:g}",
        "epochs": f"{s.get('epochs_completed', '–')}/{run.config.epochs}",
    }


table = pd.DataFrame([row(r) for r in records])
st.caption("Select rows to compare their curves. Like the tutorial's model-comparison table: "
           "model, loss, accuracy, training time, device.")
selection = st.dataframe(
    table, hide_index=True, on_select="rerun", selection_mode="multi-row", key="runs_table",
    column_config={
        "best val acc": st.column_config.NumberColumn(format="percent"),
        "test acc": st.column_config.NumberColumn(format="percent"),
        "test loss": st.column_config.NumberColumn(format="%.4f"),
        "train time (s)": st.column_config.NumberColumn(format="%.1f"),
        "samples/s": st.column_config.NumberColumn(format="%.0f"),
    },
)
chosen = [records[i] for i in selection.selection.rows] or records[:1]
if not selection.selection.rows:
    st.caption(f"Showing the newest run ({chosen[0].run_id}); select rows above to compare.")

metric = st.radio("Curve", ["val_acc", "val_loss", "train_loss_epoch", "train_acc"], horizontal=True,
                  key="runs_metric")
st.plotly_chart(figures.overlay_curves({f"{r.config.model} · {r.run_id[-4:]}": runs.read_metrics(r)
                                        for r in chosen}, metric), key="runs_overlay")

st.subheader("Manage a run")
run = st.selectbox("Run", chosen, format_func=lambda r: f"{r.run_id} ({r.state})", key="runs_manage")
c = st.columns(4)
c[0].page_link("pages/train.py", label="Open live view", icon="📈", query_params={"run": run.run_id})
c[1].page_link("pages/evaluate.py", label="Evaluate", icon="✅", query_params={"run": run.run_id})
checkpoint = run.checkpoint("best")
if checkpoint is not None:
    c[2].download_button("Download checkpoint", checkpoint.read_bytes(), file_name=f"{run.run_id}.ckpt",
                         mime="application/octet-stream", key="runs_download")
else:
    c[2].caption("No checkpoint yet.")
with c[3].popover("Delete run"):
    st.write(f"Delete **{run.run_id}** and its checkpoints from disk?")
    if st.button("Delete for good", type="primary", key="runs_delete"):
        try:
            runs.delete_run(run.run_id)
        except runs.RunError as exc:
            st.error(str(exc))
        else:
            st.toast(f"Deleted {run.run_id}")
            st.rerun()
