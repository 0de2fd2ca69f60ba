"""Step-throughs the browser plays: one Plotly figure with a frame per cell, a slider and buttons.

Convolution, transposed convolution and pooling are computed once (``lessons.convolution`` / ``lessons.pooling``)
and shipped as a figure whose frames hold only what changes from cell to cell: the window's outline, the products
(or the pooling window, or the stamped block), the cover hiding the output cells not computed yet, the current
output cell and the title that writes the sum out. The inputs, the kernel and the whole output map are drawn once.
Next, Previous, First, Last, Play and the slider are Plotly's own animation controls, so stepping costs the server
nothing: a class of thirty steps at once without a single request.

Plotly has no "next frame" command, so the Previous / Next buttons are rewritten by every frame (a frame may carry
layout): on frame k they animate to frames k − 1 and k + 1. A frame is named by its cell number (``"5"``).

Large maps get a block of at most ``MAX_FRAMES`` consecutive cells (row by row) around the cell a student picked;
the page moves the block when another output cell is clicked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise

import numpy as np

from vision_core.figures.convolution import STYLE, format_number, view_box
from vision_core.figures.frozen import FrozenFigure
from vision_core.lessons.convolution import ConvolutionSteps, TransposedSteps
from vision_core.lessons.pooling import PoolingSteps

MAX_FRAMES = 256  # frames in one figure: about 0.3–0.6 MB of JSON for a 3-channel 3×3 convolution
PLAY_MS = {"▶ Play": 500, "⏩ Fast": 125}  # milliseconds a frame while playing: 2 and 8 cells a second
COVER = "#e5e7eb"  # the output cells not computed yet
ZOOM_SIDE = STYLE["zoom_side"]  # a padded input wider than this is shown zoomed on the window, frame by frame
NAV_MENU = 1  # index in layout.updatemenus of the Previous / Next buttons each frame rewrites
_STILL = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0}}


# ---- words -----------------------------------------------------------------------------------------


def span_text(coords: Iterable[int]) -> str:
    """Coordinates as the axes show them: "−1 … 1" for a run of neighbours, "0, 2, 4" with dilation."""
    values = [int(v) for v in coords]
    if len(values) > 1 and all(b - a == 1 for a, b in pairwise(values)):
        return f"{values[0]} … {values[-1]}".replace("-", "−")
    return ", ".join(map(str, values)).replace("-", "−")


def frame_block(cells: int, focus: int, max_frames: int = MAX_FRAMES, row_length: int = 1) -> range:
    """The cells that get a frame: all of them, or ``max_frames`` consecutive ones from the start of ``focus``'s
    row (moved back so the block ends at the last cell). Example: ``frame_block(576, 300, 256, 24) == range(288, 544)``.
    """
    if cells <= max_frames:
        return range(cells)
    start = min(focus // row_length * row_length, cells - max_frames)
    return range(start, start + max_frames)


# ---- traces and axes as plain dicts (validated once by tests/core/test_step_through.py) -------------


def _axis(n: int) -> str:
    return "" if n == 1 else str(n)


def _zrange(values: np.ndarray, signed: bool | None = None) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return (0.0, 1.0)
    if signed if signed is not None else finite.min() < 0:
        bound = float(np.abs(finite).max()) or 1.0
        return (-bound, bound)
    low, high = float(finite.min()), float(finite.max())
    return (low, high) if high > low else (low - 1, high + 1)


def _texts(grid: np.ndarray) -> list[list[str]]:
    return [[format_number(v) for v in row] for row in grid]


def _heatmap(grid: np.ndarray, panel: int, *, origin: tuple[int, int] = (0, 0), zrange=None, signed=None,
             text: bool = True, hover_name: str = "value", hover: bool = True, name: str = "") -> dict:
    grid = np.atleast_2d(np.asarray(grid, dtype=np.float64))
    zmin, zmax = zrange or _zrange(grid, signed)
    rows, cols = grid.shape
    is_signed = zmin < 0
    trace = {"type": "heatmap", "name": name, "z": np.where(np.isfinite(grid), grid, np.nan),
             "x": np.arange(cols) + origin[1], "y": np.arange(rows) + origin[0],
             "colorscale": STYLE["diverging"] if is_signed else STYLE["image"], "zmin": zmin, "zmax": zmax,
             "showscale": False, "xgap": 1, "ygap": 1, "xaxis": f"x{_axis(panel)}", "yaxis": f"y{_axis(panel)}",
             "hovertemplate": f"row %{{y}}, column %{{x}}<br>{hover_name} %{{z:.4g}}<extra></extra>"}
    if text:
        trace.update(text=_texts(grid), texttemplate="%{text}")
    if not hover:
        trace.update(hoverinfo="skip", hovertemplate=None)
    return trace


def _outline_xy(cells: Iterable[tuple[int, int]]) -> tuple[list, list]:
    """One closed square per (row, col) cell, separated by gaps (None)."""
    xs, ys = [], []
    for r, c in cells:
        xs += [c - 0.5, c + 0.5, c + 0.5, c - 0.5, c - 0.5, None]
        ys += [r - 0.5, r - 0.5, r + 0.5, r + 0.5, r - 0.5, None]
    return xs, ys


def _outline(cells: Iterable[tuple[int, int]], panel: int, color: str, width: float = 3, name: str = "",
             dash: str = "solid") -> dict:
    xs, ys = _outline_xy(cells)
    return {"type": "scatter", "x": xs, "y": ys, "mode": "lines", "name": name, "showlegend": False,
            "hoverinfo": "skip", "line": {"color": color, "width": width, "dash": dash},
            "xaxis": f"x{_axis(panel)}", "yaxis": f"y{_axis(panel)}"}


def _cover_xy(done: int, shape: tuple[int, int], origin: tuple[int, int] = (0, 0)) -> tuple[list, list]:
    """The outline of the cells from flat index ``done`` on (row-major): not computed yet."""
    rows, cols = shape
    if done >= rows * cols:
        return [], []
    r, c = divmod(done, cols)
    left, right, bottom = -0.5, cols - 0.5, rows - 0.5
    if c == 0:
        xs, ys = [left, right, right, left, left], [r - 0.5, r - 0.5, bottom, bottom, r - 0.5]
    else:
        xs = [c - 0.5, right, right, left, left, c - 0.5, c - 0.5]
        ys = [r - 0.5, r - 0.5, bottom, bottom, r + 0.5, r + 0.5, r - 0.5]
    return [x + origin[1] for x in xs], [y + origin[0] for y in ys]


def _xy(xy: tuple[list, list]) -> dict:
    """A frame's update of a scatter trace (frames name the type: Plotly reads a bare update as a scatter)."""
    return {"type": "scatter", "x": xy[0], "y": xy[1]}


