"""A built figure kept as the dict Plotly sends to the browser, for figures shown again and again unchanged.

``st.plotly_chart(figure)`` calls ``figure.to_dict()`` on every draw: Plotly deep-copies the whole figure and packs
every numeric array as base64 again (a fifth of the server's CPU for a Pooling page switch, py-spy), for each
student and each rerun, though the figure was built once for all of them. ``FrozenFigure(figure)`` does that once;
its ``to_dict()`` then hands out the same dicts (shallow copies of the traces: ``plotly.io.to_json`` pops each
trace's ``uid``; nothing else is changed). Read it with ``to_dict()``; it is frozen: the go.Figure part stays empty.

Example: ``FrozenFigure(go.Figure(go.Bar(y=[1, 2]))).to_dict()["data"][0]["type"] == "bar"``.
"""

from __future__ import annotations

import plotly.graph_objects as go


class FrozenFigure(go.Figure):
    def __init__(self, figure: go.Figure | dict | None = None) -> None:
        super().__init__()
        # A dict: what to_dict() returned (unpickling passes it; st.cache_data pickles).
        raw = figure.to_dict() if isinstance(figure, go.Figure) else dict(figure or {})
        self._raw = {"data": list(raw.get("data") or []), "layout": dict(raw.get("layout") or {}),
                     "frames": list(raw.get("frames") or [])}

    def to_dict(self) -> dict:
        figure = {"data": [dict(t) for t in self._raw["data"]], "layout": self._raw["layout"]}
        if self._raw["frames"]:
            figure["frames"] = self._raw["frames"]
        return figure


def frozen(value):
    """``value`` with every go.Figure in it (itself, or inside a tuple / list / dict) frozen."""
    if isinstance(value, FrozenFigure):
        return value
    if isinstance(value, go.Figure):
        return FrozenFigure(value)
    if isinstance(value, (tuple, list)):
        return type(value)(frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: frozen(v) for k, v in value.items()}
    return value
