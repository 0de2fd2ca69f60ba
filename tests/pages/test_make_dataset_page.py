"""AppTest: the Make-a-dataset page creates a dataset and classes, removes a photo, keeps others' datasets private
or read-only, and queues a run on it with one click."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.pages.apptest import open_page
from ui.identity import owner_id
from vision_core.classroom import jobs
from vision_core.data import own_datasets as own
from vision_core.runs import store as runs

ME, OTHER = "me-token-aaaaaaaaaaaaaaaaaaaa", "other-token-bbbbbbbbbbbbbbbbb"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("VISION_CORE_TEACHER_PASSWORD", raising=False)
    scheduler = jobs.Scheduler(tmp_path / "runs", tick=60)
    scheduler.start = lambda: scheduler  # no worker: the page's part ends when the run is queued
    monkeypatch.setattr(jobs, "manager", lambda root=None: scheduler)
    return tmp_path


def photo(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def made(token: str, photos: int = 2) -> str:
    person = owner_id(token)
    folder = own.create("Thumbs", person=person)
    for offset, name in enumerate(("up", "down")):
        own.add_class(folder, name, person=person)
        own.add_images(folder, name, [(f"{i}.png", photo(100 * offset + i)) for i in range(photos)], person=person)
    return folder


def page_as(token: str):
    """The page opened by the browser whose cookie holds ``token``."""
    from streamlit.testing.v1 import AppTest

    from tests.pages.apptest import APP

    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["_person_token"] = token
    at.switch_page("pages/make_dataset.py")
    return at.run()


def test_a_new_dataset_and_its_classes_are_made_on_the_page(env):
    at = open_page("pages/make_dataset.py")
    assert not at.exception and any("No dataset yet" in i.value for i in at.info)
    at.text_input(key="make_new_title").set_value("Thumbs")
    next(b for b in at.button if b.label == "Create").click().run()
    assert not at.exception, at.exception
    folder = at.selectbox(key="make_dataset").value
    assert own.get(folder).title == "Thumbs"
    at.text_input(key="make_class_name").set_value("thumbs up")
    next(b for b in at.button if b.label == "Add class").click().run()
    assert list(own.get(folder).classes) == ["thumbs up"]
    at.text_input(key="make_class_name").set_value("a/b")
    next(b for b in at.button if b.label == "Add class").click().run()
    assert any("may hold letters, digits" in e.value for e in at.error)
    assert any("Add at least two classes" in i.value for i in at.info)
    assert at.button(key="make_train").disabled


def test_the_maker_removes_a_photo_and_sees_the_warning_for_few_photos(env):
    folder = made(ME, photos=2)
    first = own.get(folder).classes["up"][0]
    at = page_as(ME)
    assert not at.exception, at.exception
    assert any("has only 2 photos" in w.value for w in at.warning)
    at.button(key=f"make_rm_1_{first}").click().run()  # class 1 is "up" (classes are sorted: down, up)
    assert not at.exception
    assert first not in own.get(folder).classes["up"]
    assert any("it needs at least 2" in i.value for i in at.info) and at.button(key="make_train").disabled


def test_another_students_dataset_is_private_until_shared_then_read_only(env):
    folder = made(OTHER)
    at = page_as(ME)
    assert any("No dataset yet" in i.value for i in at.info)  # private: not even listed
    own.set_shared(folder, True, person=owner_id(OTHER))
    at = page_as(ME)
    assert at.selectbox(key="make_dataset").value == folder
    assert not [b for b in at.button if b.key and b.key.startswith("make_rm")]  # no remove buttons
    assert not at.get("camera_input") and "make_class_name" not in [t.key for t in at.text_input]
    assert any("Made by a classmate" in c.value for c in at.caption)


def test_train_on_it_queues_a_small_cnn_on_the_dataset_and_shows_its_live_panel(env):
    folder = made(ME, photos=3)
    at = page_as(ME)
    at.number_input(key="make_epochs").set_value(2).run()
    at.button(key="make_train").click().run()
    assert not at.exception, at.exception
    [run] = runs.list_runs(env / "runs")
    assert run.owner == owner_id(ME) and run.state == "queued"
    assert run.config.dataset == "imagefolder" and run.config.dataset_options["folder"] == folder
    assert run.config.model == "tinyvgg" and run.config.epochs == 2 and run.config.augment
    assert at.query_params["run"] == [run.run_id] or at.query_params["run"] == run.run_id


def jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(photo(seed))).save(buffer, "JPEG")
    return buffer.getvalue()


def test_each_camera_photo_is_stored_and_the_camera_is_ready_for_the_next(env):
    folder = made(ME, photos=2)
    at = page_as(ME)
    camera = next(c for c in at.camera_input if c.key.startswith("make_cam_1_"))  # "up"
    camera.set_value(("photo.jpg", jpeg(7), "image/jpeg")).run()
    assert not at.exception, at.exception
    assert len(own.get(folder).classes["up"]) == 3
    assert any("Added 1 photo to" in s.value for s in at.success)
    fresh = next(c for c in at.camera_input if c.key.startswith("make_cam_1_"))
    assert fresh.key != camera.key and fresh.value is None  # a new camera: the next click is the next photo


def test_several_uploads_are_stored_and_a_non_image_is_refused_by_name(env):
    folder = made(ME, photos=2)
    at = page_as(ME)
    uploader = next(u for u in at.file_uploader if u.key.startswith("make_up_0_"))  # "down"
    uploader.set_value([("a.png", photo(1), "image/png"), ("notes.png", b"not a picture", "image/png"),
                        ("b.png", photo(2), "image/png")]).run()
    assert not at.exception, at.exception
    assert len(own.get(folder).classes["down"]) == 4
    assert any("notes" in e.value and "is not an image we can use" in e.value for e in at.error)