def _cover(panel: int) -> dict:
    return {"type": "scatter", "x": [], "y": [], "mode": "lines", "fill": "toself", "fillcolor": COVER,
            "line": {"width": 0, "color": COVER}, "hoverinfo": "skip", "showlegend": False,
            "name": "not computed yet", "xaxis": f"x{_axis(panel)}", "yaxis": f"y{_axis(panel)}"}


def _click_targets(shape: tuple[int, int], panel: int, name: str, values: np.ndarray, hover_name: str,
                   origin: tuple[int, int] = (0, 0)) -> dict:
    """Invisible markers on every cell: Plotly sends Streamlit no clicks on heat maps, but on markers it does."""
    cols_index, rows_index = np.meshgrid(np.arange(shape[1]) + origin[1], np.arange(shape[0]) + origin[0])
    return {"type": "scatter", "x": cols_index.ravel(), "y": rows_index.ravel(), "mode": "markers", "name": name,
            "showlegend": False, "customdata": np.asarray(values, dtype=np.float64).ravel(),
            "marker": {"symbol": "square", "size": 12, "color": "rgba(0,0,0,0)"},
            "hovertemplate": f"row %{{y}}, column %{{x}}<br>{hover_name} %{{customdata:.4g}}<br><i>click me</i>"
                             "<extra></extra>",
            "xaxis": f"x{_axis(panel)}", "yaxis": f"y{_axis(panel)}"}


