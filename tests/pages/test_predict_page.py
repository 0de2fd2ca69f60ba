"""AppTest: the Predict page with no runs, an uploaded PNG, a bad upload, the drawing canvas (and the paint grid
without it), and the downloads."""

from __future__ import annotations

import io
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.pages.apptest import use_runs
from tests.patience import PATIENT_S
from vision_core.config import RunConfig
from vision_core.runs import store as runs
from vision_core.training import engine

APP = Path(__file__).resolve().parents[2] / "app.py"
PAGE = "pages/predict.py"


def open_page(run_id: str | None = None) -> AppTest:
    """The page inside app.py's navigation (as users see it; st.page_link needs it), on ``?run=run_id``."""
    at = AppTest.from_file(str(APP), default_timeout=PATIENT_S)
    if run_id:
        at.query_params["run"] = run_id
    at.switch_page(PAGE)
    return at.run()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real, short LeNet-on-digits run (a few batches), shared by this file's tests."""
    root = tmp_path_factory.mktemp("trained")
    config = RunConfig(dataset="digits", model="lenet", epochs=1, snapshot_every=0, name="predict-page")
    engine.train(config, root=root, trainer_options={"limit_train_batches": 5})
    (run,) = runs.list_runs(root)
    return run


@pytest.fixture
def page(tmp_path, monkeypatch, trained):
    """The page opened on a fresh copy of the trained run."""
    use_runs(tmp_path, monkeypatch, trained)
    return open_page(trained.run_id)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def has_chart(at: AppTest, key: str) -> bool:
    return any(c.proto.id.endswith("-" + key) for c in at.get("plotly_chart"))


def chart_spec(at: AppTest, key: str) -> str:
    return next(c.proto.spec for c in at.get("plotly_chart") if c.proto.id.endswith("-" + key))


def a_seven_on_paper() -> Image.Image:
    paper = Image.new("L", (120, 120), 250)  # dark ink on white paper: the page must invert it
    paper.paste(10, (25, 20, 95, 34))
    paper.paste(10, (75, 20, 89, 100))
    return paper


def test_no_runs_shows_a_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    at = open_page()
    assert not at.exception
    assert any("No runs yet" in i.value for i in at.info)


def test_without_a_picture_the_downloads_are_there(page):
    assert not page.exception
    assert page.file_uploader(key="pred_upload")
    assert page.download_button(key="pred_download_pt")
    assert not page.metric  # nothing predicted yet


def test_an_uploaded_png_is_predicted_and_explained(page, trained):
    page.file_uploader(key="pred_upload").set_value(("seven.png", png(a_seven_on_paper()), "image/png")).run()
    assert not page.exception, page.exception
    assert not page.error
    (prediction,) = page.metric
    assert prediction.label == "Prediction" and prediction.value in [str(i) for i in range(10)]
    notes = " ".join(m.value for m in page.markdown)
    height, width = trained.data_info["image_size"]
    assert "inverted it" in notes and f"resized 120×120 to {width}×{height}" in notes
    assert page.image  # what the model sees
    assert has_chart(page, "pred_probabilities") and has_chart(page, "pred_saliency")
    assert page.radio(key="pred_explain").value == "Grad-CAM"
    assert page.selectbox(key="pred_target").value == "the prediction"  # explains what it predicted ...
    assert f"Grad-CAM: {prediction.value}" in chart_spec(page, "pred_saliency")
    page.radio(key="pred_explain").set_value("Saliency (input gradient)").run()
    page.selectbox(key="pred_target").set_value("3").run()
    assert not page.exception
    assert "Saliency (input gradient): 3" in chart_spec(page, "pred_saliency")


def test_a_bad_upload_says_which_file_and_goes_away_on_a_good_one(page):
    page.file_uploader(key="pred_upload").set_value(("notes.png", b"this is not a picture", "image/png")).run()
    assert not page.exception
    (error,) = page.error
    shown = re.sub(r"\\(.)", r"\1", error.value)  # as the browser shows it (the file name is sent escaped)
    # What the student uploaded, in their words; never the server's buffer object.
    assert "notes.png" in shown and "image/png" in shown and "21 bytes" in shown
    assert "PNG or JPEG" in shown and "BytesIO" not in shown and " at 0x" not in shown
    assert page.download_button(key="pred_download_pt")
    page.file_uploader(key="pred_upload").set_value(("seven.png", png(a_seven_on_paper()), "image/png")).run()
    assert not page.exception and not page.error
    assert page.metric and page.metric[0].label == "Prediction"


def test_the_explained_class_follows_each_new_prediction(page):
    """The options' text never changes: the browser keeps showing the text it last showed, so an option
    reading "the prediction (7)" would still say 7 after a new picture predicted 8. The label says it."""
    options = []
    for picture in (a_seven_on_paper(), Image.new("L", (40, 40), 0)):
        page.file_uploader(key="pred_upload").set_value(("p.png", png(picture), "image/png")).run()
        assert not page.exception
        prediction = page.metric[0].value
        box = page.selectbox(key="pred_target")
        assert box.value == "the prediction"
        assert box.label == f"Explain the class (the prediction is {prediction})"
        assert f"Grad-CAM: {prediction} (the prediction)" in chart_spec(page, "pred_saliency")
        options.append(box.options)
    assert options[0] == options[1] and options[0][0] == "the prediction"


