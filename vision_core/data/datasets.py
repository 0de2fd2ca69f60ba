"""The dataset registry: ``load(name, ...)`` → an ``ImageDataset`` of in-memory uint8 tensors.

Embedded datasets (``digits``, ``shapes``) need nothing on disk. Real ones (``mnist``,
``fashion_mnist``, ``kmnist``, ``cifar10``, ``imagefolder``) are read with torchvision's own
loaders from ``data_root()`` and never downloaded unless asked (``download=True`` or
``VISION_CORE_DOWNLOAD=1``); when their files are missing, ``DatasetNotFoundError`` names the
folder and the files to put there.

Loaded datasets are cached per process (the dashboard asks for the same one many times), so
the returned tensors are shared: treat them as read-only (index or ``.clone()``, never write).
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import torch
import torch.nn.functional as F

from vision_core.data import procedural

# Resizing and decoding beyond this many bytes of uint8 pixels would exhaust a laptop's memory.
MAX_DATASET_BYTES = 6 * 2**30
# Fixed, so that the test images never depend on the seed that picks the validation set.
TEST_SPLIT_SEED = 1234


class DatasetNotFoundError(FileNotFoundError):
    """A real dataset whose files are not on disk; the message says where to put which files.

    For pages that fold the details away: ``title`` (the dataset's menu name), ``folder`` (where the files go,
    relative to the data folder when inside it), ``files`` (their names) and ``command`` (``vision-core download``'s
    dataset argument, "" when there is nothing to download).
    """

    def __init__(self, message: str, *, title: str = "", folder: str = "", files: tuple[str, ...] = (),
                 command: str = "") -> None:
        super().__init__(message)
        self.title = title
        self.folder = folder
        self.files = tuple(files)
        self.command = command


# --------------------------------------------------------------------------- containers


@dataclass(frozen=True, eq=False)
class Split:
    """Images (uint8, N×C×H×W) and labels (int64, N); indexing gives (float C×H×W in [0, 1], int).

    Example: ``x, y = dataset.train[0]``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int | None = None  # None: one more than the largest label

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"Split images must be uint8 N×C×H×W, got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if self.labels.dim() != 1 or len(self.labels) != len(self.images):
            raise ValueError(f"Split needs one label per image: {len(self.images)} images, "
                             f"labels of shape {tuple(self.labels.shape)}")
        object.__setattr__(self, "labels", self.labels.long())
        if self.num_classes is None:
            object.__setattr__(self, "num_classes", int(self.labels.max()) + 1 if len(self.labels) else 0)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index].float() / 255, int(self.labels[index])

    def class_counts(self) -> list[int]:
        """Images per class, in class order: ``[len(class 0), len(class 1), ...]``."""
        return torch.bincount(self.labels, minlength=self.num_classes).tolist()

    def subset(self, indices: torch.Tensor) -> Split:
        return Split(self.images[indices], self.labels[indices], self.num_classes)


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A loaded dataset: its splits, classes and the normalisation its recipe uses.

    Example: ``data = load("digits"); data.normalize(data.train.images[:8].float() / 255)``.
    """

    name: str
    classes: list[str]
    channels: int
    image_size: tuple[int, int]  # (H, W)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train: Split
    test: Split
    val: Split | None = None
    description: str = ""
    held_out: Split | None = None  # a challenge's held-out images (see HeldOut): never in train or val
    _stats: dict = field(default_factory=dict, init=False, repr=False)  # (device, dtype) → (mean, std)

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_size", tuple(int(s) for s in self.image_size))
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"mean and std need one value per channel ({self.channels}), "
                             f"got {self.mean} and {self.std}")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one model input."""
        return (self.channels, *self.image_size)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(x − mean) / std per channel, on x's device; x is float (B×)C×H×W in [0, 1].

        Example: ``load("mnist").normalize(torch.zeros(1, 1, 28, 28))`` → all −0.4242.
        """
        if x.dim() < 3 or x.shape[-3] != self.channels:
            raise ValueError(f"normalize expects (B×){self.channels}×H×W images, got shape {tuple(x.shape)}")
        if all(m == 0.0 for m in self.mean) and all(s == 1.0 for s in self.std):
            return x
        key = (x.device, x.dtype)
        if key not in self._stats:  # built once per device: no host→device copy per batch
            self._stats[key] = (torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(-1, 1, 1),
                                torch.tensor(self.std, dtype=x.dtype, device=x.device).view(-1, 1, 1))
        mean, std = self._stats[key]
        return (x - mean) / std


@dataclass(frozen=True)
class HeldOut:
    """A challenge's held-out split: ``count`` images of the training pool, the same share of every class, chosen
    by ``seed`` (vision_core.runs.challenges records both). ``load(..., held_out=HeldOut(300, 7))`` takes them out
    before the validation split is drawn, so no run for the challenge trains or validates on them; they come back
    as ``dataset.held_out`` for scoring. The test split is never touched: the Evaluate page shows only it.
    """

    count: int
    seed: int

    def __post_init__(self) -> None:
        for name in ("count", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "count" else 0):
                raise ValueError(f"held-out {name} must be a whole number ≥ {1 if name == 'count' else 0}, "
                                 f"got {value!r}")


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows about a dataset before loading it."""

    name: str
    title: str
    description: str
    embedded: bool  # True: generated or shipped with an installed package, never downloaded
    channels: int
    image_size: tuple[int, int]  # the recipe's default (H, W)
    num_classes: int  # 0 when it depends on the data (imagefolder)
    val_size: float | int  # the recipe's default validation hold-out
    options: tuple[str, ...] = ()  # extra keyword options load() accepts for it