def _panel_axes(layout: dict, panel: int, shape: tuple[int, int], origin: tuple[int, int],
                domain: tuple[list, list], title: str, axis_titles: bool) -> None:
    rows, cols = shape
    row0, col0 = origin
    ticks = {"showgrid": False, "zeroline": False, "constrain": "domain"}
    layout[f"xaxis{_axis(panel)}"] = {
        **ticks, "domain": domain[0], "anchor": f"y{_axis(panel)}", "range": [col0 - 0.5, col0 + cols - 0.5],
        **({"tickmode": "array", "tickvals": list(range(col0, col0 + cols))} if cols <= 16 else {"nticks": 8}),
        **({"title": {"text": "column", "standoff": 2}} if axis_titles else {})}
    layout[f"yaxis{_axis(panel)}"] = {
        **ticks, "domain": domain[1], "anchor": f"x{_axis(panel)}", "scaleanchor": f"x{_axis(panel)}",
        "range": [row0 + rows - 0.5, row0 - 0.5], "showticklabels": rows > 1,
        **({"tickmode": "array", "tickvals": list(range(row0, row0 + rows))} if rows <= 16 else {"nticks": 8}),
        **({"title": {"text": "row", "standoff": 2}} if axis_titles and rows > 1 else {})}
    layout["annotations"].append({"text": f"<b>{title}</b>", "x": sum(domain[0]) / 2, "y": domain[1][1],
                                  "xref": "paper", "yref": "paper", "xanchor": "center", "yanchor": "bottom",
                                  "yshift": 4, "showarrow": False, "font": {"size": 12}})


def _domains(weights: Sequence[float], rows: int) -> tuple[list[list[float]], list[list[float]]]:
    """x domains of the columns (widths ∝ weights) and y domains of the rows (top first)."""
    gap = 0.04
    width = 1 - gap * (len(weights) - 1)
    xs, left = [], 0.0
    for w in weights:
        xs.append([round(left, 4), round(min(left + width * w / sum(weights), 1.0), 4)])
        left += width * w / sum(weights) + gap
    v_gap = 0.12 if rows > 1 else 0.0
    height = (1 - v_gap * (rows - 1)) / rows
    ys = [[round(max(1 - r * (height + v_gap) - height, 0.0), 4), round(1 - r * (height + v_gap), 4)]
          for r in range(rows)]
    return xs, ys


def nav_row(names: list[str], k: int) -> dict:
    """What frame ``k`` changes in the First / Previous / Next / Last row: its buttons, pointing around it."""
    return {"buttons": _nav_menu(names, k)["buttons"]}


def _nav_menu(names: list[str], k: int) -> dict:
    """Previous / Next for frame ``k`` (each frame carries its own: Plotly has no relative step)."""
    previous, following = names[max(k - 1, 0)], names[min(k + 1, len(names) - 1)]
    return {"type": "buttons", "direction": "left", "showactive": False, "x": 0, "xanchor": "left",
            "y": 0, "yanchor": "top", "pad": {"t": 8},
            "buttons": [{"label": "⏮", "method": "animate", "args": [[names[0]], _STILL]},
                        {"label": "◀ Previous", "method": "animate", "args": [[previous], _STILL]},
                        {"label": "Next ▶", "method": "animate", "args": [[following], _STILL]},
                        {"label": "⏭", "method": "animate", "args": [[names[-1]], _STILL]}]}


def player(layout: dict, names: list[str], labels: list[str], active: int, prefix: str,
            play_ms: dict[str, int] = PLAY_MS) -> None:
    """Play / Pause buttons, the First / Previous / Next / Last row (frame ``active``'s) and a slider over ``names``
    into ``layout``. Each frame's layout must carry its own row: ``{"updatemenus": [{}, nav_row(names, k)]}``."""
    playing = [{"label": label, "method": "animate",
                "args": [None, {"mode": "immediate", "fromcurrent": True, "transition": {"duration": 0},
                                "frame": {"duration": ms, "redraw": True}}]} for label, ms in play_ms.items()]
    layout["updatemenus"] = [
        {"type": "buttons", "direction": "left", "showactive": False, "x": 1, "xanchor": "right", "y": 0,
         "yanchor": "top", "pad": {"t": 8},
         "buttons": [*playing, {"label": "⏸ Pause", "method": "animate",
                                "args": [[None], {"mode": "immediate", "frame": {"duration": 0, "redraw": False},
                                                  "transition": {"duration": 0}}]}]},
        _nav_menu(names, active)]
    layout["sliders"] = [{
        "active": active, "x": 0, "len": 1, "y": 0, "yanchor": "top", "pad": {"t": 50, "b": 0},
        "currentvalue": {"prefix": prefix, "font": {"size": 13, "color": "#374151"}}, "ticklen": 0, "minorticklen": 0,
        "font": {"color": "rgba(0,0,0,0)", "size": 1},  # one label per cell would be unreadable: the value says it
        "steps": [{"label": label, "method": "animate", "args": [[name], _STILL]} for name, label in
                  zip(names, labels)]}]


