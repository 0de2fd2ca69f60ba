"""The dataset registry on tiny files in the real on-disk formats (IDX, CIFAR pickles, image folders).

CIFAR-10: torchvision checks every file's MD5 against the published archive, so a tiny fake
cannot pass as is. The tests go through torchvision's real CIFAR10 loader and replace only its
list of expected checksums with those of the files written here (``cifar_checksums``); a
separate test keeps the real checksums and expects the "corrupted" error.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image

from vision_core.data import datasets
from vision_core.data.datasets import DatasetNotFoundError

# --------------------------------------------------------------------------- writers of the real formats


def numbered_images(n: int, size: int = 28) -> np.ndarray:
    """n uint8 images whose top-left pixel is their index (to follow them through splits)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
    images[:, 0, 0] = np.arange(n)
    return images


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    # IDX: 0x0000, type 0x08 (uint8), number of dimensions, big-endian int32 sizes, then the bytes.
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    assert struct.unpack(">I", data[:4])[0] == (2051 if array.ndim == 3 else 2049)  # the format's magic numbers
    if compress:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)


def write_mnist_like(root: Path, folder: str, n_train: int, n_test: int, compress: bool = False):
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    train, test = numbered_images(n_train), numbered_images(n_test)
    write_idx(raw / "train-images-idx3-ubyte", train, compress)
    write_idx(raw / "train-labels-idx1-ubyte", np.arange(n_train) % 10, compress)
    write_idx(raw / "t10k-images-idx3-ubyte", test, compress)
    write_idx(raw / "t10k-labels-idx1-ubyte", (np.arange(n_test) + 3) % 10, compress)
    return train, test


def write_cifar(root: Path, per_batch: int = 2, n_test: int = 3) -> tuple[np.ndarray, list[str]]:
    """The python-pickle layout of cifar-10-python.tar.gz: five data batches, a test batch, the meta file."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    rows = rng.integers(0, 256, (5 * per_batch + n_test, 3072), dtype=np.uint8)  # R plane, G plane, B plane
    for i in range(5):
        batch = {"data": rows[i * per_batch:(i + 1) * per_batch],
                 "labels": [(i * per_batch + j) % 10 for j in range(per_batch)]}
        (folder / f"data_batch_{i + 1}").write_bytes(pickle.dumps(batch))
    (folder / "test_batch").write_bytes(pickle.dumps({"data": rows[5 * per_batch:], "labels": [7] * n_test}))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))
    return rows, [f.name for f in sorted(folder.iterdir())]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def cifar_checksums(monkeypatch):
    """Let torchvision's CIFAR10 accept the tiny files of ``root`` (only its MD5 list changes)."""

    def accept(root: Path) -> None:
        folder = root / "cifar-10-batches-py"
        cls = torchvision.datasets.CIFAR10
        monkeypatch.setattr(cls, "train_list", [[f"data_batch_{i}", md5(folder / f"data_batch_{i}")]
                                                for i in range(1, 6)])
        monkeypatch.setattr(cls, "test_list", [["test_batch", md5(folder / "test_batch")]])
        monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5(folder / "batches.meta")})

    return accept


