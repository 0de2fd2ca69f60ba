"""Evaluate: how good is a trained network on its test set, and where exactly is it wrong?"""

import json

import streamlit as st

from ui.frame import ensure_app_frame
from ui.kept import kept_index
from ui.run_picker import pick_run
from ui.shared_figures import shared_figures
from ui.text import plain
from vision_core.analysis import evaluation
from vision_core.data import datasets
from vision_core.figures import evaluation as eval_figures
from vision_core.runs import store as runs

ensure_app_frame()  # a cold server's first request goes through app.py

st.title("✅ Evaluate")


@st.cache_resource(max_entries=4, show_spinner="Loading the test data…")
def load_dataset(name: str, options_json: str):
    # Shared by every session: datasets are read-only tensors.
    return datasets.load(name, **json.loads(options_json))


@st.cache_data(max_entries=32, show_spinner=False)
def checkpoint_epoch(path: str, mtime: float) -> int | None:
    return runs.checkpoint_epoch(path)


@st.cache_resource(max_entries=8, show_spinner="Running the network over the test set…")
def evaluate_run(run_path: str, which: str, checkpoint_mtime: float) -> evaluation.Evaluation:
    """Keyed by the run folder and the checkpoint's mtime, so a checkpoint saved by a running job is picked up."""
    run = runs.reload(run_path)
    model = runs.load_model(run, which)
    dataset = load_dataset(run.config.dataset, json.dumps(run.config.dataset_options, sort_keys=True))
    return evaluation.evaluate(model, dataset, run.data_info)


@st.cache_data(max_entries=8, show_spinner=False)
def confusion_png(run_path: str, which: str, checkpoint_mtime: float) -> bytes:
    ev = evaluate_run(run_path, which, checkpoint_mtime)
    return evaluation.confusion_matrix_png(ev.confusion, ev.classes)


def checkpoint_choice(run: runs.RunRecord, key: str):
    """The checkpoint file to show: the latest weights while a run trains, else the one the user picks."""
    if run.state in ("running", "paused"):
        return run.checkpoint("last")
    which = st.radio("Checkpoint", ["best", "last"], horizontal=True, key=key,
                     help="best = lowest validation loss; last = the end of the latest epoch")
    return run.checkpoint(which)


def load_evaluation(run: runs.RunRecord, path) -> evaluation.Evaluation | None:
    """The run's evaluation, or None after showing the problem in one sentence."""
    try:
        return evaluate_run(str(run.path), path.stem, path.stat().st_mtime)
    except (ValueError, OSError, RuntimeError) as exc:  # RunError, DatasetNotFoundError, shape problems
        st.error(f"Cannot evaluate {run.run_id}: {plain(exc)}")
        return None


# Figures are built once per (checkpoint, what they show) for every student: building one validates every property
# (an image grid ~100 ms of server CPU), and each page view and click reruns the whole page, every tab included.
# st.plotly_chart copies a figure and never changes it, so one object serves every session.
@shared_figures(max_entries=64)
def grid_figure(run_path: str, which: str, checkpoint_mtime: float, indices: tuple[int, ...], cols: int):
    ev = evaluate_run(run_path, which, checkpoint_mtime)
    items = [evaluation.item(ev, i) for i in indices]
    return eval_figures.image_grid(
        [ev.images[p.index] for p in items], [p.title for p in items], [p.correct for p in items],
        subtitles=[" · ".join(f"{c} {v:.0%}" for c, v in p.top3) for p in items], cols=cols)


@shared_figures(max_entries=64)
def confusion_figure(run_path: str, which: str, checkpoint_mtime: float, normalized: bool,
                     selected: tuple[str, str] | None, title: str = ""):
    ev = evaluate_run(run_path, which, checkpoint_mtime)
    return eval_figures.confusion_heatmap(ev.confusion_normalized if normalized else ev.confusion, ev.classes,
                                          normalized=normalized, selected=selected, title=title)


@shared_figures(max_entries=16)
def per_class_figure(run_path: str, which: str, checkpoint_mtime: float):
    return eval_figures.per_class_bars(evaluate_run(run_path, which, checkpoint_mtime).per_class)


