"""Datasets a student makes in the browser, photo by photo (Teachable Machine's flow, issue 23).

A made dataset is an ordinary image-folder dataset, ``<data folder>/imagefolder/<folder>/<class>/<image>.png``,
so a run names it the way it names an uploaded zip (``RunConfig(dataset="imagefolder",
dataset_options={"folder": …})``) and the loader, the limits and the Evaluate / Predict pages need nothing new.
Its record sits with the uploads' records (``archives.records_folder``): who made it and the bytes it takes are
counted in the same per-person and class quotas as an uploaded zip (``max_uploads_mb_per_person``,
``max_uploads_mb``), and it adds what only a made dataset has — its title as typed, ``shared`` and ``published``.

Who may do what (``person``: ``ui.identity``'s owner id; ``teacher``: teacher mode):

- its maker (and the teacher) add and remove classes and photos, share it, export it, delete it;
- anyone may use a shared or published one read-only (train on it, see it, export it); an unshared one is
  private: nobody else sees it in any list, and a set-up naming it is refused (``check_use``);
- only the teacher publishes it to the class, and a published one is the class's: only the teacher deletes it.

Every photo is untrusted: at most ``max_upload_mb``, decoded by ``images.decode_upload`` (formats, bombs,
truncation), centre-cropped and resized to a small square, saved as PNG and checked once more by
``images.verify_image_file`` (what the zip upload runs on each file), under the lock every upload takes.

Example::

    folder = create("Thumbs", person=me)
    add_class(folder, "up", person=me); add_class(folder, "down", person=me)
    add_images(folder, "up", [("a.jpg", jpeg_bytes)], person=me)
    export_zip(folder)  # a zip the Train page's upload accepts
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import time
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageOps

from vision_core.config import RunConfig
from vision_core.data import archives
from vision_core.data.datasets import image_folder_path, image_folders, image_folders_root
from vision_core.data.images import decode_upload, verify_image_file
from vision_core.limits import Limits, load_limits

STORED_SIDE = 64  # pixels per side of a stored photo: what the small CNN trains on (a teacher's lower limit wins)
NAME_MAX = 30  # characters in a class name or a dataset title
MAX_CLASSES = 10  # Teachable Machine's lessons use two or three
MAX_DATASETS_PER_PERSON = 10  # empty datasets take no bytes, so the byte quota alone would not bound them
FEW_IMAGES = 10  # fewer photos than this in a class: the test split holds one or two of them, accuracy is noise
MIN_IMAGES_TO_TRAIN = 2  # one for training, one held out
# Letters (any alphabet), digits, spaces, - and _; starting with a letter or a digit. No dot, no separator: the
# name becomes a folder on disk and is shown as text everywhere.
_NAME = re.compile(r"^[^\W_][\w -]*$")
_RESERVED = {"train", "test"}  # the upload's split folders: a class of that name would read as a split
_IMAGE = re.compile(r"^[0-9]{13}-[0-9a-f]{8}\.png$")  # the names we give photos: time (sorts), then random
_MADE_PREFIX = "own-"


class OwnDatasetError(ValueError):
    """Something a student asked of a made dataset is refused: the message says why, in one sentence."""


@dataclass(frozen=True)
class OwnDataset:
    """One made dataset as read from disk: ``classes`` maps each class name to its photos, oldest first."""

    folder: str
    title: str
    owner: str | None  # None: made in teacher mode
    shared: bool
    published: bool
    classes: dict[str, list[str]] = field(default_factory=dict)
    bytes: int = 0

    @property
    def images(self) -> int:
        return sum(len(v) for v in self.classes.values())


@dataclass(frozen=True)
class Added:
    """What ``add_images`` did: photos kept, and one sentence per file refused (the others were kept)."""

    added: int
    refused: list[str]


def check_name(name: object, what: str = "A class name") -> str:
    """The name, stripped, or OwnDatasetError saying what a name may hold. Example: ``check_name(" up ")`` → "up"."""
    if not isinstance(name, str):
        raise OwnDatasetError(f"{what} must be text, got {type(name).__name__}.")
    name = name.strip()
    if not name:
        raise OwnDatasetError(f"{what} is empty: type one, e.g. 'thumbs up'.")
    if len(name) > NAME_MAX:
        raise OwnDatasetError(f"{what} has {len(name)} characters; the limit is {NAME_MAX}.")
    if not _NAME.match(name):
        raise OwnDatasetError(f"{what} may hold letters, digits, spaces, - and _ and must start with a letter or "
                              f"a digit; got {name!r}.")
    if name.lower() in _RESERVED:
        raise OwnDatasetError(f"{what} cannot be {name!r}: train and test name the upload's split folders.")
    return name


# --------------------------------------------------------------------------- records


def _record_path(folder: str) -> Path:
    return archives.records_folder() / f"{folder}.json"


def _read_record(folder: str) -> dict | None:
    """The made dataset's record, or None when ``folder`` is no made dataset (an upload, the teacher's own)."""
    path = _record_path(folder)
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 4096:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("made") is not True or not isinstance(data.get("title"), str):
        return None
    return data


def _write_record(folder: str, record: dict) -> None:
    path = _record_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    temporary.write_text(json.dumps(record), encoding="utf-8")
    os.replace(temporary, path)  # a reader sees the old record or the new one, never half of one


def _path(folder: str) -> Path:
    """The dataset's folder, confined like every image folder (ValueError for a name that could leave it)."""
    try:
        return image_folder_path(folder)
    except ValueError:
        raise OwnDatasetError(f"There is no dataset called {folder!r}.") from None