def write_png(path: Path, colour: tuple[int, int, int], size=(40, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


# --------------------------------------------------------------------------- MNIST family


@pytest.mark.parametrize("name, folder, compress", [("mnist", "MNIST", False), ("fashion_mnist", "FashionMNIST", True),
                                                    ("kmnist", "KMNIST", True)])
def test_mnist_family_loads_idx_files_through_torchvision(tmp_path, name, folder, compress):
    _, test = write_mnist_like(tmp_path, folder, 12, 4, compress)
    assert datasets.is_available(name, root=tmp_path)
    data = datasets.load(name, root=tmp_path, val_size=2)
    assert (len(data.train), len(data.val), len(data.test)) == (10, 2, 4)
    assert data.input_shape == (1, 28, 28) and data.channels == 1
    assert data.train.images.dtype == torch.uint8 and data.train.labels.dtype == torch.int64
    assert torch.equal(data.test.images[:, 0], torch.from_numpy(test))
    assert data.test.labels.tolist() == [3, 4, 5, 6]
    # train + val are the training file, each image exactly once and with its own label.
    ids = torch.cat([data.train.images[:, 0, 0, 0], data.val.images[:, 0, 0, 0]])
    labels = torch.cat([data.train.labels, data.val.labels])
    assert sorted(ids.tolist()) == list(range(12))
    assert torch.equal(labels, ids.long() % 10)
    assert len(data.classes) == 10


def test_mnist_recipe_normalisation_and_classes(tmp_path):
    write_mnist_like(tmp_path, "MNIST", 6, 2)
    data = datasets.load("mnist", root=tmp_path, val_size=0)
    assert data.val is None
    assert data.classes == [str(i) for i in range(10)]
    assert (data.mean, data.std) == ((0.1307,), (0.3081,))
    x = torch.rand(3, 1, 28, 28)
    expected = torchvision.transforms.Normalize((0.1307,), (0.3081,))(x)
    assert torch.allclose(data.normalize(x), expected, atol=1e-6)


def test_fashion_mnist_classes_are_the_tutorials(tmp_path):
    write_mnist_like(tmp_path, "FashionMNIST", 6, 2, compress=True)
    data = datasets.load("fashion_mnist", root=tmp_path, val_size=0)
    assert data.classes == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                            "Bag", "Ankle boot"]
    assert (data.mean, data.std) == ((0.0,), (1.0,))


def test_image_size_resizes_the_whole_set_once_like_interpolate(tmp_path):
    train, _ = write_mnist_like(tmp_path, "MNIST", 6, 2)
    data = datasets.load("mnist", root=tmp_path, image_size=32, val_size=0)
    assert data.image_size == (32, 32) and data.train.images.shape == (6, 1, 32, 32)
    expected = F.interpolate(torch.from_numpy(train).float()[:, None], size=(32, 32), mode="bilinear",
                             align_corners=False, antialias=True).round().clamp(0, 255).to(torch.uint8)
    assert torch.equal(data.train.images, expected)


def test_missing_mnist_names_the_folder_and_the_files(tmp_path):
    root = tmp_path / "nodata"
    assert not datasets.is_available("mnist", root=root)
    with pytest.raises(DatasetNotFoundError, match="nodata") as info:
        datasets.load("mnist", root=root)
    message = str(info.value)
    assert str(root / "MNIST" / "raw" / "train-images-idx3-ubyte") in message
    assert "t10k-labels-idx1-ubyte.gz" in message
    assert "vision-core download mnist" in message and "download=True" in message
    assert isinstance(info.value, FileNotFoundError)


def test_a_failed_download_is_a_dataset_not_found_error(tmp_path, monkeypatch):
    # VISION_CORE_DOWNLOAD=1 turns downloading on; the "network" here fails as it would offline.
    def offline(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: no internet")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    monkeypatch.setenv("VISION_CORE_DOWNLOAD", "1")
    with pytest.raises(DatasetNotFoundError, match="no internet"):
        datasets.load("mnist", root=tmp_path)


def test_data_root_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_DATA", str(tmp_path / "shared-data"))
    assert datasets.data_root() == tmp_path / "shared-data"
    with pytest.raises(DatasetNotFoundError, match="<data folder>/KMNIST/raw") as info:
        datasets.load("kmnist")
    assert str(tmp_path) not in str(info.value)  # pages show this message: no absolute server path
    error = info.value
    assert (error.title, error.folder, error.command) == ("Kuzushiji-MNIST", "<data folder>/KMNIST/raw", "kmnist")
    assert "t10k-labels-idx1-ubyte  (or t10k-labels-idx1-ubyte.gz)" in error.files
    monkeypatch.delenv("VISION_CORE_DATA")
    monkeypatch.chdir(tmp_path)
    assert datasets.data_root() == tmp_path / "data"


# --------------------------------------------------------------------------- CIFAR-10


def test_cifar10_loads_the_python_batches(tmp_path, cifar_checksums):
    rows, _ = write_cifar(tmp_path)
    cifar_checksums(tmp_path)
    assert datasets.is_available("cifar10", root=tmp_path)
    data = datasets.load("cifar10", root=tmp_path, val_size=0)
    assert data.input_shape == (3, 32, 32)
    assert (len(data.train), len(data.test)) == (10, 3)
    # Each row is the R plane, then G, then B, row by row: exactly our C×H×W layout.
    assert torch.equal(data.train.images, torch.from_numpy(rows[:10]).view(10, 3, 32, 32))
    assert data.train.labels.tolist() == list(range(10)) and data.test.labels.tolist() == [7, 7, 7]
    assert data.classes == ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert (data.mean, data.std) == ((0.5,) * 3, (0.5,) * 3)
    assert torch.allclose(data.normalize(torch.ones(1, 3, 2, 2)), torch.ones(1, 3, 2, 2))


def test_cifar10_files_that_fail_the_checksum_are_reported(tmp_path):
    write_cifar(tmp_path)  # tiny files: not the published ones, so torchvision's MD5 check fails
    with pytest.raises(DatasetNotFoundError, match="corrupted"):
        datasets.load("cifar10", root=tmp_path)


def test_missing_cifar10_lists_its_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py") as info:
        datasets.load("cifar10", root=tmp_path)
    assert "data_batch_5" in str(info.value) and "batches.meta" in str(info.value)


# --------------------------------------------------------------------------- image folders


@pytest.fixture
def photos(tmp_path, monkeypatch) -> Path:
    """An image-folder dataset's folder, <data folder>/imagefolder/photos, with the data folder in tmp_path."""
    monkeypatch.setenv("VISION_CORE_DATA", str(tmp_path))
    folder = tmp_path / "imagefolder" / "photos"
    folder.mkdir(parents=True)
    return folder


def test_imagefolder_with_train_and_test_folders(photos):
    for split, count in (("train", 3), ("test", 1)):
        for i in range(count):
            write_png(photos / split / "cat" / f"{i}.png", (255, 0, 0))
            write_png(photos / split / "dog" / f"{i}.png", (0, 0, 255), size=(30, 50))
    assert datasets.is_available("imagefolder", folder="photos")
    assert datasets.image_folders() == ["photos"]
    data = datasets.load("imagefolder", folder="photos", image_size=16, val_size=0)
    assert data.classes == ["cat", "dog"]
    assert data.train.images.shape == (6, 3, 16, 16) and data.test.images.shape == (2, 3, 16, 16)
    assert data.train.class_counts() == [3, 3] and data.test.labels.tolist() == [0, 1]
    cat, dog = data.test.images[0], data.test.images[1]
    assert cat[0].eq(255).all() and cat[2].eq(0).all()
    assert dog[2].eq(255).all() and dog[0].eq(0).all()
    # The same folder given as a root inside the data folder (the command line's way) reads the same images.
    assert torch.equal(datasets.load("imagefolder", root=photos, image_size=16, val_size=0).train.images,
                       data.train.images)


def test_imagefolder_resizes_the_shorter_side_then_centre_crops(photos):
    # A 40×20 image, left half black and right half white: Resize(16) → 32×16, CenterCrop → the middle 16.
    image = np.zeros((20, 40, 3), dtype=np.uint8)
    image[:, 20:] = 255
    for split in ("train", "test"):
        (photos / split / "a").mkdir(parents=True)
        Image.fromarray(image).save(photos / split / "a" / "x.png")
    data = datasets.load("imagefolder", folder="photos", image_size=16, val_size=0)
    row = data.test.images[0, 0, 8]
    assert row[:7].eq(0).all() and row[9:].eq(255).all()  # the edge stays in the middle: no squashing


def test_imagefolder_decodes_like_torchvision_image_folder(photos):
    rng = np.random.default_rng(3)
    for cls in ("a", "b"):
        for i in range(3):
            (photos / cls).mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (23 + i, 37, 3), dtype=np.uint8)).save(photos / cls / f"{i}.png")
    from torchvision import transforms

    reference = torchvision.datasets.ImageFolder(str(photos), transform=transforms.Compose(
        [transforms.Resize(16), transforms.CenterCrop(16), transforms.PILToTensor()]))
    data = datasets.load("imagefolder", folder="photos", image_size=16, val_size=0, test_size=0.5)
    images = torch.cat([data.train.images, data.test.images])
    labels = torch.cat([data.train.labels, data.test.labels])
    expected = {(bytes(x.numpy()), y) for x, y in reference}
    assert {(bytes(x.numpy()), int(y)) for x, y in zip(images, labels)} == expected
    assert data.classes == reference.classes


