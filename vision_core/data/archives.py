"""A student's zip of class folders, extracted safely into a new image-folder dataset.

Everything is checked from the zip's own table of contents before one byte is extracted: no entry may leave
the new folder (``..``, absolute names, drive letters), be a symbolic link, or decompress to much more than it
weighs (a "zip bomb"); the entry count, the upload and the total extracted size stay under the teacher's limits
(``classroom.Limits``). Only image files in the image-folder layout are kept:

    train/<class>/*.jpg and test/<class>/*.jpg, or <class>/*.jpg   (one wrapping folder is fine)

The files go to a hidden temporary folder first and appear under ``<data folder>/imagefolder/<name>`` only
once complete, so a failed upload leaves nothing behind and no one sees a half-written dataset.

Example: ``extract_image_zip(open("cats_dogs.zip", "rb"), "cats_dogs.zip").folder`` → ``"cats_dogs"``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from vision_core.data.datasets import IMAGE_EXTENSIONS, image_folders_root
from vision_core.limits import Limits, load_limits

SPLITS = ("train", "test")
# Photos barely compress (JPEG and PNG are compressed already): an entry that shrinks 100-fold is a bomb.
MAX_RATIO = 100
_RATIO_FROM_BYTES = 2**20  # tiny entries (a blank 1 KB icon) may compress well without harm
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


def plan(archive: zipfile.ZipFile, limits: Limits) -> tuple[list[tuple[zipfile.ZipInfo, tuple[str, ...]]], int, bool]:
    """Check a zip's table of contents: ([(entry, path inside the dataset)], entries skipped, split layout).

    Raises ArchiveError for a path escape, a link, a bomb, too many entries or too many bytes, or a zip
    that is not a dataset (fewer than two class folders of images).
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
                      parent: Path | None = None) -> Extracted:
    """Check, then extract an uploaded zip of class folders into a new ``<parent>/<name>`` (default parent:
    ``<data folder>/imagefolder``). Raises ArchiveError (a ValueError) saying why a zip is refused.

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
            kept, skipped, split = plan(archive, limits)
            parent.mkdir(parents=True, exist_ok=True)
            staging = parent / f".upload-{uuid.uuid4().hex}"  # hidden: never offered while it fills
            staging.mkdir()
            try:
                budget = limits.max_unzipped_mb * 2**20
                images = 0
                for info, path in kept:
                    target = staging.joinpath(*path)
                    # Belt and braces: plan() refused every name that could leave the folder.
                    if staging not in target.resolve().parents:
                        raise ArchiveError("This zip has an entry that points outside its folder: refused.")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        budget -= _copy(archive, info, target, budget)
                    except FileExistsError:  # the same name twice (e.g. different case on another system)
                        skipped += 1
                        continue
                    images += 1
                for _ in range(100):  # another upload may take the same name meanwhile: take the next one
                    name = folder_name(filename, parent)
                    try:
                        os.rename(staging, parent / name)
                        break
                    except OSError:
                        continue
                else:
                    raise ArchiveError("This zip could not be given a folder name on the server: try again.")
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
