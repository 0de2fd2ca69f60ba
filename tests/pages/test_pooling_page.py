"""AppTest: the Pooling page's animated step-through holds max and average pooling in every frame, the page
explains impossible settings, and shows global average pooling and the invariance demo."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.patience import PATIENT_S
from vision_core.figures.convolution import format_number
from vision_core.lessons.pooling import EXAMPLE_INPUT, global_average_pool, pool

APP = Path(__file__).resolve().parents[2] / "app.py"
PAGE = "pages/pooling.py"


def page_example() -> np.ndarray:
    return EXAMPLE_INPUT


@pytest.fixture
def page(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=PATIENT_S)
    at.switch_page(PAGE)
    at.run()
    assert not at.exception
    return at


def chart(at: AppTest, key: str = "pool_anim") -> dict:
    (element,) = [e for e in at.get("plotly_chart") if e.proto.id.endswith(key)]
    return json.loads(element.proto.spec)


def frame_title(at: AppTest, cell: int) -> str:
    """What the browser shows on cell ``cell`` (1-based) after Next / Previous / Play: the frame's title."""
    (found,) = [f for f in chart(at)["frames"] if f["name"] == str(cell)]
    return found["layout"]["title"]["text"]


def shown(at: AppTest, cell: int = 1) -> tuple[str, str]:
    match = re.search(r"(output\[[^\]]*\]): .*<b>([^<]*)</b>", frame_title(at, cell))
    assert match, frame_title(at, cell)
    return match.group(1), match.group(2)


def test_every_frame_of_max_pooling_matches_pool(page):
    """Next, Previous and Play step through these frames in the browser, without the server."""
    expected = pool(page_example(), "max", 2)
    assert "Cell 1 of 9" in chart(page)["layout"]["title"]["text"]  # it opens on the first cell
    for cell in range(9):
        row, col = divmod(cell, 3)
        assert shown(page, cell + 1) == (f"output[{row}, {col}]", format_number(expected[row, col]))


def test_average_pooling_with_overlap_and_padding(page):
    page.radio(key="pool_kind").set_value("Average").run()
    page.number_input(key="pool_kernel").set_value(3).run()
    page.checkbox(key="pool_stride_same").uncheck().run()
    page.number_input(key="pool_stride").set_value(2).run()
    page.number_input(key="pool_padding").set_value(1).run()
    expected = pool(page_example(), "avg", 3, 2, 1)
    assert not page.exception
    assert shown(page, 5) == ("output[1, 1]", format_number(expected[1, 1]))
    assert any("overlapping windows" in m.value for m in page.markdown)
    assert "count_include_pad" not in frame_title(page, 5)  # cell (1, 1) has no padding
    assert "count_include_pad" in frame_title(page, 1)


def test_too_much_padding_is_one_error(page):
    page.number_input(key="pool_padding").set_value(2).run()
    assert not page.exception
    assert any("more than half the kernel size" in e.value for e in page.error)


def test_global_average_pooling(page):
    means = global_average_pool(page_example()[None])
    (bar,) = [c for c in page.get("plotly_chart") if "Mean of each channel" in c.proto.spec]
    assert format_number(means[0]) in bar.proto.spec


def test_the_invariance_demo_shows_invariance_by_default(page):
    """"Same pooled output?": by default a shift that keeps each maximum inside its window, so nothing changes."""
    changed = {m.label: m.value for m in page.metric}
    moved, total = (int(n) for n in changed["Input pixels changed"].split(" of "))
    assert total == 36 and moved > 6  # a real change of the picture ...
    assert changed["Pooled cells changed"] == "0 of 9"  # ... and the same pooled output
    assert any("Same pooled output" in s.value for s in page.success)
    page.radio(key="pool_change").set_value("Shift down by 1 pixel").run()
    assert {m.label: m.value for m in page.metric}["Pooled cells changed"] == "0 of 9"


def test_the_invariance_demo_on_the_input_above_shows_where_it_breaks(page):
    page.radio(key="pool_inv_source").set_value("The input above").run()
    assert not page.exception
    changed = {m.label: m.value for m in page.metric}
    before = pool(page_example(), "max", 2)
    shifted = np.concatenate([page_example()[:, :1], page_example()[:, :-1]], axis=1)
    assert changed["Pooled cells changed"] == f"{int((pool(shifted, 'max', 2) != before).sum())} of 9"
    assert not page.success
    page.radio(key="pool_change").set_value("Nudge a few pixels").run()
    assert not page.exception and "of 36" in {m.label: m.value for m in page.metric}["Input pixels changed"]


def column_weights_around(node, key: str, weights=()) -> tuple[float, ...] | None:
    """The weights of the columns that hold the widget with this key, outermost first."""
    for child in getattr(node, "children", {}).values():
        if getattr(child, "key", None) == key:
            return weights
        inner = weights + ((child.weight,) if type(child).__name__ == "Column" else ())
        found = column_weights_around(child, key, inner)
        if found is not None:
            return found
    return None


def test_the_stride_checkbox_has_room_for_its_label(page):
    """It was squeezed into a third of the settings column, where its label read "Stride = kerne…"."""
    weights = column_weights_around(page.main, "pool_stride_same")
    assert weights is not None and min(weights) >= 0.5
    assert page.checkbox(key="pool_stride_same").label.startswith("Stride = kernel size")
    stride = page.number_input(key="pool_stride")
    assert stride.disabled and stride.value == 2  # follows the kernel while ticked
    page.number_input(key="pool_kernel").set_value(3).run()
    assert page.number_input(key="pool_stride").value == 3


@pytest.mark.parametrize("source", ["Your numbers", "Sample photo", "Dataset image"])
def test_every_input_source_runs(page, source):
    page.radio(key="pool_source").set_value(source).run()
    assert not page.exception and shown(page)[0] == "output[0, 0]"
    assert "Cell 1 of" in chart(page)["layout"]["title"]["text"]


def test_what_the_page_says_about_global_and_max_pooling_is_true(page):
    # Issue 19.2 and 19.3: a fixed AvgPool(8) is global only on an 8×8 map; a sliding maximum changes at most two
    # cells only when the windows do not overlap.
    captions = " ".join(c.value for c in page.caption)
    assert "AdaptiveAvgPool2d(1)" in captions and "global only on an 8×8 map" in captions
    assert "changes two cells" not in captions
    assert "at most two when the windows do not overlap" in captions


def test_a_second_student_gets_the_page_without_building_a_figure(page):
    """The step-through, the global-average bars and the three invariance grids are built once per input."""
    from tests.pages.apptest import figures_built

    with figures_built() as built:
        again = AppTest.from_file(str(APP), default_timeout=PATIENT_S)
        again.switch_page(PAGE)
        again.run()
    assert not again.exception
    assert built[0] == 0
    assert [c.proto.spec for c in again.get("plotly_chart")] == [c.proto.spec for c in page.get("plotly_chart")]
