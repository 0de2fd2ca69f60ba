"""The animated step-throughs: every frame shows exactly convolution_steps()[k] / pooling_steps()[k] / the
transposed stamps, the whole map equals PyTorch's, the cover hides exactly the cells not computed yet, Previous
and Next point around each frame, big maps get a bounded block of frames, and Plotly accepts the figure."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
import torch
import torch.nn.functional as F

from vision_core.figures import step_through as st_figs
from vision_core.figures.convolution import format_number
from vision_core.figures.inspection import time_lapse_animation
from vision_core.lessons.convolution import TransposedSteps, convolution_steps
from vision_core.lessons.pooling import pooling_steps


def values(value) -> np.ndarray:
    """A trace array as the browser gets it: a list, a numpy array or Plotly's typed array {dtype, bdata, shape}."""
    if isinstance(value, dict):
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return flat.reshape([int(v) for v in str(value["shape"]).split(",")])
    return np.asarray(value, dtype=np.float64)


def polygon_area(xs, ys) -> float:
    """Shoelace area of one closed polygon (the cover): in cells, since a cell is 1 × 1."""
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    return abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2 if len(x) else 0.0


def trace(fig, name: str) -> dict:
    return next(t for t in fig.to_dict()["data"] if t.get("name") == name)


def torch_conv(x, w, b, stride, padding, dilation, dims):
    conv = F.conv1d if dims == 1 else F.conv2d
    return conv(torch.tensor(x)[None], torch.tensor(w), torch.tensor(b), stride=stride, padding=padding,
                dilation=dilation)[0].numpy()


CASES = [  # (input shape, kernel shape (O, C, *k), stride, padding, dilation, flip)
    ((1, 4, 4), (1, 1, 3, 3), 1, 1, 1, True),
    ((3, 7, 6), (2, 3, 3, 2), 2, 1, 1, False),
    ((2, 9, 9), (3, 2, 3, 3), 1, 2, 2, False),
    ((1, 6, 5), (1, 1, 2, 3), (2, 1), 0, (1, 2), True),
    ((2, 12), (2, 2, 3), 2, 1, 1, False),  # 1-D, two channels
    ((1, 8), (1, 1, 5), 1, 2, 1, True),  # the textbook's signal
]


@pytest.mark.parametrize("shape, kshape, stride, padding, dilation, flip", CASES)
def test_every_convolution_frame_shows_its_step_and_the_map_is_pytorchs(shape, kshape, stride, padding, dilation,
                                                                         flip):
    rng = np.random.default_rng(sum(shape) + sum(kshape))
    x, w, b = rng.normal(size=shape), rng.normal(size=kshape), rng.normal(size=kshape[0])
    dims = len(shape) - 1
    steps = convolution_steps(x, w, stride, padding, dilation, flip, b, dims=dims)
    applied = np.flip(w, axis=tuple(range(2, 2 + dims))) if flip else w
    reference = torch_conv(x, np.ascontiguousarray(applied), b, stride, padding, dilation, dims)
    for out_channel in range(kshape[0]):
        fig = st_figs.convolution_animation(steps, out_channel)
        out_map = values(trace(fig, "output map")["z"])
        np.testing.assert_allclose(out_map.reshape(reference[out_channel].shape), reference[out_channel], atol=1e-12)
        frames = fig.to_dict()["frames"]
        assert len(frames) == steps.cells_per_map
        n_cells = steps.cells_per_map
        for k, frame in enumerate(frames):
            step = steps[steps.index(out_channel, *np.unravel_index(k, steps.map_shape))]
            parts = dict(zip(frame["traces"], frame["data"]))
            for c in range(steps.channels):
                products = parts[fig.trace_index(f"products {c}")]
                np.testing.assert_allclose(values(products["z"]).ravel(), step.products[c].ravel())
                assert [t for row in products["text"] for t in row] == [format_number(v) for v in
                                                                         step.products[c].ravel()]
            title = frame["layout"]["title"]["text"]
            assert f"Cell {k + 1} of {n_cells}</b>" in title
            assert f"= <b>{format_number(reference[out_channel].flat[k])}</b>" in title
            cover = parts[fig.trace_index("not computed yet")]
            assert polygon_area(cover["x"], cover["y"]) == n_cells - k - 1  # exactly the cells still to come
            window = parts[fig.trace_index("window 0")]
            xs = [v for v in window["x"] if v is not None]
            ys = [v for v in window["y"] if v is not None]
            cols, rows = step.input_coords[-1], step.input_coords[0] if dims == 2 else np.array([0])
            assert min(xs) == cols.min() - 0.5 and max(xs) == cols.max() + 0.5
            assert min(ys) == rows.min() - 0.5 and max(ys) == rows.max() + 0.5


