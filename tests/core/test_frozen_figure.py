"""A frozen figure is sent exactly as Plotly would send the figure it froze, and survives st.cache_data's pickle."""

from __future__ import annotations

import pickle

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from vision_core.figures.frozen import FrozenFigure, frozen


def a_figure(seed: int) -> go.Figure:
    rng = np.random.default_rng(seed)
    fig = go.Figure(go.Heatmap(z=rng.random((5, 7)), colorscale="RdBu"))
    fig.add_trace(go.Scatter(x=np.arange(9), y=rng.random(9), mode="lines+markers", name="loss", uid="fixed"))
    fig.update_layout(title="t", meta={"missing": ["run a"]}, height=300)
    return fig


def test_a_frozen_figure_is_sent_as_plotly_sends_the_original_again_and_again():
    for seed in range(5):
        fig = a_figure(seed)
        ice = FrozenFigure(fig)
        expected = pio.to_json(fig.to_dict(), validate=False)
        for _ in range(3):  # to_json pops each trace's uid: the frozen dicts must not lose anything by it
            assert pio.to_json(ice.to_dict(), validate=False) == expected
        assert ice.to_dict()["layout"]["meta"] == {"missing": ["run a"]}
        again = pickle.loads(pickle.dumps(ice))
        assert isinstance(again, FrozenFigure) and pio.to_json(again.to_dict(), validate=False) == expected


def test_frozen_reaches_figures_inside_tuples_lists_and_dicts_and_leaves_the_rest():
    fig = a_figure(0)
    value = frozen(("a line", [("maps", fig)], {"chart": fig, "n": 3}, 1.5))
    assert value[0] == "a line" and value[3] == 1.5 and value[2]["n"] == 3
    assert isinstance(value[1][0][1], FrozenFigure) and isinstance(value[2]["chart"], FrozenFigure)
    assert frozen(value[2]["chart"]) is value[2]["chart"]