def show_grid(indices: list[int], cols: int, key: str) -> None:
    st.plotly_chart(grid_figure(*shown_checkpoint, tuple(indices), cols), key=key)


def clicked_cell(k: int) -> tuple[int, int] | None:
    """The (truth, prediction) of the cell last clicked in the matrix, read from the chart's state before the chart
    is drawn (so the frame follows this very click). A click selects the cell's invisible marker (trace 1)."""
    state = st.session_state.get("eval_cm")
    try:
        points = list(state["selection"]["points"]) if state else []
    except (KeyError, TypeError):
        return None
    points = [p for p in points if p.get("curve_number") == 1 and 0 <= p.get("point_index", -1) < k * k]
    return eval_figures.cell_from_point_index(points[0]["point_index"], k) if points else None


run = pick_run("eval_run")  # stops the page with a hint when there are no runs
path = checkpoint_choice(run, "eval_checkpoint")
if path is None:
    st.info("This run has no checkpoint yet: it saves one at the end of each epoch. Come back in a moment.")
    st.stop()
epoch = checkpoint_epoch(str(path), path.stat().st_mtime)
epoch_text = f"epoch {epoch + 1}" if isinstance(epoch, int) else "an unknown epoch"
if run.state in ("running", "paused"):
    st.caption(f"⏳ Still {run.state}: showing its latest checkpoint, saved in {epoch_text}. "
               "Reload the page for a newer one.")
else:
    st.caption(f"Showing the **{path.stem}** checkpoint ({epoch_text}).")
if run.config.challenge:  # its score comes from images kept apart: they are never drawn here
    st.caption(f"This run is for the challenge **{plain(run.config.challenge)}**: its leaderboard score comes from "
               "held-out images that no run for it trains on and no page shows. Here: the usual test split.")

ev = load_evaluation(run, path)
if ev is None:
    st.stop()
shown_checkpoint = (str(run.path), path.stem, path.stat().st_mtime)  # what evaluate_run was called with

c = st.columns(4)
c[0].metric("Test accuracy", f"{ev.accuracy:.2%}")
c[1].metric("Test loss", f"{ev.loss:.4f}")
c[2].metric("Test images", f"{len(ev):,}")
c[3].metric("Mistakes", f"{int((ev.predictions != ev.labels).sum()):,}")

overview, confusion, grid, wrong, compare = st.tabs(
    ["Per class", "Confusion matrix", "Prediction grid", "Mistakes", "Compare runs"])

with overview:
    st.caption("Accuracy per class = share of that class's test images predicted right (same as recall). "
               "Precision = of the images predicted as that class, the share that really are.")
    st.plotly_chart(per_class_figure(*shown_checkpoint), key="eval_per_class_chart")
    st.dataframe(ev.per_class, hide_index=True, column_config={
        name: st.column_config.NumberColumn(format="percent") for name in ("accuracy", "precision", "recall", "f1")})

