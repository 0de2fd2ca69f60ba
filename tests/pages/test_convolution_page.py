"""AppTest: the Convolution page's animated step-through holds real numbers in every frame, switches to true
convolution, explains impossible settings without a traceback, and takes its kernels from a trained run (or says
there is none). Stepping itself happens in the browser (tests/e2e/test_lessons_flow.py); here the frames are read
from the figure the page sends, and a click is what its handler stores (``conv_step`` / ``conv_pick``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.patience import PATIENT_S
from vision_core.figures.convolution import format_number
from vision_core.lessons import kernels
from vision_core.lessons.convolution import convolve

APP = Path(__file__).resolve().parents[2] / "app.py"
PAGE = "pages/convolution.py"
EXAMPLE = kernels.WORKED_EXAMPLES["2-D"]


def open_page() -> AppTest:
    """The page inside app.py's navigation, as users see it."""
    at = AppTest.from_file(str(APP), default_timeout=PATIENT_S)
    at.switch_page(PAGE)
    return at.run()


@pytest.fixture
def page(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))  # no runs
    at = open_page()
    assert not at.exception
    return at


def chart(at: AppTest, key: str) -> dict:
    import json

    (element,) = [e for e in at.get("plotly_chart") if e.proto.id.endswith(key)]
    return json.loads(element.proto.spec)


def title_cell(title: str) -> tuple[str, str]:
    """("output[i, j]", its value as written) from a frame's title."""
    match = re.search(r"(output\[[^\]]*\]) = .* = <b>([^<]*)</b>", title)
    assert match, title
    return match.group(1), match.group(2)


def shown(at: AppTest) -> tuple[str, str]:
    """The cell the step-through opens on (the browser steps from there)."""
    return title_cell(chart(at, "conv_anim")["layout"]["title"]["text"])


def frame(at: AppTest, cell: int) -> tuple[str, str]:
    """What the browser shows on cell ``cell`` (1-based, as the slider says) after Next / Previous / Play."""
    (found,) = [f for f in chart(at, "conv_anim")["frames"] if f["name"] == str(cell)]
    return title_cell(found["layout"]["title"]["text"])


def test_opens_on_the_textbook_example_with_its_expected_output(page):
    assert shown(page) == ("output[0, 0]", "11")  # true convolution, padding 1: the book's first cell
    assert any("= 4`" in m.value for m in page.markdown)  # the output-size formula with numbers
    assert "Σ products 11 + bias 0 = <b>11</b>" in chart(page, "conv_anim")["layout"]["title"]["text"]


def test_every_frame_holds_its_cell_and_the_sum_matches_convolve(page):
    """Next, Previous and Play move through these frames in the browser, without the server."""
    expected = convolve(EXAMPLE.x, EXAMPLE.kernel, padding=1, flip=True)
    spec = chart(page, "conv_anim")
    assert [f["name"] for f in spec["frames"]] == [str(i) for i in range(1, 17)]
    for cell in range(16):
        row, col = divmod(cell, 4)
        assert frame(page, cell + 1) == (f"output[{row}, {col}]", format_number(expected[row, col]))
    buttons = {b["label"] for menu in spec["layout"]["updatemenus"] for b in menu["buttons"]}
    assert {"▶ Play", "⏸ Pause", "◀ Previous", "Next ▶"} <= buttons


def test_switching_to_cross_correlation_changes_the_result(page):
    page.radio(key="conv_type").set_value(page.radio(key="conv_type").options[0]).run()
    cross = convolve(EXAMPLE.x, EXAMPLE.kernel, padding=1)
    assert not page.exception
    assert frame(page, 6) == ("output[1, 1]", format_number(cross[1, 1]))
    assert cross[1, 1] != convolve(EXAMPLE.x, EXAMPLE.kernel, padding=1, flip=True)[1, 1]


