"""Every widget a page fills from its state has that value as its default too.

Streamlit sends a value put in ``st.session_state`` once, as a "set value" on the widget. A browser that draws the
widget before that message lands (a rerun cut short on a busy server, or the moment between drawing a box and
filling it) shows the widget's own default and sends it back with the next click: on a loaded classroom server a
shared link's learning rate became 0 and Start was disabled. So a freshly opened page must show, in every widget,
exactly its default."""

from __future__ import annotations

import pytest

from tests.pages.apptest import open_page

PAGES = ["pages/home.py", "pages/train.py", "pages/convolution.py", "pages/pooling.py", "pages/shapes.py",
         "pages/playground.py", "pages/losses.py", "pages/regularisation.py", "pages/make_dataset.py"]


def drawn_as(widget):
    """(what the browser draws before any "set value", what the server holds)."""
    proto, kind = widget.proto, type(widget).__name__
    if kind in ("Selectbox", "Radio"):
        return (proto.default if proto.HasField("default") else None), widget.index
    if kind == "Slider":
        value = widget.value
        return list(proto.default), list(value) if isinstance(value, (tuple, list)) else [value]
    if kind == "SelectSlider":
        return list(proto.default), [list(proto.options).index(widget.format_func(v)) for v in
                                     (widget.value if isinstance(widget.value, (tuple, list)) else [widget.value])]
    return proto.default, widget.value


@pytest.mark.parametrize("path", PAGES)
def test_a_fresh_page_draws_every_widget_at_the_value_it_holds(path, tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path / "runs"))
    at = open_page(path)
    assert not at.exception
    kinds = ("number_input", "text_input", "text_area", "checkbox", "toggle", "selectbox", "radio", "slider",
             "select_slider")
    wrong = []
    for kind in kinds:
        for widget in at.get(kind):
            try:
                default, value = drawn_as(widget)
            except Exception as exc:  # noqa: BLE001
                wrong.append(f"{kind} {widget.key}: {exc!r}")
                continue
            if widget.key and default != value:
                wrong.append(f"{kind} {widget.key}: draws {default!r}, holds {value!r}")
    assert not wrong, "\n".join(wrong)
