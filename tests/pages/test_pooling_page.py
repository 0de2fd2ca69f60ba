"""AppTest: the Pooling page steps through max and average pooling, explains impossible settings, and shows
global average pooling and the invariance demo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from vision_core.conv_figures import format_number
from vision_core.pooling import EXAMPLE_INPUT, global_average_pool, pool

APP = Path(__file__).resolve().parents[2] / "app.py"
PAGE = "pages/pooling.py"


def page_example() -> np.ndarray:
    return EXAMPLE_INPUT


@pytest.fixture
def page(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.switch_page(PAGE)
    at.run()
    assert not at.exception
    return at


def shown(at: AppTest) -> tuple[str, str]:
    (metric,) = [m for m in at.metric if m.label.startswith("output[")]
    return metric.label, metric.value


def test_steps_through_max_pooling_and_matches_pool(page):
    expected = pool(page_example(), "max", 2)
    assert shown(page) == ("output[0, 0]", format_number(expected[0, 0]))
    page.button(key="pool_next").click().run()
    assert page.slider(key="pool_step").value == 1
    assert shown(page) == ("output[0, 1]", format_number(expected[0, 1]))
    page.button(key="pool_last").click().run()
    assert shown(page) == ("output[2, 2]", format_number(expected[2, 2]))


def test_average_pooling_with_overlap_and_padding(page):
    page.radio(key="pool_kind").set_value("Average").run()
    page.number_input(key="pool_kernel").set_value(3).run()
    page.checkbox(key="pool_stride_same").uncheck().run()
    page.number_input(key="pool_stride").set_value(2).run()
    page.number_input(key="pool_padding").set_value(1).run()
    page.slider(key="pool_step").set_value(4).run()
    expected = pool(page_example(), "avg", 3, 2, 1)
    assert not page.exception
    assert shown(page) == ("output[1, 1]", format_number(expected[1, 1]))
    assert any("overlapping windows" in m.value for m in page.markdown)
    assert not any("count_include_pad" in m.value for m in page.markdown)  # cell (1, 1) has no padding
    page.slider(key="pool_step").set_value(0).run()
    assert any("count_include_pad" in m.value for m in page.markdown)


def test_too_much_padding_is_one_error(page):
    page.number_input(key="pool_padding").set_value(2).run()
    assert not page.exception
    assert any("more than half the kernel size" in e.value for e in page.error)


def test_global_average_pooling_and_the_invariance_demo(page):
    means = global_average_pool(page_example()[None])
    (bar,) = [c for c in page.get("plotly_chart") if "Mean of each channel" in c.proto.spec]
    assert format_number(means[0]) in bar.proto.spec
    changed = {m.label: m.value for m in page.metric}
    before = pool(page_example(), "max", 2)
    shifted = np.concatenate([page_example()[:, :1], page_example()[:, :-1]], axis=1)
    assert changed["Pooled cells changed"] == f"{int((pool(shifted, 'max', 2) != before).sum())} of 9"
    page.radio(key="pool_change").set_value("Nudge a few pixels").run()
    assert not page.exception and "of 36" in {m.label: m.value for m in page.metric}["Input pixels changed"]


@pytest.mark.parametrize("source", ["Your numbers", "Sample photo", "Dataset image"])
def test_every_input_source_runs(page, source):
    page.radio(key="pool_source").set_value(source).run()
    assert not page.exception and shown(page)[0] == "output[0, 0]"
