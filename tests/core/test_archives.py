"""Uploaded zips of class folders: good ones become image-folder datasets, hostile ones are refused whole."""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile

import numpy as np
import pytest
from PIL import Image

from vision_core.data import archives, datasets
from vision_core.data.archives import ArchiveError
from vision_core.limits import Limits


@pytest.fixture
def data(tmp_path, monkeypatch):
    """The data folder in tmp_path; returns its imagefolder/ folder (not created yet)."""
    monkeypatch.setenv("VISION_CORE_DATA", str(tmp_path))
    return tmp_path / "imagefolder"


def png(colour=(255, 0, 0), size=(12, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def make_zip(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def class_folders(prefix: str = "", per_class: int = 5) -> dict[str, bytes]:
    return {f"{prefix}{cls}/{i}.png": png(colour) for cls, colour in (("cat", (255, 0, 0)), ("dog", (0, 0, 255)))
            for i in range(per_class)}


def left_behind(folder) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []


# --------------------------------------------------------------------------- good zips


def test_a_zip_of_train_and_test_folders_becomes_a_dataset(data):
    entries = {**class_folders("train/", 4), **class_folders("test/", 2)}
    result = archives.extract_image_zip(make_zip(entries), "Cats & dogs.zip", Limits())
    assert result.folder == "Cats_dogs" and result.classes == ["cat", "dog"]
    assert (result.images, result.skipped, result.split) == (12, 0, True)
    assert datasets.image_folders() == ["Cats_dogs"]
    loaded = datasets.load("imagefolder", folder=result.folder, image_size=8, val_size=0)
    assert loaded.classes == ["cat", "dog"]
    assert (len(loaded.train), len(loaded.test)) == (8, 4)
    assert loaded.test.images[loaded.test.labels == 0][:, 0].eq(255).all()  # the cats are red


def test_class_folders_in_a_wrapping_folder_with_clutter(data):
    entries = {**class_folders("my photos/", 5), "my photos/README.txt": b"hello",
               "__MACOSX/my photos/cat/._0.png": b"resource fork", "my photos/cat/.DS_Store": b"x",
               "my photos/cat/deeper/9.png": png(), "loose.png": png()}
    result = archives.extract_image_zip(io.BytesIO(make_zip(entries)), "photos.zip", Limits())
    assert (result.images, result.split, result.classes) == (10, False, ["cat", "dog"])
    assert result.skipped == 5  # README.txt, ._0.png, .DS_Store, deeper/9.png and the loose image
    assert sorted(os.listdir(data / "photos")) == ["cat", "dog"]
    assert sorted(os.listdir(data / "photos" / "cat")) == [f"{i}.png" for i in range(5)]
    loaded = datasets.load("imagefolder", folder="photos", image_size=8, val_size=0)
    assert len(loaded.train) + len(loaded.test) == 10 and loaded.test.class_counts() == [1, 1]


def test_the_same_name_twice_gets_a_new_folder(data):
    first = archives.extract_image_zip(make_zip(class_folders()), "cats.zip", Limits())
    second = archives.extract_image_zip(make_zip(class_folders()), "cats.zip", Limits())
    assert (first.folder, second.folder) == ("cats", "cats-2")
    odd = archives.extract_image_zip(make_zip(class_folders()), "../../etc/..zip", Limits())
    assert odd.folder == "upload" and (data / "upload").is_dir()


# --------------------------------------------------------------------------- hostile zips


def refused(data, payload: bytes, match: str, limits: Limits | None = None) -> str:
    with pytest.raises(ArchiveError, match=match) as info:
        archives.extract_image_zip(payload, "evil.zip", limits or Limits())
    assert left_behind(data) == []  # nothing extracted, no staging folder left
    message = str(info.value)
    assert str(data) not in message and str(data.parent) not in message
    return message


@pytest.mark.parametrize("name", ["../escape.png", "cat/../../escape.png", "..\\..\\escape.png", "train/../../x.png"])
def test_an_entry_leaving_the_folder_refuses_the_zip(data, name):
    refused(data, make_zip({**class_folders(), name: png()}), r"outside its folder \(\.\.\)")
    assert not (data.parent / "escape.png").exists()


@pytest.mark.parametrize("name", ["/etc/cron.d/evil.png", "/tmp/x.png", "C:\\Windows\\x.png", "c:x.png"])
def test_an_absolute_entry_refuses_the_zip(data, name):
    refused(data, make_zip({**class_folders(), name: png()}), "absolute path")


def test_a_symbolic_link_refuses_the_zip(data):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in class_folders().items():
            archive.writestr(name, content)
        link = zipfile.ZipInfo("cat/passwd.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    refused(data, buffer.getvalue(), "symbolic link")


def test_a_zip_bomb_is_refused_by_its_ratio(data):
    bomb = make_zip({**class_folders(), "cat/zeros.png": bytes(50 * 2**20)})  # 50 MB → ~50 KB
    assert len(bomb) < 200_000
    refused(data, bomb, "zip bomb")


def test_a_bomb_hidden_in_a_file_that_is_not_kept_is_refused_too(data):
    refused(data, make_zip({**class_folders(), "notes.txt": bytes(20 * 2**20)}), "zip bomb")


def test_too_many_entries(data):
    refused(data, make_zip(class_folders(per_class=6)), "12 entries; the limit is 10", Limits(max_zip_files=10))


def test_too_many_bytes_once_extracted(data):
    noise = np.random.default_rng(0).integers(0, 256, 2**20, dtype=np.uint8).tobytes()  # incompressible
    payload = make_zip({**class_folders(), "cat/big.png": noise, "dog/big.png": noise}, zipfile.ZIP_STORED)
    refused(data, payload, "more than 1 MB once extracted", Limits(max_unzipped_mb=1, max_upload_mb=10))


def test_too_big_an_upload_is_refused_before_it_is_opened(data, monkeypatch):
    monkeypatch.setattr(zipfile, "ZipFile", lambda *a, **k: pytest.fail("opened a refused upload"))
    refused(data, bytes(2 * 2**20), r"2.0 MB; the limit is 1 MB", Limits(max_upload_mb=1))


@pytest.mark.parametrize("entries, match", [
    ({"cat/0.png": png(), "cat/1.png": png()}, "at least two class folders"),
    ({"notes.txt": b"hello", "a.png": png()}, "at least two class folders"),
    ({**class_folders("train/"), "test/cat/0.png": png(), "test/bird/0.png": png()}, "same class folders"),
])
def test_a_zip_that_is_not_a_dataset_is_refused(data, entries, match):
    refused(data, make_zip(entries), match)


def test_a_file_that_is_not_a_zip(data):
    refused(data, b"PK but not really a zip", "not a readable zip")


def test_a_corrupted_entry_leaves_nothing_behind(data):
    payload = bytearray(make_zip(class_folders(), zipfile.ZIP_STORED))
    start = payload.index(b"IDAT")  # inside the first PNG's stored bytes: the CRC check fails on extraction
    payload[start:start + 4] = b"XXXX"
    refused(data, bytes(payload), "not a readable zip")


# --------------------------------------------------------------------------- issue 16.3: bombs, non-images, budgets


def test_a_thousand_entries_of_zeros_are_refused_as_a_whole_with_nothing_on_disk(data):
    # The zip: 1,000 entries of 1 MiB of zeros named .png, each under the per-entry ratio's 1 MiB floor.
    entries = {f"{cls}/{i}.png": bytes(2**20) for cls in ("cat", "dog") for i in range(500)}
    bomb = make_zip(entries)
    assert len(bomb) < 1_500_000
    message = refused(data, bomb, "zip bomb")
    assert "expands to 1,000 MB" in message
    assert not (data.parent / ".uploads").exists()


def test_a_file_that_is_not_an_image_refuses_the_zip_naming_it(data):
    entries = {**class_folders(), "dog/notes.png": b"this is not a picture at all"}
    message = refused(data, make_zip(entries), "not an image we can use")
    assert "'dog/notes.png'" in message


def test_a_truncated_image_refuses_the_zip(data):
    refused(data, make_zip({**class_folders(), "cat/cut.png": png(size=(200, 200))[:300]}), "'cat/cut.png'")


def test_an_image_claiming_too_many_pixels_is_refused_before_it_is_decoded(data):
    huge = io.BytesIO()
    Image.new("L", (5000, 5000)).save(huge, format="PNG")  # 25 million pixels in a few KB
    refused(data, make_zip({**class_folders(), "cat/huge.png": huge.getvalue()}), "5000×5000 pixels")


def folder_bytes(folder) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_the_uploader_is_recorded_next_to_the_folder_and_counted(data):
    result = archives.extract_image_zip(make_zip(class_folders()), "pets.zip", Limits(), owner="alice")
    assert sorted(os.listdir(data / result.folder)) == ["cat", "dog"]  # nothing added among the classes
    record = json.loads((data.parent / ".uploads" / f"{result.folder}.json").read_text())
    assert record == {"owner": "alice", "bytes": folder_bytes(data / result.folder)}
    archives.extract_image_zip(make_zip(class_folders()), "mine.zip", Limits())  # the teacher: owner None
    used = archives.uploaded_bytes()
    assert set(used) == {"alice", None} and used["alice"] == record["bytes"]


def test_the_per_person_quota_refuses_with_the_limit_named(data):
    noise = np.random.default_rng(1).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    photo = io.BytesIO()
    Image.fromarray(noise).save(photo, format="PNG")  # ~470 KB that does not compress
    entries = {"cat/0.png": photo.getvalue(), "dog/0.png": photo.getvalue()}
    limits = Limits(max_uploads_mb_per_person=1)
    archives.extract_image_zip(make_zip(entries), "first.zip", limits, owner="alice")
    message = refused_after(data, make_zip(entries), "max_uploads_mb_per_person", limits, owner="alice")
    assert "Your uploaded datasets take 0.9 MB" in message and "1 MB one person may upload" in message
    archives.extract_image_zip(make_zip(entries), "other.zip", limits, owner="bob")  # another person still may


def test_the_class_budget_refuses_with_the_limit_named(data):
    noise = np.random.default_rng(2).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    photo = io.BytesIO()
    Image.fromarray(noise).save(photo, format="PNG")
    entries = {"cat/0.png": photo.getvalue(), "dog/0.png": photo.getvalue()}
    limits = Limits(max_uploads_mb=1)
    archives.extract_image_zip(make_zip(entries), "first.zip", limits, owner="alice")
    refused_after(data, make_zip(entries), r"they may take together \(max_uploads_mb\)", limits, owner="bob")
    # Deleting the folder (the teacher's way to free space) frees its share.
    import shutil

    shutil.rmtree(data / "first")
    archives.extract_image_zip(make_zip(entries), "again.zip", limits, owner="bob")


def refused_after(data, payload: bytes, match: str, limits: Limits, owner: str) -> str:
    """Refused, and the data folder holds exactly what it held before."""
    before = left_behind(data)
    with pytest.raises(ArchiveError, match=match) as info:
        archives.extract_image_zip(payload, "evil.zip", limits, owner=owner)
    assert left_behind(data) == before
    return str(info.value)
