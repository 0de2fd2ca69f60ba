"""A student's zip of class folders, extracted safely into a new image-folder dataset.

Everything is checked from the zip's own table of contents before one byte is extracted: no entry may leave
the new folder (``..``, absolute names, drive letters), be a symbolic link, or decompress to much more than it
weighs, nor may the whole zip (a "zip bomb"); the entry count, the upload and the total extracted size stay under
the teacher's limits (``limits.Limits``), and so do all uploaded datasets together on disk (``max_uploads_mb``)
and each person's (``max_uploads_mb_per_person``). Only image files in the image-folder layout are kept:

    train/<class>/*.jpg and test/<class>/*.jpg, or <class>/*.jpg   (one wrapping folder is fine)

and each is decoded once (a size check first) before it is kept: a file with an image's name that is not a
picture refuses the whole zip, naming the file (a dataset with a broken image would fail later, at training).

The files go to a hidden temporary folder first and appear under ``<data folder>/imagefolder/<name>`` only
once complete and checked, so a refused upload leaves nothing behind and no one sees a half-written dataset.
Each uploaded folder's uploader and size are recorded next to the image folders, in
``<data folder>/.uploads/<name>.json`` (``records_folder``), out of sight of the dataset lists.

Example: ``extract_image_zip(open("cats_dogs.zip", "rb"), "cats_dogs.zip").folder`` → ``"cats_dogs"``.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import shutil
import stat
import uuid
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from vision_core.data.datasets import IMAGE_EXTENSIONS, image_folders_root
from vision_core.data.images import verify_image_file
from vision_core.limits import Limits, load_limits

SPLITS = ("train", "test")
# Photos barely compress (JPEG and PNG are compressed already): an entry that shrinks 100-fold is a bomb.
MAX_RATIO = 100
_RATIO_FROM_BYTES = 2**20  # tiny entries (a blank 1 KB icon) may compress well without harm
# The whole zip: a thousand entries of 1 MiB of zeros pass one by one, not together. 20-fold leaves room for
# uncompressed formats (BMP, PPM) of simple pictures.
MAX_ARCHIVE_RATIO = 20
_ARCHIVE_RATIO_FROM_BYTES = 16 * 2**20  # a small zip of blank icons may compress well without harm
MAX_IMAGE_PIXELS = 4096 * 4096  # one uploaded picture (a 12-megapixel phone photo fits); checked before decoding
_CHUNK = 2**20


class ArchiveError(ValueError):
    """An upload refused: the message says why, in one sentence, with no server path."""


@dataclass(frozen=True)
class Extracted:
    """A new image-folder dataset: its sub-folder name, classes, image count, and entries left out."""

    folder: str
    classes: list[str]
    images: int
    skipped: int  # entries that are not images in the layout (README, __MACOSX/, hidden files, other depths)
    split: bool  # True: train/ and test/ folders; False: class folders (the loader keeps 20 % for testing)


def _size_of(source: bytes | BinaryIO) -> int:
    if isinstance(source, (bytes, bytearray)):
        return len(source)
    position = source.tell()
    size = source.seek(0, io.SEEK_END)
    source.seek(position)
    return size


def _entry_parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    """The entry's path parts, or ArchiveError for a name that could land outside the new folder."""
    name = info.filename.replace("\\", "/")  # Windows tools write either separator
    if "\0" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ArchiveError("This zip has an entry with an absolute path: refused (only relative class folders).")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if ".." in parts:
        raise ArchiveError("This zip has an entry that points outside its folder (..): refused.")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ArchiveError("This zip holds a symbolic link: refused (links could point anywhere on the server).")
    return parts


def _is_kept(parts: tuple[str, ...]) -> bool:
    return (bool(parts) and not any(p.startswith(".") or p == "__MACOSX" for p in parts)
            and parts[-1].lower().endswith(IMAGE_EXTENSIONS))


def _layout(paths: list[tuple[str, ...]]) -> tuple[list[tuple[str, ...]], bool]:
    """(each path inside the dataset, () when outside it; whether it has train/ and test/).

    Wrapping folders are removed: "cats_dogs/train/cat/1.jpg" is the zip's own folder around the layout.
    Loose files next to the wrapping folder (depth 1) do not prevent that: they are left out.
    """
    wrap: tuple[str, ...] = ()
    while True:
        inner = [p[len(wrap):] for p in paths if p[:len(wrap)] == wrap and len(p) - len(wrap) >= 2]
        heads = {q[0] for q in inner}
        if len(heads) != 1 or heads & set(SPLITS) or not all(len(q) >= 3 for q in inner):
            break
        wrap += tuple(heads)
    inside = [p[len(wrap):] if p[:len(wrap)] == wrap else () for p in paths]
    return inside, any(len(q) == 3 and q[0] in SPLITS for q in inside)