def _assemble(traces: list[dict], layout: dict, frames: list[dict], active: int, height: int) -> AnimatedFigure:
    layout.update(height=height, margin={"l": 10, "r": 10, "t": 100, "b": 140}, plot_bgcolor="rgba(0,0,0,0)",
                  showlegend=False, hovermode="closest", dragmode=False)
    return AnimatedFigure(traces, layout, frames).opened_at(frames[active]["name"])


class AnimatedFigure(FrozenFigure):
    """A figure with frames, kept as the plain dicts it was built from and handed to the browser as they are.

    Why: plotly.py validates every property of every frame, even with ``_validate=False`` (3 s for 256 frames of
    a small convolution, where building the dicts takes milliseconds), and its ``to_dict`` deep-copies and walks
    the whole figure again on every draw (most of a cell click's server time). The dicts are checked once by
    tests/core/test_step_through.py (a validating ``go.Figure`` of ``to_dict()`` gives the same figure).
    Read it with ``to_dict()`` (a FrozenFigure's); change it with ``opened_at``.
    """

    def __init__(self, data=None, layout=None, frames=None, **kwargs) -> None:
        if isinstance(data, dict):  # unpickling passes what to_dict() returned
            data, layout, frames = data.get("data"), data.get("layout"), data.get("frames")
        super().__init__()
        self._raw = {"data": list(data or []), "layout": dict(layout or {}), "frames": list(frames or [])}

    @property
    def frame_dicts(self) -> list[dict]:
        return self._raw["frames"]

    def trace_index(self, name: str) -> int:
        return next(i for i, t in enumerate(self._raw["data"]) if t.get("name") == name)

    def opened_at(self, name: str, traces: dict[str, dict] | None = None) -> AnimatedFigure:
        """The same frames, drawn first at frame ``name`` (its data and layout merged in, the slider there);
        ``traces``: changes to static traces by name (e.g. a picked cell's outline). Cheap: frames are shared.
        """
        names = [f["name"] for f in self._raw["frames"]]
        k = names.index(name)
        frame = self._raw["frames"][k]
        data = list(self._raw["data"])
        for index, change in zip(frame["traces"], frame["data"]):
            data[index] = {**data[index], **change}
        for trace_name, change in (traces or {}).items():
            index = self.trace_index(trace_name)
            data[index] = {**data[index], **change}
        layout = dict(self._raw["layout"])
        for key, change in frame["layout"].items():  # merged as Plotly merges a frame into the layout
            if key == "updatemenus":
                menus = list(layout.get("updatemenus", []))
                for i, menu in enumerate(change):
                    menus[i] = {**menus[i], **menu}
                layout["updatemenus"] = menus
            else:
                layout[key] = {**layout.get(key, {}), **change}
        if layout.get("sliders"):
            layout["sliders"] = [{**layout["sliders"][0], "active": k}]
        return AnimatedFigure(data, layout, self._raw["frames"])


def _window_cells(coords: Sequence[np.ndarray], origin: tuple[int, int]) -> list[tuple[int, int]]:
    """(row, col) axis coordinates of a window given per-axis padded coordinates; 1-D windows sit on row 0."""
    if len(coords) == 1:
        return [(0, int(c) - origin[1]) for c in coords[0]]
    return [(int(r) - origin[0], int(c) - origin[1]) for r in coords[0] for c in coords[1]]


# ---- convolution -----------------------------------------------------------------------------------