with confusion:
    mode = st.radio("Show", ["counts", "share of each true class"], horizontal=True, key="eval_cm_mode")
    normalized = mode != "counts"
    # Copy a click into the select boxes once per new click (a later choice in the boxes wins until the next one).
    clicked = clicked_cell(len(ev.classes))
    if clicked is not None and st.session_state.get("eval_cm_applied") != (run.run_id, *clicked):
        st.session_state["eval_cm_applied"] = (run.run_id, *clicked)
        st.session_state["eval_truth"], st.session_state["eval_pred"] = (ev.classes[clicked[0]],
                                                                         ev.classes[clicked[1]])
    if {st.session_state.get("eval_truth"), st.session_state.get("eval_pred")} - set(ev.classes):
        # First visit, or another run with other classes: start on its most frequent mistake.
        top = evaluation.most_confused(ev, 1)
        st.session_state["eval_truth"], st.session_state["eval_pred"] = (top[0][:2] if top
                                                                         else (ev.classes[0], ev.classes[0]))
    selected = (st.session_state["eval_truth"], st.session_state["eval_pred"])
    st.plotly_chart(confusion_figure(*shown_checkpoint, normalized, selected), on_select="rerun",
                    selection_mode="points", key="eval_cm")
    st.download_button("Download the matrix of counts as a picture (PNG)", confusion_png(
                       str(run.path), path.stem, path.stat().st_mtime), file_name=f"{run.run_id}-confusion.png",
                       mime="image/png", key="eval_cm_png")

    confused = evaluation.most_confused(ev, 3)
    if confused:
        st.caption("Most frequent mistakes: " + "; ".join(f"**{plain(t)}** taken for **{plain(p)}** ({n}×)" for t, p, n in confused))
    st.markdown("Click a cell, or choose a pair, to see its test images (the framed cell).")
    left, right = st.columns(2)
    truth = left.selectbox("True class", ev.classes, kept_index(ev.classes, "eval_truth"), key="eval_truth")
    pred = right.selectbox("Predicted as", ev.classes, kept_index(ev.classes, "eval_pred"), key="eval_pred")
    cell = evaluation.pair_indices(ev, truth, pred)
    shown = cell[:24]
    st.caption(f"{len(cell)} test image(s) of **{plain(truth)}** predicted as **{plain(pred)}**"
               + (f" (the {len(shown)} most confident shown)" if len(cell) > len(shown) else ""))
    if shown:
        show_grid(shown, cols=6, key="eval_pair_images")

with grid:
    a, b, d = st.columns([2, 2, 1])
    n = a.slider("Images", 4, 25, 9, key="eval_grid_n")
    fixed = b.toggle("Fixed seed (same images every time)", value=False, key="eval_grid_fixed")
    if d.button("🎲 Re-roll", key="eval_grid_reroll", disabled=fixed):
        st.session_state["eval_grid_roll"] = st.session_state.get("eval_grid_roll", 0) + 1
    seed = 42 if fixed else 1000 + st.session_state.get("eval_grid_roll", 0)
    items = evaluation.prediction_grid(ev, n, seed=seed)
    st.caption(f"{sum(p.correct for p in items)} of {len(items)} right. Green = right, red = wrong; "
               "under each title the three most likely classes.")
    show_grid([p.index for p in items], cols=min(5, max(3, round(n ** 0.5))), key="eval_grid_images")

with wrong:
    k = st.slider("How many", 4, 48, 12, key="eval_mistakes_k")
    items = evaluation.mistakes(ev, k)
    if items:
        st.caption("The mistakes the network was most sure about come first: often a mislabelled or "
                   "genuinely ambiguous image.")
        show_grid([p.index for p in items], cols=4, key="eval_mistakes_images")
    else:
        st.success("No mistakes on the test set.")

with compare:
    others = {r.run_id: r for r in runs.list_runs() if r.run_id != run.run_id}
    chosen_ids = st.multiselect("Compare with", list(others), key="eval_compare", max_selections=3,
                                format_func=lambda i: f"{i} — {others[i].config.model} on {others[i].config.dataset}")
    chosen = [others[i] for i in chosen_ids]
    table = evaluation.compare_runs([run, *chosen])
    st.dataframe(table, hide_index=True, column_config={
        "test accuracy": st.column_config.NumberColumn(format="percent"),
        "test loss": st.column_config.NumberColumn(format="%.4f"),
        "training time (s)": st.column_config.NumberColumn(format="%.1f"),
    })
    columns = st.columns(len(chosen) + 1)
    for column, other in zip(columns, [run, *chosen]):
        with column:
            other_path = other.checkpoint("best")
            if other_path is None:
                st.info(f"{other.run_id}: no checkpoint yet.")
                continue
            other_ev = ev if other is run else load_evaluation(other, other_path)
            if other_ev is not None:
                shown = shown_checkpoint if other is run else (str(other.path), other_path.stem,
                                                               other_path.stat().st_mtime)
                st.plotly_chart(confusion_figure(*shown, True, None, f"{other.config.model} · {other_ev.accuracy:.1%}"),
                                key=f"eval_compare_cm_{other.run_id}")