def test_a_colour_photo_for_a_grayscale_model_is_converted(page):
    photo = Image.new("RGB", (64, 48), (20, 20, 20))
    photo.paste((240, 240, 240), (28, 10, 36, 40))
    page.file_uploader(key="pred_upload").set_value(("photo.png", png(photo), "image/png")).run()
    assert not page.exception
    notes = " ".join(m.value for m in page.markdown)
    assert "grayscale" in notes and "centre-cropped 64×48 to 48×48" in notes


def test_draw_a_digit_offers_the_free_hand_canvas(page):
    page.radio(key="pred_source").set_value("Draw a digit").run()
    assert not page.exception
    canvases = page.get("bidi_component")  # streamlit-drawable-canvas is a dependency: the real component
    assert len(canvases) == 1 and "streamlit_drawable_canvas" in str(canvases[0].proto)
    assert not any("streamlit-drawable-canvas" in i.value for i in page.info)  # no fallback notice
    assert not page.metric  # nothing drawn yet, nothing predicted


def test_a_drawing_on_the_canvas_is_predicted(tmp_path, monkeypatch, trained):
    """The canvas's RGBA picture (white strokes on black) reaches the model without inversion."""
    strokes = np.zeros((224, 224, 4), dtype=np.uint8)
    strokes[..., 3] = 255
    strokes[30:190, 100:124, :3] = 255  # a vertical bar: a "1"
    fake = types.ModuleType("streamlit_drawable_canvas")
    fake.st_canvas = lambda **kwargs: types.SimpleNamespace(image_data=strokes if kwargs["return_image_data"] else None)
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", fake)
    use_runs(tmp_path, monkeypatch, trained)
    at = open_page(trained.run_id)
    at.radio(key="pred_source").set_value("Draw a digit").run()
    assert not at.exception, at.exception
    assert at.metric and at.metric[0].label == "Prediction"
    notes = " ".join(m.value for m in at.markdown)
    assert "resized 224×224" in notes and "inverted it" not in notes


def test_without_the_canvas_package_the_grid_paints_a_digit(tmp_path, monkeypatch, trained):
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", None)  # "not installed": import fails
    use_runs(tmp_path, monkeypatch, trained)
    page = open_page(trained.run_id)
    page.radio(key="pred_source").set_value("Draw a digit").run()
    assert not page.exception
    assert any("streamlit-drawable-canvas" in i.value for i in page.info)  # the fallback explains itself
    ticks = {row: {"3": True, "4": True} for row in range(1, 7)}  # a vertical bar: a "1"
    page.session_state["pred_grid"] = {"edited_rows": ticks, "added_rows": [], "deleted_rows": []}
    page.run()
    assert not page.exception
    assert page.metric and page.metric[0].label == "Prediction"
    assert not any("inverted it" in m.value for m in page.markdown)  # painted strokes are already bright


def test_onnx_export_is_prepared_on_demand(page, trained):
    assert not [b for b in page.download_button if b.key == "pred_download_onnx"]
    page.button(key="pred_onnx_prepare").click().run()
    assert not page.exception
    assert page.download_button(key="pred_download_onnx")


def test_weights_download_loads_into_the_runs_architecture(trained):
    from vision_core.analysis import export

    model = runs.load_model(trained)
    data = export.state_dict_bytes(model)
    fresh = runs.build_model(trained)
    fresh.load_state_dict(torch.load(io.BytesIO(data), weights_only=True))
    x = torch.randn(2, trained.data_info["channels"], *trained.data_info["image_size"])
    torch.testing.assert_close(fresh.eval()(x), model(x))


def test_a_checkpoint_from_another_architecture_is_an_error_message(page, trained, tmp_path):
    # Replace the run's weights with those of a different network: load_model must refuse them politely.
    other = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    for name in ("best.ckpt", "last.ckpt"):
        torch.save({"state_dict": {"model." + k: v for k, v in other.state_dict().items()}, "epoch": 0},
                   tmp_path / trained.run_id / "checkpoints" / name)
    page.run()
    assert not page.exception
    assert any("do not fit this architecture" in e.value for e in page.error)


def test_a_run_on_a_made_dataset_starts_on_the_camera_and_each_photo_is_predicted_and_explained(tmp_path,
                                                                                                monkeypatch):
    from vision_core.data import datasets
    from vision_core.data import own_datasets as own

    monkeypatch.setenv("VISION_CORE_DATA", str(tmp_path / "data"))
    datasets.clear_cache()
    folder = own.create("Colours", person="me")
    for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        own.add_class(folder, name, person="me")
        own.add_images(folder, name, [(f"{i}.png", png(Image.new("RGB", (80, 60), colour))) for i in range(5)],
                       person="me")
    config = own.training_config(own.get(folder), epochs=1).replace(snapshot_every=0)
    engine.train(config, root=tmp_path / "runs", trainer_options={"limit_train_batches": 2})
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path / "runs"))
    (run,) = runs.list_runs(tmp_path / "runs")
    at = open_page(run.run_id)
    assert at.radio(key="pred_source").value == "Take a photo"  # the dataset came from the camera
    probabilities = []
    for colour in ((200, 40, 40), (40, 40, 200)):
        buffer = io.BytesIO()
        Image.new("RGB", (160, 120), colour).save(buffer, "JPEG")
        at.camera_input(key="pred_camera").set_value(("photo.jpg", buffer.getvalue(), "image/jpeg")).run()
        assert not at.exception, at.exception
        assert has_chart(at, "pred_probabilities") and "Grad-CAM" in chart_spec(at, "pred_saliency")
        probabilities.append(chart_spec(at, "pred_probabilities"))
    assert probabilities[0] != probabilities[1]  # a new photo, new probabilities