def test_previous_and_next_point_around_each_frame_and_the_figure_opens_where_asked():
    steps = convolution_steps(np.arange(16.0).reshape(4, 4), np.ones((3, 3)), padding=1)
    fig = st_figs.convolution_animation(steps, focus=5)
    spec = fig.to_dict()
    assert spec["layout"]["sliders"][0]["active"] == 5
    assert "Cell 6 of 16" in spec["layout"]["title"]["text"]
    for k, frame in enumerate(spec["frames"]):
        buttons = {b["label"]: b["args"][0][0] for b in frame["layout"]["updatemenus"][1]["buttons"]}
        assert buttons == {"⏮": "1", "◀ Previous": str(max(k, 1)), "Next ▶": str(min(k + 2, 16)), "⏭": "16"}
    labels = [b["label"] for menu in spec["layout"]["updatemenus"] for b in menu["buttons"]]
    assert {"▶ Play", "⏸ Pause", "◀ Previous", "Next ▶"} <= set(labels)
    opened = fig.opened_at("11").to_dict()
    assert opened["layout"]["sliders"][0]["active"] == 10 and "Cell 11 of 16" in opened["layout"]["title"]["text"]
    assert all(a is b for a, b in zip(opened["frames"], spec["frames"]))  # shared, not rebuilt


def test_a_picked_input_cell_outlines_the_outputs_it_feeds():
    steps = convolution_steps(np.arange(16.0).reshape(4, 4), np.ones((3, 3)), padding=1)
    fig = st_figs.convolution_animation(steps)
    opened = fig.opened_at("1", st_figs.convolution_pick(steps, (0, 0))).to_dict()
    fed = next(t for t in opened["data"] if t["name"] == "fed outputs")
    centres = {(fed["y"][i] + 0.5, fed["x"][i] + 0.5) for i in range(0, len(fed["x"]), 6)}
    assert centres == {(0, 0), (0, 1), (1, 0), (1, 1)}
    with pytest.raises(ValueError, match="outside the padded input"):
        st_figs.convolution_pick(steps, (7, 7))


def test_a_large_map_gets_a_block_of_frames_around_the_focus_and_zooms_the_input():
    steps = convolution_steps(np.random.default_rng(0).random((1, 30, 30)), np.ones((1, 3, 3)), padding=1)
    fig = st_figs.convolution_animation(steps, focus=700, max_frames=100)
    spec = fig.to_dict()
    names = [int(f["name"]) for f in spec["frames"]]
    assert names == list(range(691, 791))  # from the start of cell 700's row (row 23 starts at cell 690)
    assert spec["layout"]["sliders"][0]["active"] == names.index(701)
    ranges = spec["frames"][0]["layout"]["xaxis"]["range"]
    assert ranges[1] - ranges[0] == st_figs.ZOOM_SIDE  # the input is zoomed on the window, frame by frame
    assert st_figs.frame_block(900, 899, 100, 30) == range(800, 900)
    assert st_figs.frame_block(16, 9, 100, 4) == range(16)


@pytest.mark.parametrize("kind, kernel, stride, padding", [("max", 2, 2, 0), ("max", 3, 2, 1), ("avg", 3, 1, 1),
                                                           ("avg", 2, 3, 0)])
