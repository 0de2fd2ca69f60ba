"""Inside page: the embedding projector, before and after training side by side; a click shows the image.

Called from pages/inside.py. "Before" is the run's initial network, rebuilt from its seed (``runs.initial_model``),
"after" the checkpoint the page shows. Projections and their scatters are cached by run, checkpoint (its mtime) and method.
"""

from __future__ import annotations

import streamlit as st

from ui.run_picker import plain
from ui.shared_figures import shared_figures
from vision_core.analysis import projector
from vision_core.figures import projector as figures
from vision_core.figures import training as training_figures
from vision_core.runs import store as runs

METHODS = {"pca": "PCA (fast, linear)", "tsne": "t-SNE (neighbours kept together, a few seconds)"}


@st.cache_data(max_entries=32, show_spinner="Projecting the test images…")
def projection(run_path: str, which: str, checkpoint_mtime: float, dataset_key: tuple, method: str,
               _dataset) -> projector.Embedding:
    """``which``: "initial" (rebuilt from the seed) or a checkpoint name. ``_dataset`` is not hashed:
    ``dataset_key`` names it."""
    run = runs.reload(run_path)
    model = runs.initial_model(run) if which == "initial" else runs.load_model(run, which)
    return projector.embed(model, _dataset.test, _dataset.normalize, method=method)


@shared_figures(max_entries=32)
def scatter(run_path: str, which: str, checkpoint_mtime: float, dataset_key: tuple, method: str, title: str,
            _dataset):
    """A projection's scatter, built once for every student (1,000 validated points cost ~0.2 s per page view)."""
    e = projection(run_path, which, checkpoint_mtime, dataset_key, method, _dataset)
    return figures.embedding_scatter(e.coords, e.labels, e.predictions, e.indices, list(_dataset.classes), title)


def projector_section(run: runs.RunRecord, which: str, checkpoint_mtime: float, dataset_key: tuple, dataset) -> None:
    classes = list(dataset.classes)
    method = st.radio("Projection", list(METHODS), format_func=METHODS.get, horizontal=True,
                      key="inside_proj_method")
    sampled = min(projector.MAX_POINTS, len(dataset.test))
    st.caption(f"Each dot is a test image ({sampled} of {len(dataset.test)}), placed by what the layer before the "
               "classifier makes of it; its colour is its true class, a cross marks a wrong prediction. Before "
               "training the classes lie mixed; after, each gathers in its own region. Hover for the class, "
               "click a dot to see the image.")
    try:
        before = projection(str(run.path), "initial", 0.0, dataset_key, method, dataset)
        after = projection(str(run.path), which, checkpoint_mtime, dataset_key, method, dataset)
    except (ValueError, RuntimeError, OSError) as exc:  # no Linear layer, t-SNE on too few images, a bad file
        st.info(f"No projection for this run: {exc}")
        return
    picked = None
    for column, (title, shown, key) in zip(st.columns(2), (
            ("Before training (initial weights)", ("initial", 0.0), "before"),
            (f"After training ({which} checkpoint)", (which, checkpoint_mtime), "after"))):
        fig = scatter(str(run.path), *shown, dataset_key, method, title, dataset)
        event = column.plotly_chart(fig, on_select="rerun", selection_mode="points", key=f"inside_proj_{key}")
        index = figures.clicked_index(fig, event.selection.points if event else [])
        if index is not None:
            picked = index
    if picked is not None:
        st.session_state["inside_proj_picked"] = picked
    picked = st.session_state.get("inside_proj_picked")
    if picked is None or not 0 <= picked < len(dataset.test):
        return
    image, label = dataset.test[picked]
    said = {}
    for name, e in (("before", before), ("after", after)):
        where = (e.indices == picked).nonzero()
        if len(where):
            said[name] = classes[int(e.predictions[int(where[0, 0])])]
    picture, text = st.columns([1, 3])
    picture.image(training_figures.to_display(image.unsqueeze(0), 140)[0], caption=f"test image #{picked}")
    text.markdown(f"**True class:** {plain(classes[label])}  \n"
                  + "  \n".join(f"**Predicted {name} training:** {plain(pred)}" + (" ✔" if pred == classes[label] else " ✘")
                                for name, pred in said.items()))
    text.page_link("pages/evaluate.py", label="All predictions of this run on the Evaluate page", icon="✅",
                   query_params={"run": run.run_id})
