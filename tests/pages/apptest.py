"""Open a page the way the app does: through app.py's st.navigation (so st.page_link works)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.patience import PATIENT_S, wait_for
from vision_core.runs import store as runs

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def open_page(path: str, timeout: float = PATIENT_S, query_params: dict | None = None) -> AppTest:
    """``open_page("pages/train.py")`` → an AppTest that has run that page inside the app shell."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in (query_params or {}).items():
        at.query_params[key] = value
    at.switch_page(path)
    return at.run()


def use_runs(tmp_path, monkeypatch, *records) -> None:
    """Point the app at a fresh runs folder holding copies of ``records`` (so tests cannot alter each other's)."""
    import shutil

    for record in records:
        shutil.copytree(record.path, tmp_path / record.run_id)
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))


def chart(at: AppTest, key: str) -> dict:
    """The Plotly spec of the chart with this widget key."""
    import json

    element = next(c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}"))
    return json.loads(element.proto.spec)


def chart_keys(at: AppTest) -> set[str]:
    """The widget keys of every chart on the page."""
    return {c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")}


def wait_until_done(run_id: str) -> runs.RunRecord:
    """The run (or job) once it has left the active states, as the page will read it."""
    def ended():
        run = runs.load_run(run_id)
        return run if run.state not in runs.ACTIVE_STATUSES else None

    return wait_for(ended, what=f"run {run_id} to end", every=0.3)


@contextlib.contextmanager
def figures_built():
    """Counts the Plotly figures constructed meanwhile, in any thread (AppTest runs a page in its own):
    ``with figures_built() as built: open_page(...)``, then ``built[0]``. A step-through's AnimatedFigure opened at
    another frame is not counted: it shares the cached frames and validates nothing (microseconds)."""
    import plotly.graph_objects as go

    from vision_core.figures.step_through import AnimatedFigure

    built = [0]
    original = go.Figure.__init__

    def counting(self, *args, **kwargs):
        built[0] += not isinstance(self, AnimatedFigure)
        original(self, *args, **kwargs)

    go.Figure.__init__ = counting
    try:
        yield built
    finally:
        go.Figure.__init__ = original