def convolution_animation(steps: ConvolutionSteps, out_channel: int = 0, focus: int = 0, *,
                          max_frames: int = MAX_FRAMES, map_title: str = "Output",
                          block: range | None = None) -> AnimatedFigure:
    """The convolution ``steps`` of output map ``out_channel``, one frame per output cell.

    Panels: each input channel (padded; axes in input coordinates, padding −1, −2, … and n, n + 1, …) with the
    window outlined, the kernel slice as applied, window × kernel, and the output map filling in. Frame ``k`` of
    ``frames`` is cell ``block[k]`` (default ``frame_block``'s around ``focus``); it opens on cell ``focus``. A picked input cell and
    the outputs it feeds are drawn with ``figure.opened_at(name, convolution_pick(steps, cell))``. Inputs wider than ``ZOOM_SIDE``
    are zoomed on the window, frame by frame (the axes move, the numbers stay readable).
    Example: ``convolution_animation(convolution_steps(x, w, padding=1)).frames[3].layout.title.text``.
    """
    if not 0 <= out_channel < steps.out_channels:
        raise ValueError(f"output map {out_channel} does not exist: there are {steps.out_channels} (0 … "
                         f"{steps.out_channels - 1})")
    one_d = len(steps.input_shape) == 1
    n = steps.cells_per_map
    focus = min(max(int(focus), 0), n - 1)
    map_shape = (1, steps.map_shape[0]) if one_d else tuple(steps.map_shape)
    block = block or frame_block(n, focus, max_frames, map_shape[1])
    channels = steps.channels
    top, left = (0, steps.padding[0][0]) if one_d else (steps.padding[0][0], steps.padding[1][0])
    origin = (-top, -left)  # input coordinates of the padded grid's first cell
    padded = [np.atleast_2d(steps.padded[c]) for c in range(channels)]
    zoomed = not one_d and max(padded[0].shape) > ZOOM_SIDE
    in_range = _zrange(np.stack(padded))
    kernel = steps.kernel[out_channel]  # (C, *k) as applied
    kernel_grids = [np.atleast_2d(kernel[c]) for c in range(channels)]
    bound = float(np.abs(kernel).max() * np.abs(np.stack(padded)).max()) or 1.0  # no product is larger
    product_range = (-bound, bound)
    out_map = np.atleast_2d(steps.maps[out_channel])

    xs, ys = _domains([4, 2, 2, 4], channels)
    layout: dict = {"annotations": []}
    traces: list[dict] = []
    panel = 0
    per_frame: list[int] = []  # trace indices the frames change, in the order frames list them
    frame_of = {}  # role → trace index
    input_panels = []
    for c in range(channels):
        suffix = f" {c}" if channels > 1 else ""
        panel += 1
        input_panels.append(panel)
        shape = padded[c].shape
        _panel_axes(layout, panel, shape, origin, (xs[0], ys[c]), f"Input{suffix} (padded)", not one_d)
        traces.append(_heatmap(padded[c], panel, origin=origin, zrange=in_range, hover_name="input", hover=False,
                               text=True))  # large inputs are zoomed frame by frame: numbers stay readable
        if any(b or a for b, a in steps.padding):  # the real input, dashed, inside its padding
            real = [(r, cc) for r in range(steps.input_shape[0] if not one_d else 1)
                    for cc in range(steps.input_shape[-1])]
            xs_f, ys_f = _frame_xy(real)
            traces.append({**_outline([], panel, STYLE["frame"], 2, "real input", "dash"), "x": xs_f, "y": ys_f})
        traces.append(_outline([], panel, STYLE["picked"], 4, f"picked input {c}"))  # see convolution_pick
        traces.append(_click_targets(shape, panel, f"input cells {c}", padded[c], "input", origin))
        frame_of[f"window {c}"] = len(traces)
        traces.append(_outline([], panel, STYLE["window"], 3, f"window {c}"))
        panel += 1
        k_shape = kernel_grids[c].shape
        _panel_axes(layout, panel, k_shape, (0, 0), (xs[1], ys[c]),
                    "Kernel" + (" (flipped)" if steps.flip else "") + (f" slice {c}" if channels > 1 else ""), False)
        traces.append(_heatmap(kernel_grids[c], panel, signed=True, hover_name="weight"))
        panel += 1
        _panel_axes(layout, panel, k_shape, (0, 0), (xs[2], ys[c]), f"Window × kernel{suffix}", False)
        frame_of[f"products {c}"] = len(traces)
        traces.append(_heatmap(np.zeros(k_shape), panel, zrange=product_range, hover_name="product",
                               name=f"products {c}"))
    panel += 1
    _panel_axes(layout, panel, map_shape, (0, 0), (xs[3], ys[0]), map_title, not one_d)
    traces.append(_heatmap(out_map, panel, signed=_zrange(out_map)[0] < 0, hover_name="output", hover=False,
                           text=max(map_shape) <= 24, name="output map"))
    frame_of["cover"] = len(traces)
    traces.append(_cover(panel))
    traces.append(_outline([], panel, STYLE["picked"], 4, "fed outputs"))
    traces.append(_click_targets(map_shape, panel, "output cells", out_map, "output"))
    frame_of["current"] = len(traces)
    traces.append(_outline([], panel, STYLE["window"], 3, "current output cell"))
    per_frame = [frame_of[f"window {c}"] for c in range(channels)] + [frame_of[f"products {c}"] for c in
                                                                     range(channels)] + [frame_of["cover"],
                                                                                         frame_of["current"]]

    names = [str(i + 1) for i in block]
    frames = []
    for k, cell in enumerate(block):
        position = tuple(int(p) for p in np.unravel_index(cell, steps.map_shape))
        step = steps[steps.index(out_channel, *position)]
        window = _window_cells(step.padded_coords, (top, left))
        out_cell = (0, position[0]) if one_d else position
        window_xy = _frame_xy(window) if all(d == 1 for d in steps.dilation) else _outline_xy(window)
        data = [_xy(window_xy) for _ in range(channels)]
        data += [{"type": "heatmap", "z": np.atleast_2d(step.products[c]),
                  "text": _texts(np.atleast_2d(step.products[c]))} for c in range(channels)]
        data += [_xy(_cover_xy(cell + 1, map_shape)), _xy(_outline_xy([out_cell]))]
        frame_layout: dict = {"title": {"text": _convolution_title(steps, step, cell, n, one_d)},
                              "updatemenus": [{}, nav_row(names, k)]}
        if zoomed:
            r0, r1, c0, c1 = view_box(padded[0].shape, np.mean(window, axis=0) + (top, left), ZOOM_SIDE)
            for p in input_panels:
                frame_layout[f"xaxis{_axis(p)}"] = {"range": [c0 - left - 0.5, c1 - left + 0.5]}
                frame_layout[f"yaxis{_axis(p)}"] = {"range": [r1 - top + 0.5, r0 - top - 0.5]}
        frames.append({"name": names[k], "data": data, "traces": per_frame, "layout": frame_layout})
    player(layout, names, names, block.index(focus) if focus in block else 0, "Cell ")
    height = 150 + max(300, 80 * max(map_shape[0], 1)) if channels == 1 else 130 + 250 * channels
    return _assemble(traces, layout, frames, block.index(focus) if focus in block else 0, min(height, 900))