@dataclass(frozen=True)
class DataPlan:
    """What ``load`` would build, worked out from its options alone: nothing read, generated or decoded.

    ``images``: how many images loading builds in memory at once (train + test, before the validation hold-out
    and ``train_limit``); ``generated``: how many of them a generator draws (0 for data read from disk);
    ``train`` / ``val`` / ``test``: the split sizes the loaded dataset will have.
    Example: ``plan("shapes", n_train=1000, image_size=64).nbytes`` → 1600 × 3 × 64 × 64.
    """

    name: str
    channels: int
    image_size: tuple[int, int]  # (H, W) after resizing
    num_classes: int
    images: int
    generated: int
    train: int
    val: int
    test: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.image_size)

    @property
    def nbytes(self) -> int:
        """Bytes of every image as uint8, the way ``load`` keeps them."""
        return self.images * self.channels * self.image_size[0] * self.image_size[1]


@dataclass(frozen=True)
class _Entry:
    info: DatasetInfo
    # (root, image_size, download, seed, **options) → (train, test, classes, mean, std)
    read: Callable[..., tuple[Split, Split, list[str], tuple, tuple]]
    available: Callable[[Path], bool]
    default_root: Callable[[], Path]
    # (root, **options) → (train images, test images, classes) as shipped, without reading the images
    counts: Callable[..., tuple[int, int, int]]


_REGISTRY: dict[str, _Entry] = {}


def _register(info: DatasetInfo, available: Callable[[Path], bool] = lambda root: True,
              default_root: Callable[[], Path] | None = None, counts: Callable[..., tuple[int, int, int]] | None = None):
    def decorator(read):
        _REGISTRY[info.name] = _Entry(info, read, available, default_root or data_root, counts)
        return read
    return decorator


# --------------------------------------------------------------------------- public API