def plan(archive: zipfile.ZipFile, limits: Limits, archive_bytes: int | None = None
         ) -> tuple[list[tuple[zipfile.ZipInfo, tuple[str, ...]]], int, bool]:
    """Check a zip's table of contents: ([(entry, path inside the dataset)], entries skipped, split layout).

    ``archive_bytes``: the upload's size, for the whole-archive expansion ratio. Raises ArchiveError for a path
    escape, a link, a bomb, too many entries or too many bytes, or a zip that is not a dataset (fewer than two
    class folders of images).
    """
    infos = archive.infolist()
    if len(infos) > limits.max_zip_files:
        raise ArchiveError(f"This zip has {len(infos):,} entries; the limit is {limits.max_zip_files:,}.")
    total = 0
    candidates = []
    for info in infos:
        parts = _entry_parts(info)  # every entry, kept or not: a hostile name refuses the whole zip
        if info.file_size > _RATIO_FROM_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ArchiveError(f"This zip has an entry that expands {info.file_size // max(info.compress_size, 1):,} "
                               f"times (a zip bomb): refused.")
        total += info.file_size
        if total > limits.max_unzipped_mb * 2**20:
            raise ArchiveError(f"This zip holds more than {limits.max_unzipped_mb:,} MB once extracted; "
                               f"that is this classroom's limit.")
        if not info.is_dir() and _is_kept(parts):
            candidates.append((info, parts))
    if archive_bytes and total > _ARCHIVE_RATIO_FROM_BYTES and total > MAX_ARCHIVE_RATIO * archive_bytes:
        raise ArchiveError(f"This zip of {archive_bytes / 2**20:.1f} MB expands to {total / 2**20:,.0f} MB, "
                           f"{total // archive_bytes:,} times its size (a zip bomb): refused.")
    paths, split = _layout([parts for _, parts in candidates])
    wanted = 3 if split else 2
    kept = [(info, path) for (info, _), path in zip(candidates, paths)
            if len(path) == wanted and (not split or path[0] in SPLITS)]
    classes = {path[-2] for _, path in kept if not split or path[0] == "train"}
    if len(classes) < 2:
        raise ArchiveError("This zip holds no image-folder dataset: it needs at least two class folders of "
                           "images, as train/<class>/*.jpg and test/<class>/*.jpg, or <class>/*.jpg.")
    if split:
        test = {path[1] for _, path in kept if path[0] == "test"}
        if test and test != classes:
            raise ArchiveError(f"train/ and test/ must have the same class folders, got {sorted(classes)} "
                               f"and {sorted(test)}.")
        if not test:  # train/ alone: the loader splits it like class folders
            split = False
    return kept, len(infos) - len(kept), split


def records_folder(parent: Path | None = None) -> Path:
    """Where the uploads into ``parent`` (default: the image-folder root) are recorded, one ``<name>.json`` each
    (``{"owner": …, "bytes": …}``): beside that root, so no dataset list or scan ever shows them."""
    parent = parent or image_folders_root()
    return parent.parent / ".uploads"