def _class_folders(path: Path) -> list[Path]:
    if not path.is_dir() or path.is_symlink():
        return []
    with os.scandir(path) as entries:
        return sorted(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))


def _photos(class_path: Path) -> list[Path]:
    with os.scandir(class_path) as entries:
        return sorted(Path(e.path) for e in entries if e.is_file(follow_symlinks=False) and _IMAGE.match(e.name))


def get(folder: str) -> OwnDataset:
    """The made dataset ``folder`` as it is on disk, or OwnDatasetError when there is none of that name."""
    path = _path(folder)
    record = _read_record(folder)
    if record is None or not path.is_dir():
        raise OwnDatasetError(f"There is no dataset called {folder!r} made on this page.")
    classes = {c.name: [p.name for p in _photos(c)] for c in _class_folders(path)}
    size = record.get("bytes")
    return OwnDataset(folder=folder, title=record["title"], owner=record.get("owner") if isinstance(
        record.get("owner"), str) else None, shared=record.get("shared") is True,
        published=record.get("published") is True, classes=classes,
        bytes=size if isinstance(size, int) and not isinstance(size, bool) else 0)


def is_made(folder: str) -> bool:
    return _read_record(folder) is not None


def made_folders() -> list[str]:
    """Every made dataset on the server (for the teacher), sorted by folder name."""
    return [f for f in image_folders() if f.startswith(_MADE_PREFIX) and is_made(f)]


# --------------------------------------------------------------------------- who may do what


def may_modify(dataset: OwnDataset, *, person: str | None, teacher: bool = False) -> bool:
    """Its maker and the teacher. A dataset made in teacher mode (no owner) is the teacher's alone."""
    return teacher or (dataset.owner is not None and dataset.owner == person)


def may_use(dataset: OwnDataset, *, person: str | None, teacher: bool = False) -> bool:
    """Train on it, see its photos, export it: its maker and the teacher, everyone once shared or published."""
    return dataset.shared or dataset.published or may_modify(dataset, person=person, teacher=teacher)


def usable_folders(*, person: str | None, teacher: bool = False) -> list[str]:
    """The image folders this person may pick (``datasets.image_folders`` without others' private made ones)."""
    kept = []
    for folder in image_folders():
        if folder.startswith(_MADE_PREFIX) and is_made(folder):
            try:
                if not may_use(get(folder), person=person, teacher=teacher):
                    continue
            except OwnDatasetError:
                continue
        kept.append(folder)
    return kept


def visible(*, person: str | None, teacher: bool = False) -> list[OwnDataset]:
    """The made datasets this person may use: their own first, then the shared and published ones."""
    found = []
    for folder in made_folders():
        try:
            dataset = get(folder)
        except OwnDatasetError:
            continue
        if may_use(dataset, person=person, teacher=teacher):
            found.append(dataset)
    return sorted(found, key=lambda d: (not may_modify(d, person=person, teacher=False), d.title.lower(), d.folder))