def data_root() -> Path:
    """Where real datasets live: ``$VISION_CORE_DATA``, default ``./data`` (from the working directory)."""
    return Path(os.environ.get("VISION_CORE_DATA", "data")).expanduser().resolve()


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset, embedded ones first.

    Example: ``[info.name for info in list_datasets()]``.
    """
    return sorted((entry.info for entry in _REGISTRY.values()), key=lambda info: not info.embedded)


def dataset_info(name: str) -> DatasetInfo:
    return _entry(name).info


def is_available(name: str, root: str | Path | None = None, folder: str | None = None) -> bool:
    """True when ``load(name, root)`` needs no download: embedded, or its files are on disk.

    ``folder``: the image folder's sub-folder name (imagefolder only). Raises ValueError for an image folder
    outside the data folder. Example: ``is_available("mnist")`` → False on a fresh machine.
    """
    entry = _entry(name)
    if entry.info.name == "imagefolder":
        return entry.available(image_folder_path(folder, root))
    if folder is not None:
        raise ValueError(f"only imagefolder takes a folder name, not {entry.info.name}")
    return entry.info.embedded or entry.available(_root(entry, root))


def _checked_options(name: str, image_size, val_size, train_limit, options: dict) -> tuple[_Entry, Any, Any]:
    """(entry, (H, W) or None, val_size) after the checks ``load`` and ``plan`` share."""
    entry = _entry(name)
    unknown = sorted(set(options) - set(entry.info.options))
    if unknown:
        raise ValueError(f"{entry.info.name} does not take option(s) {unknown}; "
                         f"it takes {list(entry.info.options) or 'no extra options'} "
                         f"besides root, image_size, val_size, seed, download and train_limit")
    size = _image_size(image_size)
    val = entry.info.val_size if val_size is None else val_size
    if isinstance(val, bool) or not isinstance(val, (int, float)):
        raise TypeError(f"val_size must be a fraction or a count, got {val!r}")
    if train_limit is not None and (isinstance(train_limit, bool) or not isinstance(train_limit, int)
                                    or train_limit < 1):
        raise ValueError(f"train_limit must be a whole number of training images ≥ 1, got {train_limit!r}")
    return entry, size, val


def load(name: str, root: str | Path | None = None, *, image_size: int | tuple[int, int] | None = None,
         val_size: float | None = None, seed: int = 0, download: bool | None = None,
         train_limit: int | None = None, held_out: HeldOut | None = None, **options: Any) -> ImageDataset:
    """Load a dataset by name into memory (cached per process; do not write into its tensors).

    ``image_size``: int or (H, W); images are resized once here, as a batch. ``val_size``: a
    fraction (0 < f < 1) or a count of training images held out for validation, chosen by ``seed``
    (0 → no validation split). ``download``: fetch missing files with torchvision (default: only
    when ``VISION_CORE_DOWNLOAD=1``). ``train_limit``: keep only this many training images, the same share of
    every class, chosen by ``seed`` after the validation hold-out (so validation is the same whatever the limit;
    None → all of them): the "more data" lesson. ``held_out``: a challenge's held-out images (see HeldOut), taken
    out of the training pool first and returned as ``dataset.held_out``.

    Nothing here applies the classroom's limits: size a student's request first (``plan``, and
    ``training.guards.gate`` for the whole set-up).
    Example: ``load("digits", val_size=0.1).train.images.shape`` → (1294, 1, 32, 32).
    """
    entry, size, val = _checked_options(name, image_size, val_size, train_limit, options)
    if download is None:
        download = os.environ.get("VISION_CORE_DOWNLOAD", "") == "1"
    if entry.info.name == "imagefolder":  # confined to <data folder>/imagefolder before anything is listed
        folder = image_folder_path(options.get("folder"), root)
        # The folder's modification times are part of the key, so a changed image folder is re-read.
        stamp = _folder_stamp(folder)
    else:
        folder, stamp = _root(entry, root), None
    try:
        key_options = tuple(sorted(options.items()))
        hash(key_options)
    except TypeError as exc:
        raise TypeError(f"dataset options must be plain values (numbers, strings), got {options}") from exc
    return _load_cached(entry.info.name, str(folder), size, val, int(seed), bool(download), key_options, stamp,
                        train_limit, held_out)


def plan(name: str, root: str | Path | None = None, *, image_size: int | tuple[int, int] | None = None,
         val_size: float | None = None, seed: int = 0, download: bool | None = None,
         train_limit: int | None = None, held_out: HeldOut | None = None, **options: Any) -> DataPlan:
    """What ``load`` with these arguments would build, from the arguments alone (same checks, same errors).

    Generates, reads and decodes nothing: sizes come from the options (shapes), the published split sizes (MNIST,
    CIFAR-10, digits) or a listing of the image folder's files. Example:
    ``plan("shapes", n_train=200_000, n_test=200_000, image_size=512).generated`` → 400000.
    """
    entry, size, val = _checked_options(name, image_size, val_size, train_limit, options)
    root_path = image_folder_path(options.get("folder"), root) if entry.info.name == "imagefolder" \
        else _root(entry, root)
    n_train, n_test, num_classes = entry.counts(root_path, **options)
    if held_out is not None:
        n_train -= _held_out_count(n_train, held_out)
    n_val = _hold_out_count(n_train, val)
    kept = n_train - n_val
    if train_limit is not None and train_limit > kept:
        raise ValueError(f"train_limit {train_limit} is more than the {kept:,} training images there are; "
                         f"choose at most {kept:,}")
    return DataPlan(name=entry.info.name, channels=entry.info.channels, image_size=size or entry.info.image_size,
                    num_classes=num_classes, images=n_train + n_test,
                    generated=n_train + n_test if entry.info.name == "shapes" else 0,
                    train=kept if train_limit is None else train_limit, val=n_val, test=n_test)


@dataclass(frozen=True, eq=False)
class Preview:
    """What a form shows of a dataset: its sizes and classes, and its first few training images.

    ``images`` (uint8 k×C×H×W) and ``labels`` are the first training images, ``class_counts`` the training images
    per class. Example: ``preview("shapes", n_train=200_000).images.shape`` → (16, 3, 32, 32), drawn in
    milliseconds: the set itself is never generated.
    """

    name: str
    classes: list[str]
    channels: int
    image_size: tuple[int, int]
    train: int
    val: int
    test: int
    class_counts: list[int]
    images: torch.Tensor
    labels: torch.Tensor

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.image_size)


def preview(name: str, root: str | Path | None = None, *, count: int = 16, seed: int = 0,
            **options: Any) -> Preview:
    """The sizes, classes and first ``count`` training images of ``load(name, root, seed=seed, **options)``.

    Generated data (shapes) is never built: only its first ``count`` images are drawn (exactly those of the whole
    set) and the class counts come from the labels alone. Other datasets are loaded (size them first: ``plan``).
    """
    if dataset_info(name).name != "shapes":
        data = load(name, root, seed=seed, **options)
        return Preview(name=data.name, classes=list(data.classes), channels=data.channels,
                       image_size=data.image_size, train=len(data.train),
                       val=len(data.val) if data.val is not None else 0, test=len(data.test),
                       class_counts=data.train.class_counts(), images=data.train.images[:count].clone(),
                       labels=data.train.labels[:count].clone())
    sized = plan(name, root, seed=seed, **options)
    kwargs = {k: v for k, v in options.items() if k in ("n_train", "difficulty")}
    labels = _shapes_labels_only(seed, **kwargs)
    train, _ = _hold_out(labels, sized.val, seed)
    train = _limit_train(train, options.get("train_limit"), seed)
    n_train, difficulty = kwargs.get("n_train", _SHAPES_N_TRAIN), kwargs.get("difficulty", _SHAPES_DIFFICULTY)
    images, first_labels = procedural.make_shapes(n_train, sized.image_size, float(difficulty),
                                                  torch.Generator().manual_seed(seed), count=count)
    return Preview(name=sized.name, classes=list(procedural.SHAPE_CLASSES), channels=sized.channels,
                   image_size=sized.image_size, train=sized.train, val=sized.val, test=sized.test,
                   class_counts=train.class_counts(), images=images, labels=first_labels[:count])


def source_stamp(name: str, root: str | Path | None = None, folder: str | None = None) -> tuple:
    """What ``load(name, root, folder=…)`` reads from, with modification times for image folders: a cache key
    part for callers that keep loaded datasets (the dashboard), so a changed folder or data root is re-read.

    Raises ValueError for an image folder outside the data folder. Example: ``source_stamp("digits")`` → ``()``.
    """
    entry = _entry(name)
    if entry.info.name == "imagefolder":
        path = image_folder_path(folder, root)
        return (str(path), _folder_stamp(path))
    return () if entry.info.embedded else (str(_root(entry, root)),)


def clear_cache() -> None:
    """Forget every dataset loaded in this process (their memory is freed once nothing else holds them)."""
    _load_cached.cache_clear()


class OfflineError(ConnectionError):
    """The dataset's download server cannot be reached from this machine."""


# Where torchvision downloads each real dataset from (the first of its mirrors).
_DOWNLOAD_CLASSES = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST", "cifar10": "CIFAR10"}


def download_url(name: str) -> str:
    """The address torchvision downloads ``name`` from; "" for datasets that are never downloaded.

    Example: ``download_url("cifar10")`` → 'https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz'.
    """
    import torchvision

    key = _entry(name).info.name
    if key not in _DOWNLOAD_CLASSES:
        return ""
    dataset_class = getattr(torchvision.datasets, _DOWNLOAD_CLASSES[key])
    return dataset_class.mirrors[0] if hasattr(dataset_class, "mirrors") else dataset_class.url