def convolution_pick(steps: ConvolutionSteps, picked: tuple[int, ...] | None) -> dict[str, dict]:
    """Trace changes for ``AnimatedFigure.opened_at``: input cell ``picked`` (input coordinates; None = none)
    outlined in purple on every channel, and every output cell it feeds. Raises ValueError outside the input."""
    one_d = len(steps.input_shape) == 1
    fed = steps.outputs_using(*picked) if picked is not None else []
    cell = [] if picked is None else [(0, picked[0])] if one_d else [tuple(picked)]
    changes = {f"picked input {c}": _xy(_outline_xy(cell)) for c in range(steps.channels)}
    changes["fed outputs"] = _xy(_outline_xy([(0, p[0]) if one_d else p for p in fed]))
    return changes


def _frame_xy(cells: list[tuple[int, int]]) -> tuple[list, list]:
    rows = [r for r, _ in cells]
    cols = [c for _, c in cells]
    r0, r1, c0, c1 = min(rows) - 0.5, max(rows) + 0.5, min(cols) - 0.5, max(cols) + 0.5
    return [c0, c1, c1, c0, c0], [r0, r0, r1, r1, r0]


def _convolution_title(steps: ConvolutionSteps, step, cell: int, n: int, one_d: bool) -> str:
    where = ", ".join(map(str, step.position))
    names = ["positions"] if one_d else ["rows", "columns"]
    window = ", ".join(f"{name} {span_text(c)}" for name, c in zip(names, step.input_coords))
    if steps.channels > 1:
        total = " + ".join(format_number(s) for s in step.channel_sums) + f" = {format_number(step.total)}"
    else:
        total = format_number(step.total)
    padding = " (cells outside the dashed frame are zero padding)" if step.is_padding.any() else ""
    return (f"<b>Cell {cell + 1} of {n}</b> — output[{where}] = Σ products {total} + bias "
            f"{format_number(step.bias)} = <b>{format_number(step.result)}</b>"
            f"<br><span style='font-size:12px'>the window covers input {window}{padding}</span>")


# ---- pooling ---------------------------------------------------------------------------------------


