"""Inside page: a run's weights and gradients over training, and the vanishing-gradients lesson.

Called from pages/inside.py (its own module, so the page's other sections change without touching this one).
"""

from __future__ import annotations

import streamlit as st

from ui.shared_figures import shared_figures
from vision_core.figures import histograms as figures
from vision_core.lessons import gradients
from vision_core.training import snapshots


@st.cache_resource(max_entries=1, show_spinner="Training the four lesson networks (once for the whole class)…")
def lesson_runs() -> dict[str, gradients.LessonRun]:
    """Deterministic, so one result per server serves every student."""
    return {gradients.label(a, b): gradients.train_variant(a, b) for a, b in gradients.VARIANTS}


@shared_figures(max_entries=16)
def histogram_figures(run_path: str, snapshots_mtime: float, layer: str, _snaps: list[snapshots.Snapshot]):
    """(weights heat map, gradients heat map, gradient norms) of ``layer``, built once per version of the run's
    snapshots.pt for every student (``_snaps`` is that version, read by the page)."""
    with_histograms = [s for s in _snaps if s.histograms is not None]
    steps = [s.step for s in with_histograms]
    histograms = [s.histograms for s in with_histograms]
    return (figures.weight_heatmap(steps, histograms, layer), figures.gradient_heatmap(steps, histograms, layer),
            figures.gradient_norm_lines(steps, histograms))


def weights_section(run_path: str, snapshots_mtime: float | None, snaps: list[snapshots.Snapshot],
                    snapshot_every: int) -> None:
    """A run's per-layer histograms from its snapshots (``snapshots.load_snapshots`` of that run's snapshots.pt,
    whose mtime is ``snapshots_mtime``), then the lesson."""
    with_histograms = [s for s in snaps if s.histograms is not None]
    if not with_histograms:
        st.info("This run has no weight histograms: they are recorded with the time-lapse snapshots "
                "(snapshot every N steps > 0), by runs trained since they were added.")
    else:
        steps = [s.step for s in with_histograms]
        histograms = [s.histograms for s in with_histograms]
        layers = histograms[-1].layers
        if st.session_state.get("inside_hist_layer") not in layers:
            st.session_state.pop("inside_hist_layer", None)  # another run, other layers
        st.caption(f"{len(steps)} snapshots, one every {snapshot_every} steps. Each column is one snapshot: "
                   "the colour is the share of the layer's parameters in each bin. Weights spread out as a layer "
                   "learns; gradients (log scale: −3 is a thousandth) show how strongly each step pushes them.")
        layer = st.selectbox("Layer", layers, key="inside_hist_layer")
        weights, gradients_map, norms = histogram_figures(run_path, snapshots_mtime, layer, snaps)
        left, right = st.columns(2)
        left.plotly_chart(weights, key="inside_hist_weights")
        right.plotly_chart(gradients_map, key="inside_hist_grads")
        st.plotly_chart(norms, key="inside_hist_norms")
    lesson_section()


def lesson_section() -> None:
    st.subheader("Lesson: vanishing gradients")
    st.markdown(
        f"One deep plain network ({gradients.DEPTH} hidden layers of {gradients.WIDTH} units on the 8×8 digits, "
        "the same initial weights, the same batches), trained four ways. On its way back through each **sigmoid** "
        "layer the gradient is multiplied by the sigmoid's slope, at most 0.25: after eight layers little is left "
        "for the first ones, which hardly learn. **ReLU**'s slope is 1 where it is active, so the gradient arrives "
        "whole. **BatchNorm** keeps each layer's inputs centred and scaled, which rescues even the sigmoid network.")
    if not st.toggle("Train the four networks", key="inside_lesson_on",
                     help="A few seconds, once for the whole server; then everyone sees the result."):
        return
    results = lesson_runs()
    hidden = [f"fc{i}" for i in range(1, gradients.DEPTH + 2)]
    norms = {}
    for name, run in results.items():
        first = run.histograms[0]
        norms[name] = [float(first.grad_norm[first.layers.index(layer)]) for layer in hidden]
    st.plotly_chart(figures.gradient_norm_bars(hidden, norms), key="inside_lesson_norms")
    sigmoid, relu = results[gradients.label("sigmoid", False)], results[gradients.label("relu", False)]
    ratio = relu.first_layer_grad_norm() / max(sigmoid.first_layer_grad_norm(), 1e-30)
    st.caption(f"At the first step fc1's gradient is {ratio:,.0f}× smaller with sigmoid than with ReLU. Test accuracy "
               f"after {gradients.STEPS} steps: " + ", ".join(f"{name} {run.test_accuracy:.0%}"
                                                              for name, run in results.items()) + ".")
    st.plotly_chart(figures.loss_lines({name: (run.loss_steps, run.losses) for name, run in results.items()}),
                    key="inside_lesson_loss")
    chosen = st.radio("Gradients over training of", list(results), horizontal=True, key="inside_lesson_variant")
    run = results[chosen]
    left, right = st.columns(2)
    left.plotly_chart(figures.gradient_heatmap(run.steps, run.histograms, "fc1"), key="inside_lesson_fc1")
    right.plotly_chart(figures.gradient_heatmap(run.steps, run.histograms, hidden[-1]), key="inside_lesson_last")