def is_reachable(url: str, timeout: float = 3.0) -> bool:
    """True when a TCP connection to ``url``'s host opens within ``timeout`` seconds (name lookup included).

    Example: ``is_reachable("https://example.org")`` → False on a machine without internet.
    """
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    result: list[bool] = []

    def connect() -> None:  # in a thread: a name lookup has no timeout of its own
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(result and result[0])


def download(name: str, root: str | Path | None = None, timeout: float = 3.0) -> ImageDataset:
    """Fetch a real dataset into the data folder with torchvision, and load it.

    Raises OfflineError at once (within ``timeout``) when the download server cannot be reached, ValueError for
    a dataset that is never downloaded, DatasetNotFoundError when the download itself fails.
    Example: ``download("mnist")`` on a machine with internet access.
    """
    url = download_url(name)
    if not url:
        raise ValueError(f"{dataset_info(name).title} is not downloaded: it is embedded or your own files")
    if not is_reachable(url, timeout):
        raise OfflineError(f"this machine is offline: it cannot reach {urlsplit(url).hostname}, where "
                           f"{dataset_info(name).title} comes from")
    return load(name, root, download=True)


# --------------------------------------------------------------------------- shared machinery


def _entry(name: str) -> _Entry:
    key = str(name).strip().lower().replace("-", "_")
    if key not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {sorted(_REGISTRY)}")
    return _REGISTRY[key]


def _root(entry: _Entry, root: str | Path | None) -> Path:
    return Path(root).expanduser().resolve() if root not in (None, "") else entry.default_root()


def _image_size(image_size: int | tuple[int, int] | list[int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and 4 <= s <= 512 for s in size):
        raise ValueError(f"image_size must be an int or (height, width) between 4 and 512, got {image_size!r}")
    return size


def _folder_stamp(folder: Path) -> tuple:
    # Adding or removing a file changes its folder's mtime; image folders are root/[split/]class/file.
    children = _scan_dirs(folder)
    levels = [folder, *children, *(sub for d in children for sub in _scan_dirs(d))]
    return tuple(sorted((str(p), p.stat().st_mtime_ns) for p in levels if p.is_dir()))


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, root: str, size: tuple[int, int] | None, val_size: float, seed: int,
                 download: bool, options: tuple, stamp: tuple | None, train_limit: int | None = None,
                 held_out: HeldOut | None = None) -> ImageDataset:
    entry = _REGISTRY[name]
    train, test, classes, mean, std = entry.read(Path(root), size, download, seed, **dict(options))
    kept = None
    if held_out is not None:  # first: the validation split and the train limit are drawn from what is left
        chosen = held_out_indices(train.labels, held_out)
        rest = torch.ones(len(train), dtype=torch.bool)
        rest[chosen] = False
        train, kept = train.subset(rest.nonzero().squeeze(1)), train.subset(chosen)
    train, val = _hold_out(train, val_size, seed)
    train = _limit_train(train, train_limit, seed)
    _, channels, height, width = train.images.shape
    return ImageDataset(name=name, classes=list(classes), channels=channels, image_size=(height, width),
                        mean=mean, std=std, train=train, test=test, val=val, description=entry.info.description,
                        held_out=kept)


def _held_out_count(n: int, held_out: HeldOut) -> int:
    if held_out.count >= n:
        raise ValueError(f"a held-out split of {held_out.count:,} images leaves no training images: the training "
                         f"pool has {n:,}; hold out fewer")
    return held_out.count


def held_out_indices(labels: torch.Tensor, held_out: HeldOut) -> torch.Tensor:
    """The (sorted) positions in the training pool of a challenge's held-out images: ``held_out.count`` of them,
    each class's share, chosen by ``held_out.seed`` — the same positions on every machine and in every process.

    Example: ``held_out_indices(load("digits", val_size=0).train.labels, HeldOut(300, 7))`` → 300 positions.
    """
    _held_out_count(len(labels), held_out)
    return _stratified_pick(labels, held_out.count, held_out.seed)


def _hold_out_count(n: int, val_size: float) -> int:
    """How many of ``n`` training images ``val_size`` (a fraction or a count) holds out for validation."""
    if isinstance(val_size, float) and not val_size.is_integer():
        if not 0 < val_size < 1:
            raise ValueError(f"val_size as a fraction must be between 0 and 1, got {val_size}")
        count = round(val_size * n)
    else:
        count = int(val_size)
    if count != 0 and not 0 < count < n:
        raise ValueError(f"val_size must leave training images: got {val_size!r} for {n} training images; "
                         f"use a fraction such as 0.1 or a count below {n}")
    return count


def _hold_out(train: Split, val_size: float, seed: int) -> tuple[Split, Split | None]:
    """Split a random (seeded) ``val_size`` of the training images off as validation."""
    n = len(train)
    count = _hold_out_count(n, val_size)
    if count == 0:
        return train, None
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    # Sorted, so both parts keep the original order (first images stay first in previews).
    return train.subset(order[count:].sort().values), train.subset(order[:count].sort().values)


def _limit_train(train: Split, limit: int | None, seed: int) -> Split:
    """Keep ``limit`` images, each class's share of them (largest remainders), chosen by ``seed``.

    Per class, the first images of one seeded shuffle: a smaller limit keeps a subset of a larger one's images.
    """
    if limit is None:
        return train
    n = len(train)
    if limit > n:
        raise ValueError(f"train_limit {limit} is more than the {n:,} training images there are; "
                         f"choose at most {n:,}")
    return train.subset(_stratified_pick(train.labels, limit, seed))