def pooling_animation(steps: PoolingSteps, channel: int = 0, focus: int = 0, *,
                      max_frames: int = MAX_FRAMES, block: range | None = None) -> AnimatedFigure:
    """Max or average pooling of one ``channel``, one frame per output cell: the padded input with the window
    outlined (and, for max pooling, the winner in green), the window's values, and the output filling in.
    Example: ``pooling_animation(pooling_steps(x, "max", 2)).frames[0].layout.title.text``.
    """
    if not 0 <= channel < steps.channels:
        raise ValueError(f"channel {channel} does not exist: there are {steps.channels} (0 … {steps.channels - 1})")
    n = steps.cells_per_map
    focus = min(max(int(focus), 0), n - 1)
    block = block or frame_block(n, focus, max_frames, steps.map_shape[1])
    (top, _), (left, _) = steps.padding
    origin = (-top, -left)
    padded = steps.padded[channel]
    out_map = steps.maps[channel]
    xs, ys = _domains([4, 2, 4], 1)
    layout: dict = {"annotations": []}
    _panel_axes(layout, 1, padded.shape, origin, (xs[0], ys[0]), "Input (padded)", True)
    _panel_axes(layout, 2, steps.kernel, (0, 0), (xs[1], ys[0]), "Window", False)
    _panel_axes(layout, 3, tuple(steps.map_shape), (0, 0), (xs[2], ys[0]), "Output", True)
    in_range = _zrange(padded)
    traces = [_heatmap(padded, 1, origin=origin, zrange=in_range, hover_name="input", text=max(padded.shape) <= 32)]
    if top or left:
        traces.append({**_outline([], 1, STYLE["frame"], 2, "real input", "dash"),
                       **_xy(_frame_xy([(0, 0), (steps.input_shape[0] - 1, steps.input_shape[1] - 1)]))})
    roles = {"window": len(traces)}
    traces.append(_outline([], 1, STYLE["window"], 3, "window"))
    roles["winner"] = len(traces)
    traces.append(_outline([], 1, STYLE["winner"], 5, "winner"))
    roles["values"] = len(traces)
    traces.append(_heatmap(np.zeros(steps.kernel), 2, zrange=in_range, hover_name="input", name="window values"))
    traces.append(_heatmap(out_map, 3, zrange=_zrange(out_map), hover_name="output", text=max(out_map.shape) <= 24,
                           name="output map"))
    roles["cover"] = len(traces)
    traces.append(_cover(3))
    roles["current"] = len(traces)
    traces.append(_outline([], 3, STYLE["window"], 3, "current output cell"))
    per_frame = [roles[r] for r in ("window", "winner", "values", "cover", "current")]
    names = [str(i + 1) for i in block]
    frames = []
    for k, cell in enumerate(block):
        step = steps[steps.index(channel, *divmod(cell, steps.map_shape[1]))]
        rows, cols = step.input_coords
        winner = [] if step.argmax is None else [(int(rows[step.argmax[0]]), int(cols[step.argmax[1]]))]
        data = [_xy(_frame_xy([(int(rows[0]), int(cols[0])), (int(rows[-1]), int(cols[-1]))])),
                _xy(_outline_xy(winner)),
                {"type": "heatmap", "z": np.where(np.isfinite(step.window), step.window, np.nan),
                 "text": _texts(step.window)},
                _xy(_cover_xy(cell + 1, tuple(steps.map_shape))), _xy(_outline_xy([step.position]))]
        frames.append({"name": names[k], "data": data, "traces": per_frame,
                       "layout": {"title": {"text": _pooling_title(steps, step, cell, n)},
                                  "updatemenus": [{}, nav_row(names, k)]}})
    active = block.index(focus) if focus in block else 0
    player(layout, names, names, active, "Cell ")
    height = 150 + max(300, min(60 * max(padded.shape), 560))
    return _assemble(traces, layout, frames, active, height)


def _pooling_title(steps: PoolingSteps, step, cell: int, n: int) -> str:
    where = f"{step.position[0]}, {step.position[1]}"
    if steps.kind == "max":
        real = int((~step.is_padding).sum())
        explain = (f"max of the {real} real values (padding is −∞ and never wins) = <b>{format_number(step.result)}"
                   f"</b>, found at input row {span_text([step.input_coords[0][step.argmax[0]]])}, column "
                   f"{span_text([step.input_coords[1][step.argmax[1]]])} (green)")
    else:
        values = " + ".join(format_number(v) for v in step.window.ravel())
        explain = (f"({values}) / {step.divisor} = <b>{format_number(step.result)}</b>"
                   + ("<br><span style='font-size:12px'>padding zeros count in the divisor (PyTorch's "
                      "count_include_pad=True)</span>" if step.is_padding.any() else ""))
    return f"<b>Cell {cell + 1} of {n}</b> — output[{where}]: {explain}"


# ---- transposed convolution ------------------------------------------------------------------------