def check_use(config: RunConfig, *, person: str | None, teacher: bool = False) -> None:
    """OwnDatasetError when ``config`` trains on someone else's private made dataset (a set-up link can name one)."""
    folder = config.dataset_options.get("folder") if config.dataset == "imagefolder" else None
    if not isinstance(folder, str) or not is_made(folder):
        return
    try:
        dataset = get(folder)
    except OwnDatasetError:
        return  # gone meanwhile: the loader says so
    if not may_use(dataset, person=person, teacher=teacher):
        raise OwnDatasetError("This dataset belongs to another student who has not shared it with the class.")


def _modifiable(folder: str, person: str | None, teacher: bool) -> OwnDataset:
    dataset = get(folder)
    if not may_modify(dataset, person=person, teacher=teacher):
        raise OwnDatasetError(f"{dataset.title!r} belongs to another student: you may use it, not change it.")
    return dataset


# --------------------------------------------------------------------------- making and changing


def create(title: str, *, person: str | None, teacher: bool = False, limits: Limits | None = None) -> str:
    """A new empty dataset (no classes yet) owned by ``person`` (None in teacher mode) → its folder name."""
    title = check_name(title, "A dataset name")
    owner = None if teacher else person
    if not teacher:
        mine = sum(1 for f in made_folders() if (_read_record(f) or {}).get("owner") == owner)
        if mine >= MAX_DATASETS_PER_PERSON:
            raise OwnDatasetError(f"You have {mine} datasets, the most one person may make here "
                                  f"({MAX_DATASETS_PER_PERSON}): delete one first.")
    parent = image_folders_root()
    parent.mkdir(parents=True, exist_ok=True)
    with archives.locked(parent):
        name = archives.folder_name(_MADE_PREFIX + title, parent)
        (parent / name).mkdir()
        _write_record(name, {"owner": owner, "bytes": 0, "made": True, "title": title, "shared": False,
                             "published": False})
    return name


def add_class(folder: str, name: str, *, person: str | None, teacher: bool = False) -> str:
    """Add an empty class → its name as stored. Refuses a bad name, a duplicate (any case), the 11th class."""
    dataset = _modifiable(folder, person, teacher)
    name = check_name(name)
    if name.lower() in {c.lower() for c in dataset.classes}:
        raise OwnDatasetError(f"There is already a class called {name!r}.")
    if len(dataset.classes) >= MAX_CLASSES:
        raise OwnDatasetError(f"This dataset has {len(dataset.classes)} classes, the most it may have "
                              f"({MAX_CLASSES}).")
    with archives.locked(image_folders_root()):
        (_path(folder) / name).mkdir(exist_ok=True)
    return name


def _class_path(dataset: OwnDataset, class_name: str) -> Path:
    if class_name not in dataset.classes:
        raise OwnDatasetError(f"{dataset.title!r} has no class called {class_name!r}.")
    return _path(dataset.folder) / class_name


def _stored_side(limits: Limits) -> int:
    return min(STORED_SIDE, limits.max_image_size)


def _square(image: Image.Image, side: int) -> Image.Image:
    """Centre-crop to a square and resize: what the loader would do, done once, so a thumbnail is what trains."""
    return ImageOps.fit(image.convert("RGB"), (side, side), Image.Resampling.BILINEAR)


def _file_label(filename: object) -> str:
    text = str(filename)
    return repr(text if len(text) <= 60 else text[:57] + "...")  # quoted: a student's name, shown as it is


def _sync_bytes(folder: str) -> int:
    """Count the dataset's bytes on disk into its record (under the lock): the quota reads the record."""
    path = _path(folder)
    total = sum(p.stat().st_size for c in _class_folders(path) for p in _photos(c))
    record = _read_record(folder)
    if record is not None:
        _write_record(folder, {**record, "bytes": total})
    return total