def _stratified_pick(labels: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """``count`` positions, each class's share of them (largest remainders), chosen by ``seed``; sorted.

    Per class, the first images of one seeded shuffle: a smaller count picks a subset of a larger one's images.
    """
    n = len(labels)
    counts = torch.bincount(labels, minlength=int(labels.max()) + 1 if n else 0).tolist()
    quota = [c * count // n for c in counts]  # integer arithmetic: exact shares, no float rounding
    by_remainder = sorted(range(len(counts)), key=lambda k: (-(counts[k] * count % n), k))
    for k in by_remainder[:count - sum(quota)]:
        quota[k] += 1
    generator = torch.Generator().manual_seed(seed)
    keep = []
    for k, take in enumerate(quota):  # a loop over classes, not samples
        members = (labels == k).nonzero().squeeze(1)
        keep.append(members[torch.randperm(len(members), generator=generator)[:take]])
    return torch.cat(keep).sort().values


def _stratified_test_indices(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """A boolean mask taking ``fraction`` of every class (rounded), chosen by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.zeros(len(labels), dtype=torch.bool)
    for label in labels.unique():  # a loop over classes, not samples
        members = (labels == label).nonzero().squeeze(1)
        take = round(fraction * len(members))
        mask[members[torch.randperm(len(members), generator=generator)[:take]]] = True
    return mask


def _check_memory(count: int, channels: int, size: tuple[int, int]) -> None:
    nbytes = count * channels * size[0] * size[1]
    if nbytes > MAX_DATASET_BYTES:
        raise ValueError(f"{count:,} images of {channels}×{size[0]}×{size[1]} would take "
                         f"{nbytes / 2**30:.1f} GiB of memory; choose a smaller image_size")


_RESIZE_CHUNK_PIXELS = 2**23  # float pixels per resize chunk (32 MB): bounded whatever the target size


def resize_images(images: torch.Tensor, size: tuple[int, int], chunk: int | None = None) -> torch.Tensor:
    """Resize uint8 N×C×H×W images once, in chunks (bilinear, anti-aliased) → uint8.

    ``chunk``: images per chunk; by default as many as keep the float copies near 32 MB each.

    Example: ``resize_images(torch.zeros(10, 1, 28, 28, dtype=torch.uint8), (32, 32)).shape`` → (10, 1, 32, 32).
    """
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    _check_memory(len(images), images.shape[1], size)
    if chunk is None:
        largest = images.shape[1] * max(size[0] * size[1], images.shape[2] * images.shape[3])
        chunk = max(1, _RESIZE_CHUNK_PIXELS // largest)
    out = torch.empty(len(images), images.shape[1], *size, dtype=torch.uint8)
    for start in range(0, len(images), chunk):  # chunks bound the float copy's memory
        part = images[start:start + chunk].float()
        resized = F.interpolate(part, size=size, mode="bilinear", align_corners=False, antialias=True)
        out[start:start + chunk] = resized.round().clamp(0, 255).to(torch.uint8)
    return out


def shown_path(path: Path) -> str:
    """A path as a page may show it: ``<data folder>/MNIST/raw`` inside the data folder (no absolute server
    path), the path itself when a caller chose a folder elsewhere (the command line's ``--root``)."""
    try:
        relative = Path(path).relative_to(data_root())
    except ValueError:
        return str(path)
    return "<data folder>" + ("/" + relative.as_posix() if relative.parts else "")


def _not_found(title: str, folder: Path, files: list[str], command: str, reason: str = "") -> DatasetNotFoundError:
    shown = shown_path(folder)
    reason = reason.replace(str(data_root()), "<data folder>")  # torchvision's messages name absolute paths
    listed = "\n".join(f"  {shown}/{f}" for f in files)
    root = shown_path(_folder_root(folder))
    where = "" if root == "<data folder>" else f" --root {root}"
    return DatasetNotFoundError(
        f"{title} is not on disk{f' ({reason})' if reason else ''}. Put these files in {shown}:\n{listed}\n"
        f"On a machine with internet access, run `vision-core download {command}{where}` "
        f"or load it with download=True (or set VISION_CORE_DOWNLOAD=1), then copy the folder here. "
        f"The data folder is $VISION_CORE_DATA, default ./data.",
        title=title, folder=shown, files=tuple(files), command=command)


def _folder_root(folder: Path) -> Path:
    # The --root to pass is the data root, one or two levels above the files' own folder.
    return folder.parent.parent if folder.name == "raw" else folder.parent


# --------------------------------------------------------------------------- embedded datasets


@_register(DatasetInfo(
    name="digits", title="Digits (scikit-learn, 8×8 → 32×32)", embedded=True, channels=1, image_size=(32, 32),
    num_classes=10, val_size=0.1,
    description="1,797 handwritten digits that ship with scikit-learn, 8×8 upscaled to 32×32; "
                "1,438 train / 359 test, no download."), counts=lambda root, **options: (1438, 359, 10))
def _read_digits(root: Path, size: tuple[int, int] | None, download: bool, seed: int):
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = torch.from_numpy(digits.data).float().view(-1, 1, 8, 8) / 16  # values 0..16 → [0, 1]
    size = size or (32, 32)
    # Upscaling from 8×8 once: bilinear keeps the strokes smooth (nearest would give 4×4 blocks).
    big = F.interpolate(pixels, size=size, mode="bilinear", align_corners=False, antialias=True)
    images = big.mul(255).round().clamp(0, 255).to(torch.uint8)
    labels = torch.from_numpy(digits.target).long()
    test = _stratified_test_indices(labels, 0.2, TEST_SPLIT_SEED)
    classes = [str(i) for i in range(10)]
    return (Split(images[~test], labels[~test], 10), Split(images[test], labels[test], 10), classes,
            (0.0,), (1.0,))


_SHAPES_N_TRAIN, _SHAPES_N_TEST, _SHAPES_DIFFICULTY = 3000, 600, 0.3
_SHAPES_MAX = 200_000  # per split, whatever the classroom allows (its limit, max_generated_images, is lower)


def _shapes_options(n_train: int = _SHAPES_N_TRAIN, n_test: int = _SHAPES_N_TEST,
                    difficulty: float = _SHAPES_DIFFICULTY) -> tuple[int, int, float]:
    for option, value in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _SHAPES_MAX:
            raise ValueError(f"shapes {option} must be a whole number between 1 and {_SHAPES_MAX}, got {value!r}")
    if isinstance(difficulty, bool) or not isinstance(difficulty, (int, float)) or not 0 <= difficulty <= 1:
        raise ValueError(f"shapes difficulty must be between 0 and 1, got {difficulty!r}")
    return n_train, n_test, float(difficulty)


def _shapes_counts(root: Path, **options: Any) -> tuple[int, int, int]:
    n_train, n_test, _ = _shapes_options(**options)
    return n_train, n_test, len(procedural.SHAPE_CLASSES)


def _shapes_labels_only(seed: int, n_train: int = _SHAPES_N_TRAIN, **_: Any) -> Split:
    """The shapes training split's labels, with a one-byte stand-in for its images (a few MB at most)."""
    labels = procedural.shape_labels(n_train, torch.Generator().manual_seed(seed))
    stand_in = torch.zeros(1, 1, 1, 1, dtype=torch.uint8).expand(n_train, 1, 1, 1)
    return Split(stand_in, labels, len(procedural.SHAPE_CLASSES))


@_register(DatasetInfo(
    name="shapes", title="Shapes (procedural)", embedded=True, channels=3, image_size=(32, 32),
    num_classes=len(procedural.SHAPE_CLASSES), val_size=0.1, options=("n_train", "n_test", "difficulty"),
    description="Coloured circles, squares, triangles, crosses, stars and rings drawn on the fly; "
                "difficulty adds noise, rotation, scale jitter and clutter."), counts=_shapes_counts)
def _read_shapes(root: Path, size: tuple[int, int] | None, download: bool, seed: int, **options: Any):
    n_train, n_test, difficulty = _shapes_options(**options)
    size = size or (32, 32)
    _check_memory(n_train + n_test, 3, size)
    generator = torch.Generator().manual_seed(seed)
    train = procedural.make_shapes(n_train, size, difficulty, generator)  # in chunks: no float copy of the set
    test = procedural.make_shapes(n_test, size, difficulty, generator)
    k = len(procedural.SHAPE_CLASSES)
    return Split(*train, k), Split(*test, k), list(procedural.SHAPE_CLASSES), (0.0,) * 3, (1.0,) * 3


# --------------------------------------------------------------------------- torchvision datasets

_IDX_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
              "t10k-labels-idx1-ubyte"]


def _idx_available(folder: Path) -> bool:
    return all((folder / f).is_file() or (folder / f"{f}.gz").is_file() for f in _IDX_FILES)


def _read_idx_dataset(dataset_class_name: str, title: str, command: str, classes: list[str],
                      mean: tuple, std: tuple):
    """A reader for the MNIST family: torchvision's loader on ``<root>/<Class>/raw``."""

    def read(root: Path, size: tuple[int, int] | None, download: bool, seed: int):
        import torchvision
        from torchvision.datasets.utils import extract_archive

        dataset_class = getattr(torchvision.datasets, dataset_class_name)
        raw = root / dataset_class_name / "raw"
        if _idx_available(raw):
            for f in _IDX_FILES:  # torchvision reads the unpacked files; unpack the .gz ones it downloaded
                if not (raw / f).is_file():
                    extract_archive(str(raw / f"{f}.gz"), str(raw))
        elif not download:
            missing = [f for f in _IDX_FILES if not (raw / f).is_file() and not (raw / f"{f}.gz").is_file()]
            raise _not_found(title, raw, [f"{f}  (or {f}.gz)" for f in _IDX_FILES], command,
                             f"missing {', '.join(missing)}")
        splits = []
        for train in (True, False):
            try:
                loaded = dataset_class(str(root), train=train, download=download)
            except (RuntimeError, OSError) as exc:  # no internet, or files torchvision cannot read
                raise _not_found(title, raw, _IDX_FILES, command, f"torchvision: {exc}".strip()) from exc
            images = loaded.data.unsqueeze(1)  # (N, 1, 28, 28) uint8, no per-sample PIL round trip
            if size:
                images = resize_images(images, size)
            splits.append(Split(images.contiguous(), loaded.targets.long(), len(classes)))
        return splits[0], splits[1], classes, mean, std

    return read


for _name, _class, _title, _classes, _mean, _std, _description in [
    ("mnist", "MNIST", "MNIST", [str(i) for i in range(10)], (0.1307,), (0.3081,),
     "70,000 handwritten digits, 1×28×28 (60,000 train / 10,000 test); LeNet recipe: 32×32, 55k/5k."),
    ("fashion_mnist", "FashionMNIST", "Fashion-MNIST",
     ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
     (0.0,), (1.0,), "70,000 clothing images, 1×28×28 (60,000 train / 10,000 test), 10 classes."),
    ("kmnist", "KMNIST", "Kuzushiji-MNIST", ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
     (0.0,), (1.0,), "70,000 cursive Japanese characters, 1×28×28 (60,000 train / 10,000 test)."),
]:
    _register(
        DatasetInfo(name=_name, title=_title, description=_description, embedded=False, channels=1,
                    image_size=(28, 28), num_classes=10, val_size=5000),
        available=functools.partial(lambda root, c: _idx_available(root / c / "raw"), c=_class),
        counts=lambda root, **options: (60000, 10000, 10),
    )(_read_idx_dataset(_class, _title, _name, _classes, _mean, _std))

_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
_CIFAR_ARCHIVE = "cifar-10-python.tar.gz"


def _cifar_available(root: Path) -> bool:
    return all((root / _CIFAR_FOLDER / f).is_file() for f in _CIFAR_FILES) or (root / _CIFAR_ARCHIVE).is_file()


@_register(DatasetInfo(
    name="cifar10", title="CIFAR-10", embedded=False, channels=3, image_size=(32, 32), num_classes=10,
    val_size=5000, description="60,000 colour photos, 3×32×32 (50,000 train / 10,000 test), 10 classes."),
    available=_cifar_available, counts=lambda root, **options: (50000, 10000, 10))
def _read_cifar10(root: Path, size: tuple[int, int] | None, download: bool, seed: int):
    import torchvision
    from torchvision.datasets.utils import extract_archive

    folder = root / _CIFAR_FOLDER
    files = _CIFAR_FILES
    if all((folder / f).is_file() for f in files):
        pass
    elif (root / _CIFAR_ARCHIVE).is_file():
        extract_archive(str(root / _CIFAR_ARCHIVE), str(root))  # what torchvision's download does next
    elif not download:
        missing = [f for f in files if not (folder / f).is_file()]
        raise _not_found("CIFAR-10", folder, files, "cifar10",
                         f"missing {', '.join(missing)}; the archive {shown_path(root / _CIFAR_ARCHIVE)} also works")
    splits = []
    for train in (True, False):
        try:
            # torchvision checks every file's MD5 against the published ones (corrupted → RuntimeError).
            loaded = torchvision.datasets.CIFAR10(str(root), train=train, download=download)
        except (RuntimeError, OSError) as exc:
            raise _not_found("CIFAR-10", folder, files, "cifar10",
                             f"torchvision: {exc} (a file may be corrupted: its checksum did not match)") from exc
        images = torch.from_numpy(loaded.data).permute(0, 3, 1, 2)  # (N, 32, 32, 3) → (N, 3, 32, 32)
        if size:
            images = resize_images(images, size)
        splits.append(Split(images.contiguous(), torch.tensor(loaded.targets, dtype=torch.long), 10))
    classes = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    return splits[0], splits[1], classes, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


# --------------------------------------------------------------------------- image folders
#
# A student's choice never names a path: it names one sub-folder of <data folder>/imagefolder/ (the ``folder``
# option), and any ``root`` given instead must lie inside that folder, with no symbolic link on the way.
# Scans never follow symbolic links and look only at <class>/<image> one level down (or train/ and test/ above
# that), so nothing a student picks makes the server read or list anything else.

_IMAGEFOLDER_LAYOUT = ("train/<class>/*.jpg and test/<class>/*.jpg, "
                       "or <class>/*.jpg (20% of each class is then kept for testing)")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
# A photo bigger than this (pixels) is refused before decoding: a tiny PNG can hold a huge blank image.
MAX_IMAGE_PIXELS = 50_000_000
_OUTSIDE = ("The image folder must be one of the sub-folders of the data folder's imagefolder/ folder: "
            "choose one in the list, or upload a zip of class folders.")


def image_folders_root() -> Path:
    """Where image-folder datasets live, one per sub-folder: ``<data folder>/imagefolder``."""
    return data_root() / "imagefolder"


def image_folders() -> list[str]:
    """The sub-folders of ``<data folder>/imagefolder`` a student may pick (hidden ones and links left out).

    Example: ``image_folders()`` → ``["cats_dogs", "smiles"]``.
    """
    base = image_folders_root()
    if not base.is_dir() or base.is_symlink():
        return []
    with os.scandir(base) as entries:
        return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))


def image_folder_path(folder: str | None = None, root: str | Path | None = None) -> Path:
    """The image-folder dataset ``folder`` (a sub-folder name) or ``root`` (a path inside it) refers to.

    No folder and no root: ``<data folder>/imagefolder`` itself. Raises ValueError, naming no path and listing
    nothing, for a name with a separator, a path outside ``<data folder>/imagefolder``, or a symbolic link.
    Example: ``image_folder_path("cats_dogs")`` → ``<data folder>/imagefolder/cats_dogs``.
    """
    base = image_folders_root()
    if folder not in (None, ""):
        if root not in (None, ""):
            raise ValueError("imagefolder takes a folder name or a root, not both")
        if (not isinstance(folder, str) or folder in (".", "..") or folder.startswith(".")
                or any(c in folder for c in "/\\\0:")):
            raise ValueError(_OUTSIDE)
        candidate = base / folder
    elif root in (None, ""):
        candidate = base
    else:
        candidate = Path(os.path.abspath(os.fspath(root)))
    lexical = Path(os.path.normpath(candidate))
    resolved = lexical.resolve()
    # resolve() follows every link: a path that changes under it went through one (maybe out of the folder).
    if resolved != lexical or not (resolved == base or base in resolved.parents):
        raise ValueError(_OUTSIDE)
    return resolved


def _scan_dirs(folder: Path) -> list[Path]:
    """Sub-folders (no links, no hidden ones), sorted; none when ``folder`` is not a real folder."""
    if folder.is_symlink() or not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))