def transposed_animation(steps: TransposedSteps, focus: int = 0) -> AnimatedFigure:
    """``F.conv_transpose2d`` one input cell a frame (input channel 0, output map 0): the input with the cell
    outlined, the kernel, value × kernel, the canvas of stamps so far (the kept part dashed) and the output so far.
    Few frames (the page allows at most 6 × 6 inputs), so each carries the whole canvas and output.
    Example: ``transposed_animation(TransposedSteps(x, w, stride=2)).frames[1].layout.title.text``.
    """
    n = len(steps)
    focus = min(max(int(focus), 0), n - 1)
    pad_top, pad_left = steps.padding
    out_h, out_w = steps.map_shape
    x, kernel = steps.x[0], steps.kernel[0, 0]
    canvases = [steps.canvas_after(i)[0] for i in range(n)]  # (Hc, Wc) each
    outputs = [steps.crop(c[None])[0] for c in canvases]
    bound = max(float(np.abs(np.stack(canvases)).max()), float(np.abs(np.stack(outputs)).max())) or 1.0
    final_range = (-bound, bound)  # partial sums may pass the final ones: one scale over every frame
    xs, ys = _domains([1, 1, 1], 2)
    layout: dict = {"annotations": []}
    _panel_axes(layout, 1, x.shape, (0, 0), (xs[0], ys[0]), "Input", True)
    _panel_axes(layout, 2, kernel.shape, (0, 0), (xs[1], ys[0]), "Kernel", False)
    _panel_axes(layout, 3, kernel.shape, (0, 0), (xs[2], ys[0]), "value × kernel", False)
    canvas_origin = (-pad_top, -pad_left)
    both = [[xs[0][0], xs[1][1]], [xs[2][0], xs[2][1]]]
    _panel_axes(layout, 4, canvases[0].shape, canvas_origin, (both[0], ys[1]), "Stamps so far, before cutting", True)
    _panel_axes(layout, 5, (out_h, out_w), (0, 0), (both[1], ys[1]), "Output so far (+ bias)", True)
    traces = [_heatmap(x, 1, hover_name="input"), _outline([], 1, STYLE["window"], 3, "input cell"),
              _heatmap(kernel, 2, signed=True, hover_name="weight"),
              _heatmap(np.zeros(kernel.shape), 3, signed=True, hover_name="value × weight", name="value × kernel"),
              _heatmap(canvases[0], 4, origin=canvas_origin, zrange=final_range, hover_name="sum", name="stamps"),
              {**_outline([], 4, STYLE["frame"], 2, "kept", "dash"),
               **_xy(_frame_xy([(0, 0), (out_h - 1, out_w - 1)]))},
              _outline([], 4, STYLE["window"], 3, "stamp"),
              _heatmap(outputs[0], 5, zrange=final_range, hover_name="output", name="output so far"),
              _outline([], 5, STYLE["window"], 3, "stamp kept")]
    per_frame = [1, 3, 4, 6, 7, 8]
    block_bound = float(np.abs(x).max() * np.abs(kernel).max()) or 1.0
    traces[3].update(zmin=-block_bound, zmax=block_bound)
    names = [str(i + 1) for i in range(n)]
    frames = []
    for i in range(n):
        step = steps[i]
        rows, cols = step.canvas_rows - pad_top, step.canvas_cols - pad_left  # output coordinates
        cells = [(int(r), int(c)) for r in rows for c in cols]
        kept = [(r, c) for r, c in cells if 0 <= r < out_h and 0 <= c < out_w]
        data = [_xy(_outline_xy([step.position])),
                {"type": "heatmap", "z": step.block[0], "text": _texts(step.block[0])},
                {"type": "heatmap", "z": canvases[i], "text": _texts(canvases[i])},
                _xy(_outline_xy(cells)),
                {"type": "heatmap", "z": outputs[i], "text": _texts(outputs[i])},
                _xy(_outline_xy(kept))]
        value = format_number(step.values[0])
        title = (f"<b>Input cell {i + 1} of {n}</b> — row {step.position[0]}, column {step.position[1]}, value "
                 f"<b>{value}</b>: adds {value} × kernel to output rows {span_text(rows)}, columns "
                 f"{span_text(cols)}<br><span style='font-size:12px'>negative or past the end: cut off by the "
                 "padding; the dashed frame is what is kept</span>")
        frames.append({"name": names[i], "data": data, "traces": per_frame,
                       "layout": {"title": {"text": title},
                                  "updatemenus": [{}, nav_row(names, i)]}})
    player(layout, names, names, focus, "Input cell ")
    return _assemble(traces, layout, frames, focus, 740)