def test_every_pooling_frame_shows_its_window_and_the_map_is_pytorchs(kind, kernel, stride, padding):
    x = np.random.default_rng(kernel).normal(size=(2, 7, 8))
    steps = pooling_steps(x, kind, kernel, stride, padding)
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    reference = pool(torch.tensor(x)[None], kernel, stride, padding)[0].numpy()
    fig = st_figs.pooling_animation(steps, channel=1)
    np.testing.assert_allclose(values(trace(fig, "output map")["z"]), reference[1])
    frames = fig.to_dict()["frames"]
    window_trace = fig.trace_index("window values")
    for k, frame in enumerate(frames):
        step = steps[steps.index(1, *divmod(k, steps.map_shape[1]))]
        parts = dict(zip(frame["traces"], frame["data"]))
        shown = values(parts[window_trace]["z"])
        np.testing.assert_array_equal(np.where(np.isfinite(step.window), step.window, np.nan), shown)
        assert f"<b>{format_number(reference[1].flat[k])}</b>" in frame["layout"]["title"]["text"]
        winner = parts[fig.trace_index("winner")]
        assert bool(winner["x"]) == (kind == "max")


def test_every_transposed_frame_stamps_and_the_last_is_conv_transpose2d():
    x = np.random.default_rng(1).integers(-3, 4, (3, 4)).astype(float)
    w = np.random.default_rng(2).integers(-2, 3, (2, 3)).astype(float)
    steps = TransposedSteps(x, w, stride=2, padding=1, output_padding=1, dilation=1, bias=0.5)
    fig = st_figs.transposed_animation(steps)
    frames = fig.to_dict()["frames"]
    assert len(frames) == 12
    output = fig.trace_index("output so far")
    for k, frame in enumerate(frames):
        parts = dict(zip(frame["traces"], frame["data"]))
        np.testing.assert_allclose(values(parts[output]["z"]), steps.crop(steps.canvas_after(k))[0])
        np.testing.assert_allclose(values(parts[fig.trace_index("value × kernel")]["z"]), steps[k].block[0])
    reference = F.conv_transpose2d(torch.tensor(x)[None, None], torch.tensor(w)[None, None], torch.tensor([0.5],
                                   dtype=torch.float64), stride=2, padding=1, output_padding=1)[0, 0].numpy()
    np.testing.assert_allclose(values(dict(zip(frames[-1]["traces"], frames[-1]["data"]))[output]["z"]), reference)
    assert "Input cell 2 of 12</b> — row 0, column 1" in frames[1]["layout"]["title"]["text"]


def test_the_time_lapse_is_one_figure_with_a_frame_per_snapshot():
    rng = np.random.default_rng(0)
    snaps = [SimpleNamespace(step=s, epoch=s // 10, filters=torch.tensor(rng.normal(size=(4, 1, 3, 3))),
                             feature_maps={"conv1": torch.tensor(rng.normal(size=(5, 6, 6)))}) for s in range(0, 100, 2)]
    fig = time_lapse_animation(snaps, "conv1", max_frames=10)
    spec = fig.to_dict()
    names = [f["name"] for f in spec["frames"]]
    assert len(names) == 10 and names[0] == "0" and names[-1] == "98"  # thinned, the ends kept
    zmax = max(float(s.feature_maps["conv1"].abs().max()) for s in snaps if str(s.step) in names)  # the frames'
    frame = spec["frames"][0]
    maps = [values(d["z"]) for d in frame["data"] if d["type"] == "heatmap"]
    assert len(maps) == 5
    np.testing.assert_allclose(maps[2] / 127 * zmax, snaps[0].feature_maps["conv1"][2].numpy(), atol=zmax / 254)
    assert "At step 98" in spec["layout"]["title"]["text"]  # opens on the newest
    with pytest.raises(ValueError, match="conv1"):
        time_lapse_animation(snaps, "conv9")


def test_plotly_accepts_every_animated_figure():
    """The frames are plain dicts (never validated when drawn): a validating go.Figure must take them as they are."""
    conv = st_figs.convolution_animation(convolution_steps(np.ones((2, 5, 5)), np.ones((3, 2, 3, 3)), padding=1), 2)
    pooling = st_figs.pooling_animation(pooling_steps(np.arange(36.0).reshape(6, 6), "max", 3, 2, 1))
    transposed = st_figs.transposed_animation(TransposedSteps(np.ones((2, 2)), np.ones((2, 2)), 2))
    for fig in (conv, pooling, transposed):
        spec = json.loads(pio.to_json(fig, validate=False))
        validated = go.Figure(spec)  # raises on an unknown property anywhere, frames included
        assert len(validated.frames) == len(spec["frames"])
        assert validated.layout.sliders[0].steps[0].args[0] == (spec["frames"][0]["name"],)