def uploaded_bytes(parent: Path | None = None) -> dict[str | None, int]:
    """Bytes on disk of the uploaded datasets in ``parent`` (default: the image-folder root), per uploader.

    Read from their records (``records_folder``); folders without one (the teacher's own) are not uploads, and a
    record whose folder the teacher deleted counts no more. Example: ``uploaded_bytes()`` →
    ``{"3f2a…": 12_500_000, None: 80_000_000}`` (None: uploaded in teacher mode).
    """
    parent = parent or image_folders_root()
    totals: dict[str | None, int] = {}
    if not parent.is_dir() or parent.is_symlink():
        return totals
    with os.scandir(parent) as entries:
        folders = [e.name for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")]
    for folder in folders:
        record = records_folder(parent) / f"{folder}.json"
        try:
            if record.is_symlink() or not record.is_file() or record.stat().st_size > 4096:
                continue
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        size = data.get("bytes") if isinstance(data, dict) else None
        owner = data.get("owner")
        if isinstance(size, int) and not isinstance(size, bool) and size >= 0 and isinstance(owner, (str, type(None))):
            totals[owner] = totals.get(owner, 0) + size
    return totals


def check_budgets(adding: int, owner: str | None, parent: Path, limits: Limits, what: str = "this zip") -> None:
    """ArchiveError when ``adding`` bytes would take the uploads past the class's or the uploader's limit.

    ``what`` names the addition in the message ("this zip", "this photo"). Call it holding the lock on ``parent``
    (``locked``), so two additions at once cannot both fit the last megabytes.
    """
    used = uploaded_bytes(parent)
    total = sum(used.values())
    if total + adding > limits.max_uploads_mb * 2**20:
        raise ArchiveError(f"The uploaded datasets on this server take {total / 2**20:,.1f} MB and {what} adds "
                           f"{adding / 2**20:,.1f} MB, more than the {limits.max_uploads_mb:,} MB they may take "
                           f"together (max_uploads_mb): ask the teacher to delete old ones.")
    if owner is not None and used.get(owner, 0) + adding > limits.max_uploads_mb_per_person * 2**20:
        raise ArchiveError(f"Your uploaded datasets take {used.get(owner, 0) / 2**20:,.1f} MB and {what} adds "
                           f"{adding / 2**20:,.1f} MB, more than the {limits.max_uploads_mb_per_person:,} MB one "
                           f"person may upload (max_uploads_mb_per_person).")


@contextmanager
def locked(parent: Path):
    """Hold the lock every addition to the uploads in ``parent`` takes while it checks the budgets and writes: a
    lock on the image-folder root itself (``flock``), so nothing is written for it. Released when the process
    ends, whatever happens."""
    lock = os.open(parent, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)


def _shown_entry(info: zipfile.ZipInfo) -> str:
    name = info.filename.replace("\\", "/")
    return repr(name if len(name) <= 80 else name[:77] + "...")  # quoted: a student's name, shown as it is


def folder_name(filename: str, parent: Path) -> str:
    """A new sub-folder name from the upload's file name: letters, digits, - and _; unique in ``parent``."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(str(filename)).stem).strip("_-")[:40] or "upload"
    name, n = stem, 1
    while (parent / name).exists() or (parent / name).is_symlink():
        n += 1
        name = f"{stem}-{n}"
    return name


def _copy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Stream one entry to ``target`` (never past its declared size or the budget): bytes written."""
    written = 0
    with archive.open(info) as src, open(target, "xb") as dst:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > info.file_size or written > budget:  # the table of contents lied
                raise ArchiveError("This zip's contents are larger than its table of contents says: refused.")
            dst.write(chunk)
    return written


def extract_image_zip(source: bytes | BinaryIO, filename: str, limits: Limits | None = None,
                      parent: Path | None = None, *, owner: str | None = None) -> Extracted:
    """Check, then extract an uploaded zip of class folders into a new ``<parent>/<name>`` (default parent:
    ``<data folder>/imagefolder``). Raises ArchiveError (a ValueError) saying why a zip is refused.

    ``owner``: who uploads it (``ui.identity``'s person id), recorded next to the images and counted against
    ``max_uploads_mb_per_person``; None for the teacher (counted only in ``max_uploads_mb``).

    Example: ``extract_image_zip(uploaded_bytes, "cats_dogs.zip").folder`` → ``"cats_dogs"``.
    """
    limits = limits or load_limits()
    size = _size_of(source)
    if size > limits.max_upload_mb * 2**20:
        raise ArchiveError(f"This zip is {size / 2**20:.1f} MB; the limit is {limits.max_upload_mb:,} MB.")
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    parent = parent or image_folders_root()
    try:
        with zipfile.ZipFile(stream) as archive:
            kept, skipped, split = plan(archive, limits, size)
            parent.mkdir(parents=True, exist_ok=True)
            adding = sum(info.file_size for info, _ in kept)  # _copy never writes past an entry's declared size
            # One upload at a time checks the budgets and moves into place (two at once could both fit the last
            # megabytes).
            with locked(parent):
                staging = parent / f".upload-{uuid.uuid4().hex}"  # hidden: never offered while it fills
                try:
                    check_budgets(adding, owner, parent, limits)
                    staging.mkdir()
                    budget = limits.max_unzipped_mb * 2**20
                    images = written = 0
                    for info, path in kept:
                        target = staging.joinpath(*path)
                        # Belt and braces: plan() refused every name that could leave the folder.
                        if staging not in target.resolve().parents:
                            raise ArchiveError("This zip has an entry that points outside its folder: refused.")
                        target.parent.mkdir(parents=True, exist_ok=True)
                        try:
                            copied = _copy(archive, info, target, budget)
                            budget -= copied
                            written += copied
                        except FileExistsError:  # the same name twice (e.g. different case on another system)
                            skipped += 1
                            continue
                        try:
                            verify_image_file(target, max_pixels=MAX_IMAGE_PIXELS)
                        except ValueError as exc:
                            raise ArchiveError(f"This zip's file {_shown_entry(info)} is not an image we can use "
                                               f"({exc}): refused. Every file in the class folders must be a "
                                               f"picture.") from None
                        images += 1
                    records = records_folder(parent)
                    records.mkdir(exist_ok=True)
                    for _ in range(100):  # another upload may take the same name meanwhile: take the next one
                        name = folder_name(filename, parent)
                        try:
                            os.rename(staging, parent / name)
                            break
                        except OSError:
                            continue
                    else:
                        raise ArchiveError("This zip could not be given a folder name on the server: try again.")
                    try:
                        (records / f"{name}.json").write_text(json.dumps({"owner": owner, "bytes": written}),
                                                              encoding="utf-8")
                    except OSError:
                        shutil.rmtree(parent / name, ignore_errors=True)  # an upload nobody counts is not kept
                        raise
                except BaseException:
                    shutil.rmtree(staging, ignore_errors=True)
                    raise
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"This file is not a readable zip archive ({exc}).") from None
    except (NotImplementedError, RuntimeError) as exc:  # an unsupported compression method, or encryption
        raise ArchiveError(f"This zip cannot be extracted here ({exc}).") from None
    except OSError as exc:
        raise ArchiveError(f"This zip could not be saved on the server ({exc.strerror or exc}).") from None
    classes = sorted({path[-2] for _, path in kept})
    return Extracted(folder=name, classes=classes, images=images, skipped=skipped, split=split)