def test_an_impossible_setting_is_one_error_not_a_traceback(page):
    page.selectbox(key="conv_padding_mode").set_value("valid").run()
    page.number_input(key="conv_dilation").set_value(3).run()  # a 7-cell span on a 4×4 input
    assert not page.exception
    assert any("spans 7 cells" in e.value for e in page.error)
    page.number_input(key="conv_dilation").set_value(1).run()
    assert not page.error and shown(page)[0] == "output[0, 0]"


def test_same_padding_with_stride_two_is_explained(page):
    page.selectbox(key="conv_padding_mode").set_value("same").run()
    page.number_input(key="conv_stride").set_value(2).run()
    assert not page.exception and any("stride 1" in e.value for e in page.error)


def test_the_pytorch_code_is_shown(page):
    (code,) = [c for c in page.code if "F.conv2d" in c.value]
    assert "torch.flip" in code.value and "padding=1" in code.value


def test_one_d_mode_steps_through_the_textbook_signal(page):
    page.radio(key="conv_dims").set_value("1-D signal").run()
    assert not page.exception
    assert shown(page) == ("output[0]", "5")
    assert frame(page, 8) == ("output[7]", "22")


def test_presets_on_a_photo_give_several_output_maps(page):
    page.radio(key="conv_source").set_value("Sample photo").run()
    page.radio(key="conv_kernel_source").set_value("Preset(s)").run()
    page.multiselect(key="conv_presets").set_value(["sobel x", "sobel y"]).run()
    page.selectbox(key="conv_out_channel").set_value(1).run()
    assert not page.exception
    assert page.selectbox(key="conv_out_channel").options == ["map 0 (sobel x)", "map 1 (sobel y)"]
    assert len(page.get("image")) >= 3  # the photo, the whole photo and its convolution


def test_multichannel_numbers_show_partial_sums(page):
    page.radio(key="conv_source").set_value("Your numbers").run()
    page.number_input(key="conv_channels").set_value(3).run()
    assert not page.exception
    spec = chart(page, "conv_anim")
    assert re.search(r"Σ products \S+ \+ \S+ \+ \S+ = ", spec["layout"]["title"]["text"])  # one sum per channel
    titles = {a["text"] for a in spec["layout"]["annotations"]}
    assert {"<b>Window × kernel 0</b>", "<b>Window × kernel 2</b>"} <= titles


def test_dataset_image_input(page):
    page.radio(key="conv_source").set_value("Dataset image").run()
    assert not page.exception and shown(page)[0] == "output[0, 0]"


def test_kernels_from_a_run_without_runs_say_so(page):
    page.radio(key="conv_kernel_source").set_value("From a trained run").run()
    assert not page.exception
    assert any("No runs yet" in i.value for i in page.info)


class FakeRun:
    """Just what the page reads from a run record (vision_core.runs.store.RunRecord's fields)."""

    def __init__(self, path: Path):
        self.run_id, self.path, self.state = "20260101-000000-tiny-digits-0000", path, "running"
        self.config = type("Config", (), {"model": "tiny", "dataset": "digits"})()
        self.data_info = {"mean": [0.5], "std": [0.25]}
        self.summary, self.owner = None, None  # the run picker ranks runs by accuracy and owner
        (path / "checkpoints").mkdir(parents=True)
        (path / "checkpoints" / "last.ckpt").write_bytes(b"weights")

    def checkpoint(self, which: str = "best") -> Path:
        return self.path / "checkpoints" / "last.ckpt"