def test_imagefolder_of_class_folders_keeps_a_fixed_test_split(photos):
    for i in range(10):
        write_png(photos / "a" / f"{i}.png", (i * 20, 0, 0))
        write_png(photos / "b" / f"{i}.png", (0, i * 20, 0))
    first = datasets.load("imagefolder", folder="photos", image_size=8, val_size=0.25, seed=0)
    other = datasets.load("imagefolder", folder="photos", image_size=8, val_size=0.25, seed=1)
    assert first.test.class_counts() == [2, 2]
    assert (len(first.train), len(first.val)) == (12, 4)
    assert torch.equal(first.test.images, other.test.images)  # the seed picks validation, never the test set
    assert not torch.equal(first.val.images, other.val.images)


def test_missing_or_empty_imagefolder_explains_the_layout(photos):
    assert not datasets.is_available("imagefolder", folder="photos")
    with pytest.raises(DatasetNotFoundError, match=r"photos.*train/<class>") as info:
        datasets.load("imagefolder", folder="photos")
    assert str(photos) not in str(info.value) and "<data folder>/imagefolder/photos" in str(info.value)
    (photos / "cat").mkdir(parents=True)  # a class folder with no images in it
    with pytest.raises(DatasetNotFoundError, match="train/<class>"):
        datasets.load("imagefolder", folder="photos")
    with pytest.raises(DatasetNotFoundError, match="train/<class>"):
        datasets.load("imagefolder", folder="not-there")