def add_images(folder: str, class_name: str, files: Iterable[tuple[str, bytes]], *, person: str | None,
               teacher: bool = False, limits: Limits | None = None) -> Added:
    """Check, shrink and store photos in a class. Each file is judged alone: a file that is no picture is refused
    with a sentence naming it, the others are kept; once the quota or the count limit is reached the rest are
    refused with a sentence naming the limit.

    ``files``: ``(name as the student's computer called it, bytes)``. Example:
    ``add_images(folder, "up", [("a.jpg", data)], person=me).added`` → 1.
    """
    limits = limits or load_limits()
    dataset = _modifiable(folder, person, teacher)
    target = _class_path(dataset, class_name)
    owner = dataset.owner  # counted against the maker's quota, whoever adds (the teacher may add to it)
    side = _stored_side(limits)
    added, refused = 0, []
    parent = image_folders_root()
    for filename, data in files:
        label = _file_label(filename)
        if len(data) > limits.max_upload_mb * 2**20:
            refused.append(f"{label} is {len(data) / 2**20:,.1f} MB; one photo may be at most "
                           f"{limits.max_upload_mb:,} MB (max_upload_mb).")
            continue
        try:
            image = decode_upload(data, max_pixels=archives.MAX_IMAGE_PIXELS)
        except ValueError as exc:
            refused.append(f"{label} is not an image we can use: {exc}")
            continue
        buffer = io.BytesIO()
        _square(image, side).save(buffer, format="PNG", optimize=True)
        png = buffer.getvalue()
        with archives.locked(parent):
            count = sum(len(v) for v in get(folder).classes.values())
            if count >= limits.max_zip_files:
                refused.append(f"{label} was not added: this dataset has {count:,} photos, the most one dataset "
                               f"may hold (max_zip_files = {limits.max_zip_files:,}).")
                continue
            try:
                archives.check_budgets(len(png), owner, parent, limits, what="this photo")
            except archives.ArchiveError as exc:
                refused.append(f"{label} was not added: {exc}")
                continue
            path = target / f"{time.time_ns() // 1_000_000:013d}-{uuid.uuid4().hex[:8]}.png"
            with open(path, "xb") as out:
                out.write(png)
            try:
                verify_image_file(path, max_pixels=archives.MAX_IMAGE_PIXELS)  # what the zip upload checks
            except ValueError as exc:  # never expected for our own PNG: refuse it like a broken zip entry
                path.unlink(missing_ok=True)
                refused.append(f"{label} is not an image we can use ({exc}).")
                continue
            _sync_bytes(folder)
        added += 1
    return Added(added, refused)


def remove_image(folder: str, class_name: str, image: str, *, person: str | None, teacher: bool = False) -> None:
    """Delete one photo (a name as ``get`` lists it: nothing else is ever deleted)."""
    dataset = _modifiable(folder, person, teacher)
    if not isinstance(image, str) or not _IMAGE.match(image) or image not in dataset.classes.get(class_name, []):
        raise OwnDatasetError(f"{dataset.title!r} has no photo {image!r} in {class_name!r}.")
    with archives.locked(image_folders_root()):
        (_class_path(dataset, class_name) / image).unlink(missing_ok=True)
        _sync_bytes(folder)


def remove_class(folder: str, class_name: str, *, person: str | None, teacher: bool = False) -> None:
    """Delete a class with its photos."""
    dataset = _modifiable(folder, person, teacher)
    path = _class_path(dataset, class_name)
    with archives.locked(image_folders_root()):
        shutil.rmtree(path)
        _sync_bytes(folder)


def set_shared(folder: str, shared: bool, *, person: str | None, teacher: bool = False) -> None:
    """Let the whole class use it read-only (or take that back)."""
    _modifiable(folder, person, teacher)
    with archives.locked(image_folders_root()):
        _write_record(folder, {**_read_record(folder), "shared": bool(shared)})


def set_published(folder: str, published: bool, *, teacher: bool) -> None:
    """The teacher makes it the class's dataset (only the teacher may then delete it)."""
    dataset = get(folder)
    if not teacher:
        raise OwnDatasetError(f"Only the teacher may publish {dataset.title!r} to the class.")
    with archives.locked(image_folders_root()):
        _write_record(folder, {**_read_record(folder), "published": bool(published)})