def _scan_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (no links, no hidden ones), sorted."""
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries if e.is_file(follow_symlinks=False)
                      and not e.name.startswith(".") and e.name.lower().endswith(IMAGE_EXTENSIONS))


def _class_dirs(folder: Path) -> list[Path]:
    """Class folders of ``folder``: sub-folders that hold at least one image."""
    return [d for d in _scan_dirs(folder) if _scan_images(d)]


def _is_image_dataset(folder: Path) -> bool:
    return bool(_class_dirs(folder / "train") or _class_dirs(folder))


def _imagefolder_available(folder: Path) -> bool:
    if folder == image_folders_root() and not _is_image_dataset(folder):  # no choice yet: is there one to choose?
        return any(_is_image_dataset(folder / name) for name in image_folders())
    return _is_image_dataset(folder)


def _open_image(path: Path):
    from PIL import Image

    shown = shown_path(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ValueError(f"image {shown} is {width}×{height} pixels, more than the "
                                 f"{MAX_IMAGE_PIXELS:,} allowed: resize it first")
            return image.convert("RGB")
    except ValueError:
        raise
    except Exception as exc:  # a broken or foreign file: say which one, not just "cannot identify image"
        raise ValueError(f"cannot read image {shown}: {exc.__class__.__name__}") from exc


def _decode_folder(folder: Path, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Every image in ``folder/<class>/`` decoded once, resized and centre-cropped → uint8 tensors."""
    from torchvision import transforms

    classes = _class_dirs(folder)
    if not classes:
        raise DatasetNotFoundError(f"No images found in {shown_path(folder)}. Expected {_IMAGEFOLDER_LAYOUT}.",
                                   title="Image folder", folder=shown_path(folder))
    samples = [(path, label) for label, d in enumerate(classes) for path in _scan_images(d)]
    _check_memory(len(samples), 3, size)
    # The cats-vs-dogs recipe: Resize (the shorter side, keeping the aspect ratio) then CenterCrop.
    transform = transforms.Compose([transforms.Resize(max(size)), transforms.CenterCrop(size),
                                    transforms.PILToTensor()])

    images = torch.empty(len(samples), 3, *size, dtype=torch.uint8)  # filled in place: no list of copies to stack

    def decode(index: int) -> None:
        images[index] = transform(_open_image(samples[index][0]))

    # Decoding is I/O and C code that releases the GIL: a few threads help with thousands of JPEGs.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(decode, range(len(samples))))
    labels = torch.tensor([label for _, label in samples], dtype=torch.long)
    return images, labels, [d.name for d in classes]