def test_with_no_folder_chosen_the_choices_are_named(photos):
    write_png(photos / "a" / "0.png", (1, 2, 3))
    (photos.parent / "other").mkdir()
    assert datasets.is_available("imagefolder")  # there is a dataset to choose
    with pytest.raises(DatasetNotFoundError, match="folder=NAME: other, photos"):
        datasets.load("imagefolder")


def test_an_unreadable_image_is_named(photos):
    write_png(photos / "a" / "good.png", (1, 2, 3))
    (photos / "b").mkdir()
    (photos / "b" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png") as info:
        datasets.load("imagefolder", folder="photos", image_size=8)
    assert str(photos) not in str(info.value)


def test_a_huge_image_is_refused_before_decoding(photos, monkeypatch):
    monkeypatch.setattr(datasets, "MAX_IMAGE_PIXELS", 1000)
    write_png(photos / "a" / "small.png", (1, 2, 3), size=(10, 10))
    write_png(photos / "b" / "big.png", (1, 2, 3), size=(100, 100))
    with pytest.raises(ValueError, match=r"big.png is 100×100 pixels"):
        datasets.load("imagefolder", folder="photos", image_size=8)


# --------------------------------------------------------------------------- image folders: the classroom's safety


OUTSIDE = "must be one of the sub-folders of the data folder's imagefolder/"


@pytest.fixture
def listing_forbidden(monkeypatch):
    """Fail the test if anything is listed or walked while a refused folder is checked."""
    import os

    def forbidden(*args, **kwargs):
        raise AssertionError(f"listed {args}")

    for name in ("scandir", "listdir", "walk"):
        monkeypatch.setattr(os, name, forbidden)


@pytest.mark.parametrize("root", ["/", "/etc", "../", "..", "~", "data/../.."])
def test_roots_outside_the_data_folder_are_refused_at_once(photos, root, listing_forbidden):
    for call in (lambda: datasets.load("imagefolder", root=root), lambda: datasets.is_available("imagefolder", root)):
        with pytest.raises(ValueError, match=OUTSIDE) as info:
            call()
        message = str(info.value)
        assert "/etc" not in message and str(photos.parent) not in message and "photos" not in message


@pytest.mark.parametrize("folder", ["..", "../..", "/etc", "photos/../../..", ".hidden", "a\\b", "c:x", "x\0"])
def test_folder_names_are_one_plain_name(photos, folder, listing_forbidden):
    with pytest.raises(ValueError, match=OUTSIDE):
        datasets.load("imagefolder", folder=folder)


def test_the_data_folder_itself_and_its_other_folders_are_outside(photos):
    write_png(photos.parent.parent / "MNIST" / "a" / "0.png", (1, 2, 3))
    for root in (photos.parent.parent, photos.parent.parent / "MNIST"):
        with pytest.raises(ValueError, match=OUTSIDE):
            datasets.load("imagefolder", root=root)


def test_symlinked_folders_are_refused(photos, tmp_path):
    secret = tmp_path / "elsewhere" / "private"
    write_png(secret / "holiday" / "0.png", (1, 2, 3))
    write_png(secret / "family" / "0.png", (4, 5, 6))
    (photos.parent / "link").symlink_to(secret.parent)  # a folder that leads out of the data folder
    (photos.parent / "inside").symlink_to(photos)  # even one that stays inside
    assert datasets.image_folders() == ["photos"]  # links are not offered
    for folder in ("link", "inside"):
        with pytest.raises(ValueError, match=OUTSIDE) as info:
            datasets.load("imagefolder", folder=folder)
        assert "holiday" not in str(info.value) and "private" not in str(info.value)
    with pytest.raises(ValueError, match=OUTSIDE):
        datasets.load("imagefolder", root=photos.parent / "link" / "private")


def test_symlinked_class_folders_and_files_are_not_read(photos, tmp_path):
    write_png(photos / "cat" / "0.png", (255, 0, 0))
    write_png(photos / "dog" / "0.png", (0, 0, 255))
    write_png(tmp_path / "elsewhere" / "secret" / "0.png", (1, 2, 3))
    (photos / "secret").symlink_to(tmp_path / "elsewhere" / "secret")
    (photos / "cat" / "1.png").symlink_to(tmp_path / "elsewhere" / "secret" / "0.png")
    data = datasets.load("imagefolder", folder="photos", image_size=8, val_size=0, test_size=0.5)
    assert data.classes == ["cat", "dog"] and len(data.train) + len(data.test) == 2


# --------------------------------------------------------------------------- embedded datasets


def test_digits_are_embedded_32x32_and_split_80_20():
    data = datasets.load("digits")
    assert datasets.is_available("digits")
    assert data.input_shape == (1, 32, 32)
    assert data.classes == [str(i) for i in range(10)]
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    assert len(data.test) == 359 and len(data.val) == round(0.1 * (1797 - 359))
    assert all(35 <= c <= 37 for c in data.test.class_counts())  # each digit ~20% in the test set
    x, y = data.train[0]
    assert x.shape == (1, 32, 32) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert isinstance(y, int)
    assert data.train.images.max() == 255  # the darkest ink (16) becomes 255


def test_digits_at_8x8_are_the_scikit_learn_pixels():
    from sklearn.datasets import load_digits

    data = datasets.load("digits", image_size=8, val_size=0)
    ours = torch.cat([data.train.images, data.test.images]).view(-1, 64)
    expected = (torch.from_numpy(load_digits().data).float() / 16 * 255).round().to(torch.uint8)
    # The same images, in another order (train first, then test): compare them as sorted lists.
    assert sorted(map(tuple, ours.tolist())) == sorted(map(tuple, expected.tolist()))


def test_shapes_are_deterministic_per_seed():
    a = datasets.load("shapes", n_train=60, n_test=12, seed=3)
    b = datasets.load("shapes", n_train=60, n_test=12, seed=3)
    datasets.clear_cache()  # a fresh generation, not the cached object
    c = datasets.load("shapes", n_train=60, n_test=12, seed=3)
    d = datasets.load("shapes", n_train=60, n_test=12, seed=4)
    assert a is b  # cached
    assert a is not c and torch.equal(a.train.images, c.train.images) and torch.equal(a.val.labels, c.val.labels)
    assert not torch.equal(a.train.images, d.train.images)
    assert a.input_shape == (3, 32, 32) and a.classes == ["circle", "square", "triangle", "cross", "star", "ring"]
    assert (len(a.train), len(a.val), len(a.test)) == (54, 6, 12)
    assert datasets.load("shapes", n_train=60, n_test=12, image_size=48).input_shape == (3, 48, 48)


def test_shapes_difficulty_adds_noise_and_clutter():
    easy = datasets.load("shapes", n_train=120, n_test=6, difficulty=0.0, val_size=0).train.images.float()
    hard = datasets.load("shapes", n_train=120, n_test=6, difficulty=1.0, val_size=0).train.images.float()
    # Neighbouring pixels differ far more once noise and clutter are on.
    def roughness(x):
        return (x[..., 1:] - x[..., :-1]).abs().mean()
    assert roughness(hard) > 3 * roughness(easy)
    with pytest.raises(ValueError, match="difficulty"):
        datasets.load("shapes", difficulty=1.5)


def test_shapes_classes_are_balanced():
    data = datasets.load("shapes", n_train=600, n_test=60, val_size=0)
    assert data.train.class_counts() == [100] * 6 and data.test.class_counts() == [10] * 6


# --------------------------------------------------------------------------- options and containers


@pytest.mark.parametrize("val_size, expected", [(0.25, 15), (7, 7), (0, None), (0.0, None)])
def test_val_size_fraction_count_or_none(val_size, expected):
    data = datasets.load("shapes", n_train=60, n_test=6, val_size=val_size)
    assert (len(data.val) if data.val is not None else None) == expected
    assert len(data.train) + (expected or 0) == 60


def test_the_seed_picks_the_validation_images_never_the_test_images():
    first, second = datasets.load("digits", seed=0), datasets.load("digits", seed=1)
    assert torch.equal(first.test.images, second.test.images)
    assert not torch.equal(first.val.images, second.val.images)
    datasets.clear_cache()
    assert torch.equal(datasets.load("digits", seed=1).val.images, second.val.images)  # repeatable


@pytest.mark.parametrize("bad", [60, 1.5, -1, 100])
def test_val_size_that_leaves_no_training_data_is_rejected(bad):
    with pytest.raises(ValueError, match="val_size"):
        datasets.load("shapes", n_train=60, n_test=6, val_size=bad)


def test_unknown_names_and_options_list_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown dataset 'imagenet'.*mnist"):
        datasets.load("imagenet")
    with pytest.raises(ValueError, match=r"colour.*difficulty"):
        datasets.load("shapes", colour="red")
    with pytest.raises(ValueError, match="image_size"):
        datasets.load("digits", image_size=0)
    assert datasets.dataset_info("Fashion-MNIST").name == "fashion_mnist"  # spelling variants are accepted


def test_list_datasets_describes_each_one():
    infos = {info.name: info for info in datasets.list_datasets()}
    assert {"digits", "shapes", "mnist", "fashion_mnist", "kmnist", "cifar10", "imagefolder"} <= set(infos)
    assert infos["digits"].embedded and infos["shapes"].embedded and not infos["mnist"].embedded
    assert (infos["cifar10"].channels, infos["cifar10"].image_size, infos["cifar10"].num_classes) == (3, (32, 32), 10)
    assert all(info.description and info.title for info in infos.values())
    assert list(infos)[:2] == ["digits", "shapes"]  # embedded first


def test_normalize_on_the_device_of_the_batch():
    data = datasets.ImageDataset(
        name="t", classes=["a", "b"], channels=3, image_size=(2, 2), mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 2.0),
        train=datasets.Split(torch.zeros(2, 3, 2, 2, dtype=torch.uint8), torch.tensor([0, 1])),
        test=datasets.Split(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), torch.tensor([1]), 2))
    x = torch.ones(4, 3, 2, 2)
    out = data.normalize(x)
    assert out[:, 0].eq(1).all() and out[:, 1].eq(3).all() and out[:, 2].eq(0.5).all()
    assert torch.equal(data.normalize(x[0]), out[0])  # one C×H×W image works too
    assert data.normalize(x.double()).dtype == torch.float64
    with pytest.raises(ValueError, match="3×H×W"):
        data.normalize(torch.ones(1, 1, 2, 2))
    assert data.train.num_classes == 2 and data.train.class_counts() == [1, 1]