def delete(folder: str, *, person: str | None, teacher: bool = False) -> None:
    """Delete the dataset and its record (which frees its maker's quota)."""
    dataset = _modifiable(folder, person, teacher)
    if dataset.published and not teacher:
        raise OwnDatasetError(f"{dataset.title!r} is published to the class: only the teacher may delete it.")
    with archives.locked(image_folders_root()):
        shutil.rmtree(_path(folder))
        _record_path(folder).unlink(missing_ok=True)


def read_photo(dataset: OwnDataset, class_name: str, image: str) -> bytes:
    """One stored photo's PNG bytes, for a thumbnail: a name ``get`` listed (nothing else is ever read)."""
    if not isinstance(image, str) or not _IMAGE.match(image) or image not in dataset.classes.get(class_name, []):
        raise OwnDatasetError(f"{dataset.title!r} has no photo {image!r} in {class_name!r}.")
    return (_class_path(dataset, class_name) / image).read_bytes()


# --------------------------------------------------------------------------- export and training


def export_zip(folder: str) -> bytes:
    """The dataset as the Train page's upload takes it: ``<class>/<photo>.png``, classes with photos only."""
    dataset = get(folder)
    path = _path(folder)
    buffer = io.BytesIO()
    # Stored, not deflated: PNGs are compressed already.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for class_name, photos in dataset.classes.items():
            for photo in photos:
                archive.write(path / class_name / photo, f"{class_name}/{photo}")
    return buffer.getvalue()


def training_problems(dataset: OwnDataset) -> tuple[list[str], list[str]]:
    """(what stops training, warnings): fewer than two classes, a class with under 2 photos; a class with under
    ``FEW_IMAGES`` photos, or classes of very different sizes, is trainable with a warning."""
    counts = {c: len(p) for c, p in dataset.classes.items()}
    problems, warnings = [], []
    if len(counts) < 2:
        problems.append("Add at least two classes: a network learns to tell things apart.")
    for name, n in counts.items():
        if n < MIN_IMAGES_TO_TRAIN:
            problems.append(f"Class {name!r} has {n} photo{'s' if n != 1 else ''}: it needs at least "
                            f"{MIN_IMAGES_TO_TRAIN} (one to learn from, one to test on), or remove the class.")
        elif n < FEW_IMAGES:
            warnings.append(f"Class {name!r} has only {n} photos: with fewer than {FEW_IMAGES} per class the test "
                            f"accuracy rests on one or two photos. Add more for a fair score.")
    if len(counts) >= 2 and min(counts.values()) >= MIN_IMAGES_TO_TRAIN and max(counts.values()) > 3 * min(
            counts.values()):
        warnings.append("One class has over three times as many photos as another: the network may learn to "
                        "guess the big class. Even them out.")
    return problems, warnings


def training_config(dataset: OwnDataset, *, epochs: int | None = None, limits: Limits | None = None) -> RunConfig:
    """A run on the dataset with a small CNN sized for its photo count: TinyVGG (Conv → ReLU ×2 → MaxPool, twice)
    with 8 channels for under 100 photos, 16 under 500, 32 beyond; augmentation on (mirror, shifts, rotation,
    lighting: a webcam photo is never framed the same twice); 20 % of each class held out for the test and 10 %
    of the rest for validation (the image folder's own split).

    Example: ``training_config(get(folder)).model_options`` → ``{"hidden_units": 8}`` for 40 photos.
    """
    limits = limits or load_limits()
    n = dataset.images
    hidden = 8 if n < 100 else 16 if n < 500 else 32
    train = max(1, round(n * 0.8 * 0.9))
    batch = max(4, min(32, limits.max_batch_size, train // 4 or 1))
    # About 150 optimiser steps in all, within 10 to 40 epochs: enough to learn a few classes, seconds on a GPU.
    suggested = max(10, min(40, math.ceil(150 / max(1, math.ceil(train / batch)))))
    epochs = min(epochs or suggested, limits.max_epochs)
    return RunConfig(dataset="imagefolder",
                     dataset_options={"folder": dataset.folder, "image_size": _stored_side(limits)},
                     model="tinyvgg", model_options={"hidden_units": hidden}, optimizer="adam", lr=2e-3,
                     batch_size=min(batch, limits.max_batch_size), epochs=epochs,
                     augment={"hflip": True, "crop": True, "rotation": True, "brightness": True},
                     snapshot_every=10, name=dataset.title)