def _require_image_dataset(root: Path) -> None:
    """DatasetNotFoundError (saying what to choose or put there) unless ``root`` holds class folders of images."""
    if not _is_image_dataset(root):
        choices = image_folders() if root == image_folders_root() else []
        if choices:
            raise DatasetNotFoundError(f"Choose one of the image folders with folder=NAME: {', '.join(choices)}.",
                                       title="Image folder", folder=shown_path(root))
        raise DatasetNotFoundError(f"No image folder at {shown_path(root)}. Expected {_IMAGEFOLDER_LAYOUT}.",
                                   title="Image folder", folder=shown_path(root))


def _imagefolder_counts(root: Path, test_size: float = 0.2, folder: str | None = None) -> tuple[int, int, int]:
    """(train, test, classes) of an image folder from a listing of its files: nothing is opened or decoded."""
    _require_image_dataset(root)
    if _class_dirs(root / "train") and _class_dirs(root / "test"):
        train = [len(_scan_images(d)) for d in _class_dirs(root / "train")]
        return sum(train), sum(len(_scan_images(d)) for d in _class_dirs(root / "test")), len(train)
    if not 0 < test_size < 1:
        raise ValueError(f"imagefolder test_size must be a fraction between 0 and 1, got {test_size!r}")
    single = root / "train" if _class_dirs(root / "train") else root
    per_class = [len(_scan_images(d)) for d in _class_dirs(single)]
    test = sum(round(test_size * n) for n in per_class)  # what _stratified_test_indices takes
    return sum(per_class) - test, test, len(per_class)