def test_kernels_of_a_runs_first_conv_layer_with_its_normalisation(tmp_path, monkeypatch):
    import torch

    from vision_core.runs import store as runs

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 3)).eval()
    record = FakeRun(tmp_path / "run")
    monkeypatch.setattr(runs, "list_runs", lambda root=None: [record])
    monkeypatch.setattr(runs, "load_run", lambda run_id, root=None: record)
    monkeypatch.setattr(runs, "load_model", lambda run, which="best", root=None: net)
    at = open_page()
    at.radio(key="conv_source").set_value("Sample photo").run()
    at.radio(key="conv_colour").set_value("RGB (3)").run()  # converted to the layer's 1 channel
    at.radio(key="conv_kernel_source").set_value("From a trained run").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="conv_out_channel").options == [f"map {o}" for o in range(4)]
    assert any("converted to 1 channel" in c.value for c in at.caption)
    at.selectbox(key="conv_out_channel").set_value(2).run()
    from vision_core.data import images

    photo = images.sample_photos()[at.selectbox(key="conv_photo").value]
    rgb = images.to_channels_first(images.resize_for_display(photo, 24))
    gray = np.tensordot([0.299, 0.587, 0.114], rgb, 1)
    x = (gray[None] - 0.5) / 0.25  # (1, H, W)
    weight, bias = net[0].weight.detach().double().numpy(), net[0].bias.detach().double().numpy()
    flip = at.radio(key="conv_type").value.startswith("True")
    expected = convolve(x, weight[2], padding=int(at.number_input(key="conv_padding").value), flip=flip, bias=bias[2])
    assert frame(at, 2) == ("output[0, 1]", format_number(expected[0, 1]))


@pytest.fixture(scope="module")
def trained_root(tmp_path_factory):
    """One real, very short LeNet-on-digits run."""
    from vision_core.config import RunConfig
    from vision_core.training import engine

    root = tmp_path_factory.mktemp("conv_runs")
    engine.train(RunConfig(dataset="digits", model="lenet", epochs=1, snapshot_every=0, name="conv-page"),
                 root=root, trainer_options={"limit_train_batches": 2})
    return root


def test_kernels_from_a_trained_run_step_through_its_first_layer(trained_root, monkeypatch):
    import torch

    from vision_core.runs import store as runs

    monkeypatch.setenv("VISION_CORE_RUNS", str(trained_root))
    at = open_page()
    at.radio(key="conv_source").set_value("Dataset image").run()
    at.radio(key="conv_kernel_source").set_value("From a trained run").run()
    assert not at.exception, at.exception
    (record,) = runs.list_runs(trained_root)
    conv = next(m for m in runs.load_model(record, "last").modules() if isinstance(m, torch.nn.Conv2d))
    assert at.selectbox(key="conv_out_channel").options[-1] == f"map {conv.out_channels - 1}"
    at.checkbox(key="conv_normalise").uncheck().run()
    image = __import__("vision_core.data.datasets", fromlist=["load"]).load("digits").test[0][0].double().numpy()
    padding = int(at.number_input(key="conv_padding").value)
    weight, bias = conv.weight.detach().double().numpy(), conv.bias.detach().double().numpy()
    flip = at.radio(key="conv_type").value.startswith("True")
    expected = convolve(image, weight[0], padding=padding, flip=flip, bias=bias[0])
    assert shown(at) == ("output[0, 0]", format_number(expected[0, 0]))


# ---- clicks (their effect: the picked cell and the step), zoom, transposed convolution ---------------


def values(value) -> np.ndarray:
    """Plotly's JSON writes numpy arrays as {"dtype", "bdata", "shape"} (base64); lists stay lists."""
    import base64

    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return flat.reshape([int(v) for v in str(value.get("shape", len(flat))).split(",")])
    return np.asarray(value)


def outlined(spec: dict, name: str, frame_name: str | None = None) -> set[tuple[float, float]]:
    """Centres (row, column) of the squares a trace outlines (each square: 5 corners and a gap), in the figure's
    axis coordinates; from frame ``frame_name`` when given (what the browser shows there), else as opened."""
    index = next(i for i, t in enumerate(spec["data"]) if t.get("name") == name)
    xy = spec["data"][index]
    if frame_name is not None:
        found = next(f for f in spec["frames"] if f["name"] == frame_name)
        xy = dict(zip(found["traces"], found["data"])).get(index, xy)
    xs, ys = values(xy["x"]), values(xy["y"])
    return {((ys[i] + ys[i + 2]) / 2, (xs[i] + xs[i + 1]) / 2) for i in range(0, len(xs) - 4, 6 if len(xs) % 6 == 0
                                                                                 else 5)}


