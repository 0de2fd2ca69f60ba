"""Pure Plotly builders for the "Inside the network" page: filters, feature maps, top images, time-lapse.

Data in (tensors), ``go.Figure`` out; no I/O, no Streamlit. Filters are drawn as images (grey, or colour
for RGB filters); feature maps as heat maps on a red/blue scale centred on zero, one scale per figure so
a channel that barely fires looks pale next to one that fires hard.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from vision_core.analysis.inspection import filters_as_images
from vision_core.figures.evaluation import image_grid
from vision_core.figures.text import plotly_text

MAP_SCALE = "RdBu_r"  # negative blue, zero white, positive red
_MAP_COLORSCALE = go.Heatmap(colorscale=MAP_SCALE).colorscale  # as Plotly.js needs it ("_r" is Python-only)
TILE_PX = 110  # height of one row of tiles
MAX_FILTER_TILES = 64


def _uint8_rgb(tile: torch.Tensor) -> np.ndarray:
    """(C, h, w) in [0, 1] with C in (1, 3) → (h, w, 3) uint8."""
    a = (tile.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    if a.shape[0] == 1:
        a = np.repeat(a, 3, axis=0)
    return np.ascontiguousarray(a.transpose(1, 2, 0))


def _filter_tiles(images: torch.Tensor) -> list[tuple[np.ndarray, str]]:
    """Colour tiles for RGB filters, else one grey tile per (filter, channel)."""
    if images.dim() != 4:
        raise ValueError(f"filter images must be (O, C, kh, kw), got shape {tuple(images.shape)}")
    if images.shape[1] == 3:
        return [(_uint8_rgb(f), f"filter {i}") for i, f in enumerate(images[:MAX_FILTER_TILES])]
    tiles = []
    for i, f in enumerate(images):
        for c in range(f.shape[0]):
            if len(tiles) == MAX_FILTER_TILES:
                return tiles
            tiles.append((_uint8_rgb(f[c:c + 1]), f"filter {i}" if f.shape[0] == 1 else f"filter {i} · ch {c}"))
    return tiles


def _map_range(maps: torch.Tensor, zmax: float | None) -> float:
    top = float(maps.abs().max()) if maps.numel() else 0.0
    return zmax if zmax is not None else (top or 1.0)


def _tile_layout(rows: int, cols: int, titles: list[str]) -> dict:
    """Axes for a rows × cols grid of tiles, numbered row by row like ``make_subplots`` (x, x2, x3, ...), with
    each tile's title above it. Written out, because ``make_subplots`` was most of a frame's build time."""
    h_gap, v_gap = 0.01, min(0.3 / rows, 0.08)
    width, height = (1 - h_gap * (cols - 1)) / cols, (1 - v_gap * (rows - 1)) / rows
    layout: dict = {"annotations": []}
    for r in range(rows):
        top = 1 - r * (height + v_gap)
        for c in range(cols):
            n = r * cols + c + 1
            suffix = "" if n == 1 else str(n)
            left = c * (width + h_gap)
            axis = {"showticklabels": False, "showgrid": False, "zeroline": False}
            # Clipped to [0, 1]: the last edge can come out as 1e-17 below 0, which Plotly rejects.
            layout[f"xaxis{suffix}"] = {**axis, "domain": [max(left, 0.0), min(left + width, 1.0)],
                                        "anchor": f"y{suffix}"}
            layout[f"yaxis{suffix}"] = {**axis, "domain": [max(top - height, 0.0), min(top, 1.0)],
                                        "anchor": f"x{suffix}"}
            if titles[n - 1]:
                layout["annotations"].append({
                    "text": titles[n - 1], "x": left + width / 2, "y": top, "xref": "paper", "yref": "paper",
                    "xanchor": "center", "yanchor": "bottom", "showarrow": False, "font": {"size": 11}})
    return layout


def _tile_figure(image_tiles: list[tuple[np.ndarray, str]], map_tiles: list[tuple[np.ndarray, str]],
                 cols: int, zmax: float = 1.0, title: str = "") -> go.Figure:
    """Image tiles first (whole rows), then heat-map tiles (new rows), ``cols`` per row."""
    traces, layout = _tile_spec(image_tiles, map_tiles, cols, zmax, title)
    # Plotly's per-property validation of some 40 axes was most of the build time: these dicts are fixed here
    # and checked once by tests/core/test_figures.py (a validating go.Figure of the result gives the same JSON).
    return go.Figure(data=traces, layout=layout, _validate=False)


def _tile_spec(image_tiles: list[tuple[np.ndarray, str]], map_tiles: list[tuple[np.ndarray, str]],
               cols: int, zmax: float = 1.0, title: str = "") -> tuple[list[dict], dict]:
    """The traces and layout of ``_tile_figure``, as plain dicts."""
    cols = max(1, min(cols, max(len(image_tiles), len(map_tiles), 1)))
    image_rows = -(-len(image_tiles) // cols)
    map_rows = -(-len(map_tiles) // cols)
    rows = max(1, image_rows + map_rows)
    positions = [(i // cols, i % cols) for i in range(len(image_tiles))]
    positions += [(image_rows + i // cols, i % cols) for i in range(len(map_tiles))]
    titles = [""] * (rows * cols)
    for (r, c), (_, text) in zip(positions, image_tiles + map_tiles):
        titles[r * cols + c] = text
    layout = _tile_layout(rows, cols, titles)
    traces = []
    for (r, c), (z, text) in zip(positions[:len(image_tiles)], image_tiles):
        suffix = "" if r * cols + c == 0 else str(r * cols + c + 1)
        traces.append({"type": "image", "z": z, "name": text, "xaxis": f"x{suffix}", "yaxis": f"y{suffix}",
                       "hovertemplate": f"{text}<br>(%{{y}}, %{{x}})<extra></extra>"})
    for (r, c), (z, text) in zip(positions[len(image_tiles):], map_tiles):
        suffix = "" if r * cols + c == 0 else str(r * cols + c + 1)
        traces.append({"type": "heatmap", "z": z, "zmin": -zmax, "zmax": zmax, "colorscale": _MAP_COLORSCALE,
                       "showscale": False, "name": text, "xaxis": f"x{suffix}", "yaxis": f"y{suffix}",
                       "hovertemplate": f"{text}<br>(%{{y}}, %{{x}}): %{{z:.3f}}<extra></extra>"})
        # Rows downwards like an image, square cells like the pixels they come from.
        layout[f"yaxis{suffix}"].update(autorange="reversed", scaleanchor=f"x{suffix}")
    layout.update(height=rows * TILE_PX + (70 if title else 40), showlegend=False,
                  margin={"l": 5, "r": 5, "t": 60 if title else 25, "b": 5})
    if title:
        layout["title"] = {"text": plotly_text(title)}
    return traces, layout


def filter_grid(images: torch.Tensor, cols: int = 8, title: str = "") -> go.Figure:
    """First-layer filters as pictures: ``images`` from ``inspection.filters_as_images`` (O, C, kh, kw).

    RGB filters (C = 3) are colour images, others one grey tile per input channel (at most 64 tiles).
    """
    return _tile_figure(_filter_tiles(images), [], cols, title=title)


def feature_map_grid(maps: torch.Tensor, max_channels: int = 16, cols: int = 8, title: str = "",
                     zmax: float | None = None) -> go.Figure:
    """One heat map per channel of a layer's output ``maps`` (C, H, W), the first ``max_channels`` of them.

    All channels share one colour scale (±``zmax``, default the largest |value|), centred on zero.
    """
    if maps.dim() != 3:
        raise ValueError(f"feature maps must be (C, H, W), got shape {tuple(maps.shape)}")
    shown = maps[:max_channels].detach().float().cpu()
    tiles = [(m.numpy(), f"channel {i}") for i, m in enumerate(shown)]
    return _tile_figure([], tiles, cols, _map_range(shown, zmax), title)


def time_lapse_frame(filters: torch.Tensor, maps: torch.Tensor, layer: str, step: int, epoch: int,
                     max_channels: int = 16, cols: int = 8, zmax: float | None = None) -> go.Figure:
    """One frame of the training time-lapse: the first-layer ``filters`` (O, C, kh, kw, raw weights)
    on top, the probe image's ``maps`` (C, H, W) at ``layer`` below, as they were at ``step``.

    Pass the same ``zmax`` for every frame so the colours are comparable across steps.
    """
    shown = maps[:max_channels].detach().float().cpu()
    map_tiles = [(m.numpy(), f"{layer} · ch {i}") for i, m in enumerate(shown)]
    title = f"At step {step} (epoch {epoch + 1}): first-layer filters, then the probe's {layer} maps"
    return _tile_figure(_filter_tiles(filters_as_images(filters)), map_tiles, cols, _map_range(shown, zmax), title)


def _quantized(maps: np.ndarray, zmax: float) -> dict:
    """A map as Plotly's typed-array JSON of int8 levels −127 … 127 of ±``zmax``: a quarter of float32's bytes,
    and the colours need no more (the Feature maps tab has the exact values)."""
    levels = np.clip(np.round(np.asarray(maps, dtype=np.float64) / zmax * 127), -127, 127).astype(np.int8)
    return {"dtype": "i1", "bdata": base64.b64encode(levels.tobytes()).decode(),
            "shape": ",".join(map(str, levels.shape))}


def time_lapse_animation(snapshots: Sequence, layer: str, max_channels: int = 16, cols: int = 8,
                         zmax: float | None = None, max_frames: int = 40) -> go.Figure:
    """The training time-lapse as one figure the browser plays: a frame per snapshot (at most ``max_frames``,
    evenly spaced, the first and the last kept), each the first-layer filters on top and the probe's ``layer``
    maps below (one colour scale ±``zmax`` for every frame, default the largest |value| of any frame).

    ``snapshots``: objects with ``step``, ``epoch``, ``filters`` (O, C, kh, kw) and ``feature_maps[layer]``
    (C, H, W), as ``training.snapshots.load_snapshots`` returns. Frames are named by their step.
    Example: ``time_lapse_animation(load_snapshots(run_path)[0], "conv1").to_dict()["frames"][0]["name"]``.
    """
    from vision_core.figures.step_through import AnimatedFigure, nav_row, player

    shown = [s for s in snapshots if layer in s.feature_maps]
    if not shown:
        raise ValueError(f"no snapshot holds feature maps of {layer!r}: choose one of "
                         f"{sorted({name for s in snapshots for name in s.feature_maps})}")
    if len(shown) > max_frames:  # evenly spaced, the first and the last kept
        shown = [shown[round(i * (len(shown) - 1) / (max_frames - 1))] for i in range(max_frames)]
    maps = [s.feature_maps[layer][:max_channels].detach().float().cpu().numpy() for s in shown]
    zmax = zmax or max(float(np.abs(m).max()) for m in maps) or 1.0
    first = shown[0]
    image_tiles = _filter_tiles(filters_as_images(first.filters))
    map_tiles = [(m, f"{layer} · ch {i}") for i, m in enumerate(maps[0])]
    traces, layout = _tile_spec(image_tiles, map_tiles, cols, 127.0, "")
    for trace in traces[len(image_tiles):]:
        trace["hovertemplate"] = f"{trace['name']}<extra></extra>"
    frames = []
    names = [str(s.step) for s in shown]
    for k, (snap, levels) in enumerate(zip(shown, maps)):
        tiles = _filter_tiles(filters_as_images(snap.filters))
        data = [{"type": "image", "z": z} for z, _ in tiles] + [{"type": "heatmap", "z": _quantized(m, zmax)}
                                                              for m in levels]
        title = f"At step {snap.step} (epoch {snap.epoch + 1}): first-layer filters, then the probe's {layer} maps"
        frames.append({"name": names[k], "data": data, "traces": list(range(len(traces))),
                       "layout": {"title": {"text": title}, "updatemenus": [{}, nav_row(names, k)]}})
    player(layout, names, names, len(frames) - 1, "Step ", {"▶ Play": 500})
    layout.update(height=layout["height"] + 130, margin={"l": 5, "r": 5, "t": 60, "b": 130}, dragmode=False)
    return AnimatedFigure(traces, layout, frames).opened_at(names[-1])


def top_activating_grid(images: torch.Tensor, indices: Sequence[int], scores: Sequence[float],
                        labels: Sequence[str], cols: int = 3) -> go.Figure:
    """The images a channel likes best, titled with their test-set index, class and score.

    ``images``: (k, C, H, W) uint8 or float in [0, 1] (what the student sees, not normalised).
    """
    if not len(images) == len(indices) == len(scores) == len(labels):
        raise ValueError(f"Got {len(images)} images, {len(indices)} indices, {len(scores)} scores "
                         f"and {len(labels)} labels; they must match")
    titles = [f"#{int(i)} · {label}" for i, label in zip(indices, labels)]
    subtitles = [f"score {float(s):.2f}" for s in scores]
    return image_grid(list(images), titles, subtitles=subtitles, cols=cols)
