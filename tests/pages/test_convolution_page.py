"""AppTest: the Convolution page steps through real numbers, switches to true convolution, explains impossible
settings without a traceback, and takes its kernels from a trained run (or says there is none)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from vision_core import kernels
from vision_core.conv_figures import format_number
from vision_core.convolution import convolve

APP = Path(__file__).resolve().parents[2] / "app.py"
PAGE = "pages/convolution.py"
EXAMPLE = kernels.WORKED_EXAMPLES["2-D"]


def open_page() -> AppTest:
    """The page inside app.py's navigation, as users see it."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.switch_page(PAGE)
    return at.run()


@pytest.fixture
def page(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))  # no runs
    at = open_page()
    assert not at.exception
    return at


def shown(at: AppTest) -> tuple[str, str]:
    (metric,) = [m for m in at.metric if m.label.startswith("output[")]
    return metric.label, metric.value


def test_opens_on_the_textbook_example_with_its_expected_output(page):
    assert shown(page) == ("output[0, 0]", "11")  # true convolution, padding 1: the book's first cell
    assert any("= 4`" in m.value for m in page.markdown)  # the output-size formula with numbers
    assert any("Σ products = 11; + bias 0 = **11**" in m.value for m in page.markdown)


def test_next_moves_one_cell_and_the_sum_matches_convolve(page):
    expected = convolve(EXAMPLE.x, EXAMPLE.kernel, padding=1, flip=True)
    page.button(key="conv_next").click().run()
    assert page.slider(key="conv_step").value == 1
    assert shown(page) == ("output[0, 1]", format_number(expected[0, 1]))
    page.slider(key="conv_step").set_value(6).run()
    assert shown(page) == ("output[1, 2]", format_number(expected[1, 2]))
    page.button(key="conv_prev").click().run()
    assert shown(page) == ("output[1, 1]", format_number(expected[1, 1]))


def test_switching_to_cross_correlation_changes_the_result(page):
    page.slider(key="conv_step").set_value(5).run()
    page.radio(key="conv_type").set_value(page.radio(key="conv_type").options[0]).run()
    cross = convolve(EXAMPLE.x, EXAMPLE.kernel, padding=1)
    assert not page.exception
    assert shown(page) == ("output[1, 1]", format_number(cross[1, 1]))
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
    page.button(key="conv_last").click().run()
    assert shown(page) == ("output[7]", "22")


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
    assert sum("partial sum" in c.value for c in page.caption) == 3


def test_dataset_image_input(page):
    page.radio(key="conv_source").set_value("Dataset image").run()
    assert not page.exception and shown(page)[0] == "output[0, 0]"


def test_kernels_from_a_run_without_runs_say_so(page):
    page.radio(key="conv_kernel_source").set_value("From a trained run").run()
    assert not page.exception
    assert any("No runs yet" in i.value for i in page.info)


class FakeRun:
    """Just what the page reads from a run record (vision_core.runs.RunRecord's fields)."""

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

    from vision_core import runs

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
    at.button(key="conv_next").click().run()
    from vision_core import images

    photo = images.sample_photos()[at.selectbox(key="conv_photo").value]
    rgb = images.to_channels_first(images.resize_for_display(photo, 24))
    gray = np.tensordot([0.299, 0.587, 0.114], rgb, 1)
    x = (gray[None] - 0.5) / 0.25  # (1, H, W)
    weight, bias = net[0].weight.detach().double().numpy(), net[0].bias.detach().double().numpy()
    flip = at.radio(key="conv_type").value.startswith("True")
    expected = convolve(x, weight[2], padding=int(at.number_input(key="conv_padding").value), flip=flip, bias=bias[2])
    assert shown(at) == ("output[0, 1]", format_number(expected[0, 1]))


@pytest.fixture(scope="module")
def trained_root(tmp_path_factory):
    """One real, very short LeNet-on-digits run."""
    from vision_core import engine
    from vision_core.config import RunConfig

    root = tmp_path_factory.mktemp("conv_runs")
    engine.train(RunConfig(dataset="digits", model="lenet", epochs=1, snapshot_every=0, name="conv-page"),
                 root=root, trainer_options={"limit_train_batches": 2})
    return root


def test_kernels_from_a_trained_run_step_through_its_first_layer(trained_root, monkeypatch):
    import torch

    from vision_core import runs

    monkeypatch.setenv("VISION_CORE_RUNS", str(trained_root))
    at = open_page()
    at.radio(key="conv_source").set_value("Dataset image").run()
    at.radio(key="conv_kernel_source").set_value("From a trained run").run()
    assert not at.exception, at.exception
    (record,) = runs.list_runs(trained_root)
    conv = next(m for m in runs.load_model(record, "last").modules() if isinstance(m, torch.nn.Conv2d))
    assert at.selectbox(key="conv_out_channel").options[-1] == f"map {conv.out_channels - 1}"
    at.checkbox(key="conv_normalise").uncheck().run()
    image = __import__("vision_core.datasets", fromlist=["load"]).load("digits").test[0][0].double().numpy()
    padding = int(at.number_input(key="conv_padding").value)
    weight, bias = conv.weight.detach().double().numpy(), conv.bias.detach().double().numpy()
    flip = at.radio(key="conv_type").value.startswith("True")
    expected = convolve(image, weight[0], padding=padding, flip=flip, bias=bias[0])
    assert shown(at) == ("output[0, 0]", format_number(expected[0, 0]))