def test_a_picked_input_cell_outlines_every_output_it_feeds(page):
    page.session_state["conv_pick"] = (0, 0)  # what clicking input cell (row 0, column 0) stores
    page.run()
    assert not page.exception
    (line,) = [m.value for m in page.markdown if m.value.startswith("Input cell (")]
    assert "Input cell (row 0, column 0) feeds **4** output cell(s)" in line
    spec = chart(page, "conv_anim")
    assert outlined(spec, "fed outputs") == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert outlined(spec, "picked input 0") == {(0, 0)}
    page.button(key="conv_clear_pick").click().run()
    assert not [m for m in page.markdown if m.value.startswith("Input cell (")]
    assert not outlined(chart(page, "conv_anim"), "fed outputs")


def test_a_cell_the_stride_steps_over_feeds_nothing_and_a_stale_pick_is_dropped(page):
    page.selectbox(key="conv_padding_mode").set_value("valid").run()
    page.number_input(key="conv_stride").set_value(3).run()
    page.session_state["conv_pick"] = (3, 3)
    page.run()
    assert any("feeds **0** output cell(s), outlined in purple: none — the stride steps over it" in m.value
               for m in page.markdown)
    page.session_state["conv_pick"] = (7, 7)  # outside this input (a pick left from other settings)
    page.run()
    assert not page.exception and not page.error
    assert not [m for m in page.markdown if m.value.startswith("Input cell (")]


def test_each_frame_names_the_window_in_the_axes_coordinates(page):
    spec = chart(page, "conv_anim")
    (six,) = [f for f in spec["frames"] if f["name"] == "6"]  # output (1, 1): input rows 0 … 2, columns 0 … 2
    assert "the window covers input rows 0 … 2, columns 0 … 2" in six["layout"]["title"]["text"]
    assert outlined(spec, "window 0", "6") == {(1.0, 1.0)}  # one square around the 3 × 3 window, centred on (1, 1)
    heat = spec["data"][0]
    assert spec["layout"]["xaxis"]["title"]["text"] == "column" and values(heat["y"])[0] == -1


def test_a_large_photo_is_zoomed_frame_by_frame_with_its_numbers(page):
    page.radio(key="conv_source").set_value("Sample photo").run()
    page.slider(key="conv_photo_side").set_value(64).run()
    page.session_state["conv_step"] = 40
    page.run()
    assert not page.exception
    spec = chart(page, "conv_anim")
    assert spec["data"][0].get("texttemplate") == "%{text}"  # numbers, readable in the zoomed view
    assert "Cell 41 of" in spec["layout"]["title"]["text"]
    for found in spec["frames"][:50]:
        (r1, r0), (c0, c1) = found["layout"]["yaxis"]["range"], found["layout"]["xaxis"]["range"]
        assert r1 - r0 <= 9 and c1 - c0 <= 9  # a 9 × 9 view …
        window = outlined(spec, "window 0", found["name"])
        assert all(r0 < r < r1 and c0 < c < c1 for r, c in window)  # … around the window
    assert len(spec["frames"]) <= 256  # a bounded block of the 4096 cells


def test_clicking_an_output_cell_opens_the_step_through_there(page):
    """The click handler's effect: it stores the cell's step (AppTest cannot click a Plotly chart)."""
    page.session_state["conv_step"] = 6
    page.run()
    assert shown(page)[0] == "output[1, 2]"
    assert chart(page, "conv_anim")["layout"]["sliders"][0]["active"] == 6