def test_split_rejects_mismatched_tensors():
    with pytest.raises(ValueError, match="uint8"):
        datasets.Split(torch.zeros(2, 1, 4, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="one label per image"):
        datasets.Split(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([0]))


# --------------------------------------------------------------------------- downloading


def test_download_refuses_at_once_when_the_server_cannot_be_reached(tmp_path, monkeypatch):
    import socket

    def no_network(address, timeout=None):
        raise socket.gaierror("Name or service not known")

    monkeypatch.setenv("VISION_CORE_DATA", str(tmp_path))
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(torchvision.datasets.MNIST, "download", lambda self: pytest.fail("tried to download"))
    with pytest.raises(datasets.OfflineError, match="offline: it cannot reach ossci-datasets.s3.amazonaws.com"):
        datasets.download("mnist")


def test_a_server_that_never_answers_counts_as_offline_within_the_timeout(monkeypatch):
    import socket
    import threading

    answered = threading.Event()  # the "server" answers only after is_reachable has given up on it
    class Late:
        def close(self):
            pass

    monkeypatch.setattr(socket, "create_connection", lambda address, timeout=None: answered.wait(30) and Late())
    assert not datasets.is_reachable("http://example.invalid/x", timeout=0.2)
    answered.set()


def test_is_reachable_opens_a_real_connection_to_a_local_server():
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert datasets.is_reachable(f"http://127.0.0.1:{server.getsockname()[1]}/file", timeout=2)
    assert not datasets.is_reachable("not a url")


def test_download_when_online_uses_torchvision_and_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_DATA", str(tmp_path))
    monkeypatch.setattr(datasets, "is_reachable", lambda url, timeout=3.0: url == datasets.download_url("kmnist"))

    def fetch(self):  # torchvision's download, with the network replaced by writing the files
        if not (tmp_path / "KMNIST").exists():
            write_mnist_like(tmp_path, "KMNIST", 5010, 4)

    monkeypatch.setattr(torchvision.datasets.KMNIST, "download", fetch)
    data = datasets.download("kmnist")
    assert (len(data.train), len(data.val), len(data.test)) == (10, 5000, 4)
    with pytest.raises(ValueError, match="not downloaded"):
        datasets.download("digits")


def test_source_stamp_changes_when_an_image_folder_changes(photos):
    write_png(photos / "a" / "0.png", (1, 2, 3))
    before = datasets.source_stamp("imagefolder", folder="photos")
    write_png(photos / "b" / "0.png", (1, 2, 3))
    assert datasets.source_stamp("imagefolder", folder="photos") != before
    assert datasets.source_stamp("digits") == ()
    with pytest.raises(ValueError, match="sub-folders"):
        datasets.source_stamp("imagefolder", root="/etc")
