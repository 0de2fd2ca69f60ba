"""Pure Plotly builder for the embedding projector: the test images' penultimate features in 2-D.

One trace per true class (its colour, its legend entry: click a class in the legend to hide it), the
misclassified points drawn as crosses. Every point carries ``[test index, true class, predicted class]`` as
customdata: the hover says it, and a page reads a clicked point's test index from it.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.express as px
import plotly.graph_objects as go
import torch

from vision_core.figures.text import plotly_text

CLASS_COLOURS = px.colors.qualitative.D3 + px.colors.qualitative.Alphabet  # 10 classic ones first, then 26 more


def embedding_scatter(coords: torch.Tensor, labels: torch.Tensor, predictions: torch.Tensor, indices: torch.Tensor,
                      classes: Sequence[str], title: str, height: int = 420) -> go.Figure:
    """A scatter of ``coords`` (N, 2) coloured by true class; misclassified points are crosses."""
    fig = go.Figure()
    labels, predictions, indices = labels.long(), predictions.long(), indices.long()
    for k, name in enumerate(classes):
        mask = labels == k
        if not bool(mask.any()):
            continue
        wrong = (predictions[mask] != k).tolist()
        fig.add_trace(go.Scattergl(
            x=coords[mask, 0].tolist(), y=coords[mask, 1].tolist(), mode="markers", name=plotly_text(name),
            marker={"color": CLASS_COLOURS[k % len(CLASS_COLOURS)], "size": [11 if w else 6 for w in wrong],
                    "symbol": ["x" if w else "circle" for w in wrong], "opacity": 0.8,
                    "line": {"width": 0}},
            customdata=[[int(i), plotly_text(name), plotly_text(classes[int(p)])]  # names shown as typed
                        for i, p in zip(indices[mask], predictions[mask])],
            hovertemplate="test image #%{customdata[0]}<br>true: %{customdata[1]}<br>"
                          "predicted: %{customdata[2]}<extra></extra>"))
    wrong_count = int((labels != predictions).sum())
    fig.update_layout(
        title={"text": f"{plotly_text(title)}<br><sup>{len(labels)} test images · {wrong_count} misclassified (×)</sup>"},
        height=height, margin={"l": 40, "r": 10, "t": 70, "b": 30}, legend={"title": "true class"},
        xaxis={"showticklabels": False, "title": ""}, yaxis={"showticklabels": False, "title": ""},
        clickmode="event+select", dragmode="pan")
    return fig


def clicked_index(fig: go.Figure, points: Sequence[dict]) -> int | None:
    """The test index of the first clicked point (Streamlit's selection points), or None. ``fig`` may be a
    ``FrozenFigure``: a point without its customdata is looked up in the traces ``to_dict()`` gives."""
    traces = None
    for point in points:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)) and data:
            return int(data[0])
        curve, index = point.get("curve_number"), point.get("point_index")
        if isinstance(curve, int) and isinstance(index, int):
            traces = fig.to_dict()["data"] if traces is None else traces
            custom = traces[curve].get("customdata") if 0 <= curve < len(traces) else None
            if custom is not None and 0 <= index < len(custom):
                return int(custom[index][0])
    return None