def test_transposed_convolution_step_by_step(page):
    page.radio(key="conv_mode").set_value("Transposed convolution").run()
    assert not page.exception
    assert any("`rows: (3 − 1)·2 − 2·0 + 1·(3 − 1) + 0 + 1 = 7`" in m.value for m in page.markdown)
    assert any("F.conv_transpose2d` gives exactly this output" in c.value for c in page.caption)
    spec = chart(page, "conv_t_anim")
    (second,) = [f for f in spec["frames"] if f["name"] == "2"]
    assert second["layout"]["title"]["text"].startswith("<b>Input cell 2 of 9</b>")
    assert "output rows 0 … 2, columns 2 … 4" in second["layout"]["title"]["text"]  # stride 2: two columns on
    page.number_input(key="conv_t_padding").set_value(1).run()
    page.number_input(key="conv_t_output_padding").set_value(1).run()
    assert any("= 6`" in m.value for m in page.markdown)
    spec = chart(page, "conv_t_anim")
    output = next(t for t in spec["data"] if t.get("name") == "output so far")
    assert values(output["x"]).tolist() == list(range(6))
    canvas = next(t for t in spec["data"] if t.get("name") == "stamps")
    assert values(canvas["y"])[0] == -1  # the canvas's first row is padding, cut off: row −1 of the output
    import torch
    import torch.nn.functional as F

    x = np.random.default_rng(11).integers(0, 10, (3, 3)) % 4  # the page's starting numbers
    w = np.random.default_rng(12).integers(0, 10, (3, 3)) % 3 + 1
    expected = F.conv_transpose2d(torch.tensor(x, dtype=torch.float64)[None, None],
                                  torch.tensor(w, dtype=torch.float64)[None, None], stride=2, padding=1,
                                  output_padding=1)[0, 0].numpy()
    last = spec["frames"][-1]  # the last stamp: the output is complete
    index = spec["data"].index(output)
    np.testing.assert_allclose(values(dict(zip(last["traces"], last["data"]))[index]["z"]), expected)
    page.number_input(key="conv_t_output_padding").set_value(2).run()
    assert not page.exception
    assert any("output padding 2 must be smaller than the stride (2)" in e.value for e in page.error)


def test_picking_a_cell_of_a_1d_signal(page):
    page.radio(key="conv_dims").set_value("1-D signal").run()
    page.session_state["conv_pick"] = (0,)
    page.run()
    assert any("Input cell (position 0) feeds **3** output cell(s), outlined in purple: output[0], output[1], "
               "output[2]." in m.value for m in page.markdown)  # padding 2, a 5-cell kernel
    page.session_state["conv_pick"] = (0, 0)  # a 2-D pick from before: forgotten, no error
    page.run()
    assert not page.exception and not [m for m in page.markdown if m.value.startswith("Input cell (")]



def test_a_second_student_on_a_photo_builds_no_figure_and_gets_the_pictures_as_made_once(tmp_path, monkeypatch):
    """The kernel, the side-by-side maps and the whole-photo pictures are made once per input for every student."""
    from tests.pages.apptest import figures_built

    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))

    def on_a_photo() -> AppTest:
        at = open_page()
        at.radio(key="conv_source").set_value("Sample photo").run()
        at.radio(key="conv_kernel_source").set_value("Preset(s)").run()
        at.toggle(key="conv_side_by_side").set_value(True).run()
        assert not at.exception
        return at

    on_a_photo()
    with figures_built() as built:
        at = on_a_photo()
    assert built[0] == 0
    assert {"conv_kernel_given", "conv_side_cros", "conv_side_true"} <= {
        e.proto.id.rsplit("-", 1)[-1].lower() for e in at.get("plotly_chart")}
    urls = [img.url for element in at.get("image") for img in element.proto.imgs]
    assert len(urls) >= 3 and all(url.startswith("data:image/png;base64,") for url in urls)


def test_the_whole_photo_picture_is_what_convolve_computes():
    import base64
    import io

    from PIL import Image

    from ui import conv_controls
    from vision_core.data import images

    rng = np.random.default_rng(0)
    full = rng.random((1, 40, 52))
    kernel = np.stack([kernels.kernel_preset("sobel x", 3)])
    for stride, padding, flip, bias in ((1, 0, False, 0.0), (2, 1, True, 0.5)):
        url, (width, height) = conv_controls.whole_photo(full, kernel, stride, padding, 1, flip, bias)
        expected = images.to_display(convolve(full, kernel, stride, padding, 1, flip, bias))
        shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
        assert np.array_equal(shown, expected) and (height, width) == expected.shape
