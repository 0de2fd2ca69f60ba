"""Datasets made photo by photo: checked like the zip upload, counted in its quotas, changed only by their maker."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from vision_core.data import archives, datasets
from vision_core.data import own_datasets as own
from vision_core.data.own_datasets import OwnDatasetError
from vision_core.limits import Limits

ME, OTHER = "a" * 20, "b" * 20


@pytest.fixture(autouse=True)
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_DATA", str(tmp_path))
    datasets.clear_cache()
    return tmp_path


def photo(seed: int = 0, size=(160, 120), fmt="JPEG") -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def two_classes(n: int = 3, person: str = ME) -> str:
    folder = own.create("Thumbs", person=person)
    own.add_class(folder, "up", person=person)
    own.add_class(folder, "down", person=person)
    for name, offset in (("up", 0), ("down", 100)):
        own.add_images(folder, name, [(f"{i}.jpg", photo(offset + i)) for i in range(n)], person=person)
    return folder


def test_photos_are_added_shrunk_to_small_squares_and_removed(data):
    folder = two_classes(n=2)
    dataset = own.get(folder)
    assert dataset.title == "Thumbs" and dataset.owner == ME and not dataset.shared
    assert {c: len(p) for c, p in dataset.classes.items()} == {"up": 2, "down": 2}
    stored = data / "imagefolder" / folder / "up" / dataset.classes["up"][0]
    with Image.open(stored) as image:
        assert (image.format, image.size, image.mode) == ("PNG", (64, 64), "RGB")
    own.remove_image(folder, "up", dataset.classes["up"][0], person=ME)
    assert own.get(folder).classes["up"] == dataset.classes["up"][1:]
    own.remove_class(folder, "down", person=ME)
    assert list(own.get(folder).classes) == ["up"]


def test_the_bytes_count_in_the_same_per_person_quota_as_uploaded_zips(data):
    folder = two_classes(n=2)
    on_disk = sum(p.stat().st_size for p in (data / "imagefolder" / folder).rglob("*.png"))
    assert archives.uploaded_bytes() == {ME: on_disk} and own.get(folder).bytes == on_disk


def test_a_teachers_lower_image_limit_shrinks_the_stored_photos(data):
    folder = own.create("Small", person=ME)
    own.add_class(folder, "x", person=ME)
    own.add_images(folder, "x", [("a.jpg", photo())], person=ME, limits=Limits(max_image_size=32))
    path = next((data / "imagefolder" / folder / "x").iterdir())
    with Image.open(path) as image:
        assert image.size == (32, 32)


def test_a_file_that_is_no_picture_is_refused_by_name_and_the_others_are_kept():
    folder = own.create("Mixed", person=ME)
    own.add_class(folder, "x", person=ME)
    result = own.add_images(folder, "x", [("notes.txt", b"not a picture"), ("good.png", photo(fmt="PNG")),
                                          ("cut.jpg", photo()[:200])], person=ME)
    assert result.added == 1 and len(result.refused) == 2
    assert "'notes.txt' is not an image we can use" in result.refused[0]
    assert "'cut.jpg' is not an image we can use" in result.refused[1]
    assert len(own.get(folder).classes["x"]) == 1


def test_a_photo_over_the_upload_limit_is_refused_naming_the_limit():
    folder = own.create("Big", person=ME)
    own.add_class(folder, "x", person=ME)
    result = own.add_images(folder, "x", [("huge.jpg", b"\xff" * (2**20 + 1))], person=ME,
                            limits=Limits(max_upload_mb=1))
    assert result.added == 0 and "max_upload_mb" in result.refused[0] and "'huge.jpg'" in result.refused[0]


def test_the_per_person_quota_refuses_with_a_message_naming_the_limit(data):
    # An earlier upload of this person takes almost all of their 1 MB.
    (data / "imagefolder" / "earlier").mkdir(parents=True)
    (data / ".uploads").mkdir()
    (data / ".uploads" / "earlier.json").write_text(json.dumps({"owner": ME, "bytes": 2**20 - 100}))
    folder = own.create("Full", person=ME)
    own.add_class(folder, "x", person=ME)
    result = own.add_images(folder, "x", [("a.jpg", photo())], person=ME, limits=Limits(max_uploads_mb_per_person=1))
    assert result.added == 0
    assert "max_uploads_mb_per_person" in result.refused[0] and "this photo adds" in result.refused[0]
    # Another person's quota is their own.
    other = own.create("Theirs", person=OTHER)
    own.add_class(other, "x", person=OTHER)
    assert own.add_images(other, "x", [("a.jpg", photo())], person=OTHER,
                          limits=Limits(max_uploads_mb_per_person=1)).added == 1


def test_the_count_limit_of_an_upload_bounds_a_dataset():
    folder = own.create("Many", person=ME)
    own.add_class(folder, "x", person=ME)
    result = own.add_images(folder, "x", [(f"{i}.jpg", photo(i)) for i in range(3)], person=ME,
                            limits=Limits(max_zip_files=2))
    assert result.added == 2 and "max_zip_files" in result.refused[0]


@pytest.mark.parametrize("name", ["", "a/b", "..", ".hidden", "x" * 31, "train", "Test", "<b>bold</b>", 7])
def test_bad_class_names_are_refused_with_a_sentence(name):
    folder = own.create("Names", person=ME)
    with pytest.raises(OwnDatasetError, match="class name"):
        own.add_class(folder, name, person=ME)


def test_names_in_any_alphabet_are_kept_and_a_duplicate_in_another_case_is_refused():
    folder = own.create("Gesten", person=ME)
    assert own.add_class(folder, " Daumen hoch ", person=ME) == "Daumen hoch"
    assert own.add_class(folder, "ñandú", person=ME) == "ñandú"
    with pytest.raises(OwnDatasetError, match="already a class"):
        own.add_class(folder, "daumen HOCH", person=ME)


def test_classes_and_datasets_per_person_are_bounded():
    folder = own.create("Lots", person=ME)
    for i in range(own.MAX_CLASSES):
        own.add_class(folder, f"c{i}", person=ME)
    with pytest.raises(OwnDatasetError, match=f"the most it may have \\({own.MAX_CLASSES}\\)"):
        own.add_class(folder, "one more", person=ME)
    for i in range(own.MAX_DATASETS_PER_PERSON - 1):
        own.create(f"d{i}", person=ME)
    with pytest.raises(OwnDatasetError, match="delete one first"):
        own.create("eleventh", person=ME)
    own.create("theirs", person=OTHER)  # the cap is per person


def test_another_student_cannot_modify_it_and_the_teacher_can():
    folder = two_classes(n=2)
    photo_name = own.get(folder).classes["up"][0]
    attempts = [
        lambda: own.add_class(folder, "mine now", person=OTHER),
        lambda: own.add_images(folder, "up", [("x.jpg", photo())], person=OTHER),
        lambda: own.remove_image(folder, "up", photo_name, person=OTHER),
        lambda: own.remove_class(folder, "up", person=OTHER),
        lambda: own.set_shared(folder, True, person=OTHER),
        lambda: own.delete(folder, person=OTHER),
        lambda: own.set_published(folder, True, teacher=False),
    ]
    for attempt in attempts:
        with pytest.raises(OwnDatasetError, match="another student|Only the teacher"):
            attempt()
    own.set_shared(folder, True, person=ME)  # shared: still read-only for the others
    with pytest.raises(OwnDatasetError, match="another student"):
        own.remove_image(folder, "up", photo_name, person=OTHER)
    assert own.get(folder).classes["up"][0] == photo_name
    own.add_images(folder, "up", [("t.jpg", photo(9))], person=None, teacher=True)
    assert own.get(folder).owner == ME and len(own.get(folder).classes["up"]) == 3  # still the maker's


def test_a_photo_name_that_is_not_one_of_its_photos_is_refused(data):
    folder = two_classes(n=2)
    (data / "secret.txt").write_text("keep")
    for name in ("../../secret.txt", "../down/" + own.get(folder).classes["down"][0], "x.png"):
        with pytest.raises(OwnDatasetError, match="has no photo"):
            own.remove_image(folder, "up", name, person=ME)
    with pytest.raises(OwnDatasetError, match="no dataset"):
        own.get("../imagefolder")
    assert (data / "secret.txt").exists() and len(own.get(folder).classes["down"]) == 2


def test_private_until_shared_then_everyone_may_use_it_read_only():
    folder = two_classes(n=2)
    config = own.training_config(own.get(folder))
    assert folder not in own.usable_folders(person=OTHER) and folder in own.usable_folders(person=ME)
    assert folder in own.usable_folders(person=None, teacher=True)
    assert [d.folder for d in own.visible(person=OTHER)] == []
    with pytest.raises(OwnDatasetError, match="not shared"):
        own.check_use(config, person=OTHER)
    own.check_use(config, person=ME)
    own.set_shared(folder, True, person=ME)
    assert folder in own.usable_folders(person=OTHER)
    own.check_use(config, person=OTHER)


def test_published_datasets_are_the_classes_only_the_teacher_deletes_them(data):
    folder = two_classes(n=2)
    own.set_published(folder, True, teacher=True)
    assert folder in own.usable_folders(person=OTHER)
    with pytest.raises(OwnDatasetError, match="only the teacher may delete"):
        own.delete(folder, person=ME)
    own.delete(folder, person=None, teacher=True)
    assert not (data / "imagefolder" / folder).exists() and archives.uploaded_bytes() == {}


def test_export_then_the_zip_upload_gives_back_the_same_images(data):
    folder = two_classes(n=3)
    made = own.get(folder)
    extracted = archives.extract_image_zip(own.export_zip(folder), "thumbs.zip", owner=OTHER)
    assert extracted.classes == sorted(made.classes) and extracted.images == 6 and extracted.skipped == 0
    for class_name, photos in made.classes.items():
        for name in photos:
            original = np.asarray(Image.open(data / "imagefolder" / folder / class_name / name))
            copy = np.asarray(Image.open(data / "imagefolder" / extracted.folder / class_name / name))
            assert np.array_equal(original, copy)


def test_the_loader_reads_it_as_an_image_folder_with_a_held_out_split():
    folder = two_classes(n=5)
    loaded = datasets.load("imagefolder", folder=folder, image_size=64)
    assert loaded.classes == ["down", "up"] and loaded.image_size == (64, 64)
    assert len(loaded.test) == 2 and len(loaded.train) + (len(loaded.val) if loaded.val else 0) == 8


def test_training_needs_two_classes_with_two_photos_and_warns_under_ten():
    folder = own.create("Few", person=ME)
    own.add_class(folder, "only", person=ME)
    problems, _ = own.training_problems(own.get(folder))
    assert any("two classes" in p for p in problems)
    own.add_class(folder, "other", person=ME)
    own.add_images(folder, "only", [(f"{i}.jpg", photo(i)) for i in range(3)], person=ME)
    own.add_images(folder, "other", [("a.jpg", photo(50))], person=ME)
    problems, warnings = own.training_problems(own.get(folder))
    assert problems == [("Class 'other' has 1 photo: it needs at least 2 (one to learn from, one to test on), "
                         "or remove the class.")]
    assert any("'only' has only 3 photos" in w for w in warnings)


def test_the_training_config_is_a_small_cnn_with_augmentation_that_passes_the_gate():
    from vision_core.training import guards

    folder = two_classes(n=5)
    config = own.training_config(own.get(folder), epochs=3)
    assert config.dataset == "imagefolder" and config.dataset_options == {"folder": folder, "image_size": 64}
    assert config.model == "tinyvgg" and config.model_options == {"hidden_units": 8} and config.epochs == 3
    assert {"hflip", "crop"} <= set(config.augment)
    guards.gate(config)  # sized from the folder's listing, within the default limits
    assert own.training_config(own.get(folder), epochs=500, limits=Limits(max_epochs=20)).epochs == 20