@_register(DatasetInfo(
    name="imagefolder", title="Image folder (your own photos)", embedded=False, channels=3, image_size=(64, 64),
    num_classes=0, val_size=0.1, options=("test_size", "folder"),
    description="Your own images, one sub-folder per class (e.g. cats vs dogs): "
                "train/<class>/*.jpg and test/<class>/*.jpg, resized and centre-cropped."),
    available=_imagefolder_available, default_root=image_folders_root, counts=_imagefolder_counts)
def _read_imagefolder(root: Path, size: tuple[int, int] | None, download: bool, seed: int, *,
                      test_size: float = 0.2, folder: str | None = None):
    size = size or (64, 64)
    _require_image_dataset(root)
    if _class_dirs(root / "train") and _class_dirs(root / "test"):
        train_images, train_labels, classes = _decode_folder(root / "train", size)
        test_images, test_labels, test_classes = _decode_folder(root / "test", size)
        if test_classes != classes:
            raise ValueError(f"{shown_path(root / 'train')} and {shown_path(root / 'test')} must have the same "
                             f"class folders, got {classes} and {test_classes}")
    else:
        if not 0 < test_size < 1:
            raise ValueError(f"imagefolder test_size must be a fraction between 0 and 1, got {test_size!r}")
        single = root / "train" if _class_dirs(root / "train") else root
        images, labels, classes = _decode_folder(single, size)
        test = _stratified_test_indices(labels, test_size, TEST_SPLIT_SEED)
        train_images, train_labels = images[~test], labels[~test]
        test_images, test_labels = images[test], labels[test]
    k = len(classes)
    return (Split(train_images, train_labels, k), Split(test_images, test_labels, k), classes,
            (0.0,) * 3, (1.0,) * 3)
