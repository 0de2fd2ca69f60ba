"""Batched augmentations (checked against torchvision's per-image functions) and the BatchLoader."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF

from vision_core.data import augment
from vision_core.data.datasets import ImageDataset, Split
from vision_core.data.loader import BatchLoader

# --------------------------------------------------------------------------- options


def test_validate_augment_fills_defaults_and_drops_what_is_off():
    chosen = augment.validate_augment({"hflip": True, "rotation": 10, "crop": False, "contrast": None,
                                       "brightness": 0})
    assert chosen == {"hflip": 0.5, "rotation": 10.0}
    assert augment.validate_augment(chosen) == chosen  # validated options validate to themselves
    assert augment.validate_augment(None) == {}
    assert all(spec.reason and spec.meaning for spec in augment.AUGMENTATIONS.values())


def test_validate_augment_names_bad_keys_and_values():
    with pytest.raises(ValueError, match=r"\['mixup'\].*hflip.*crop"):
        augment.validate_augment({"mixup": True, "hflip": True})
    with pytest.raises(ValueError, match="rotation must be between 0 and 180.*got 400"):
        augment.validate_augment({"rotation": 400})
    with pytest.raises(TypeError, match="'yes'"):
        augment.validate_augment({"hflip": "yes"})


# --------------------------------------------------------------------------- each operation, given its draws


def test_flip_where_mirrors_only_the_chosen_images():
    x = torch.rand(3, 2, 4, 5)
    out = augment.flip_where(x, torch.tensor([True, False, True]))
    assert torch.equal(out[0], TF.hflip(x[0])) and torch.equal(out[1], x[1]) and torch.equal(out[2], TF.hflip(x[2]))


def test_shifted_crop_is_a_window_of_the_reflect_padded_image():
    x = torch.rand(4, 3, 6, 5)
    top, left = torch.tensor([0, 2, 4, 1]), torch.tensor([3, 2, 0, 4])
    out = augment.shifted_crop(x, 2, top, left)
    padded = F.pad(x, (2, 2, 2, 2), mode="reflect")
    for i in range(4):
        assert torch.equal(out[i], padded[i, :, top[i]:top[i] + 6, left[i]:left[i] + 5])
    centre = torch.full((4,), 2)
    assert torch.equal(augment.shifted_crop(x, 2, centre, centre), x)
    # Padding as large as the image falls back to zeros.
    big = augment.shifted_crop(x, 6, torch.zeros(4, dtype=torch.long), torch.zeros(4, dtype=torch.long))
    assert big.shape == x.shape and big.eq(0).all()


def test_rotate_matches_torchvision_and_rot90():
    x = torch.rand(2, 3, 8, 8)
    quarter = augment.rotate(x, torch.tensor([90.0, -90.0]))
    assert torch.allclose(quarter[0], torch.rot90(x[0], 1, (1, 2)), atol=1e-5)  # anticlockwise
    assert torch.allclose(quarter[1], torch.rot90(x[1], -1, (1, 2)), atol=1e-5)
    wide = torch.rand(2, 1, 8, 12)
    out = augment.rotate(wide, torch.tensor([30.0, -10.0]))
    for i, angle in enumerate((30.0, -10.0)):
        expected = TF.rotate(wide[i], angle, interpolation=TF.InterpolationMode.BILINEAR)
        assert torch.allclose(out[i], expected, atol=1e-4)
    assert torch.allclose(augment.rotate(x, torch.zeros(2)), x, atol=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_brightness_and_contrast_match_torchvision_per_image(channels):
    x = torch.rand(3, channels, 5, 6)
    factors = torch.tensor([0.6, 1.0, 1.4])
    bright = augment.adjust_brightness(x, factors)
    contrast = augment.adjust_contrast(x, factors)
    for i in range(3):
        assert torch.allclose(bright[i], TF.adjust_brightness(x[i], float(factors[i])), atol=1e-6)
        assert torch.allclose(contrast[i], TF.adjust_contrast(x[i], float(factors[i])), atol=1e-5)


# --------------------------------------------------------------------------- the random pipeline


def asymmetric_batch(b: int = 64) -> torch.Tensor:
    x = torch.zeros(b, 3, 8, 8)
    x[..., :4] = 1.0  # left half white: a flip is visible
    return x


def test_augment_batch_draws_per_sample_and_repeats_with_a_seed():
    x = asymmetric_batch()
    original = x.clone()
    options = {"hflip": True}
    a = augment.augment_batch(x, options, generator=torch.Generator().manual_seed(0))
    b = augment.augment_batch(x, options, generator=torch.Generator().manual_seed(0))
    c = augment.augment_batch(x, options, generator=torch.Generator().manual_seed(1))
    assert torch.equal(x, original)  # the input is not modified
    assert torch.equal(a, b) and not torch.equal(a, c)
    flipped = a[:, 0, 0, 0].eq(0)  # the top-left pixel turned black
    assert 10 < int(flipped.sum()) < 54  # some images flipped, some not: p = 0.5 per sample
    assert torch.equal(a[flipped], x[flipped].flip(-1)) and torch.equal(a[~flipped], x[~flipped])


def test_augment_batch_all_together_keeps_shape_and_range():
    x = torch.rand(16, 3, 12, 10)
    every = {name: True for name in augment.AUGMENTATIONS}
    out = augment.augment_batch(x, every, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert 0 <= out.min() and out.max() <= 1
    assert not torch.allclose(out, x)
    assert augment.augment_batch(x, {}) is x
    with pytest.raises(ValueError, match="B×C×H×W"):
        augment.augment_batch(torch.rand(3, 4, 4), {"hflip": True})


def test_crop_shifts_differ_between_images_of_one_batch():
    x = torch.zeros(32, 1, 9, 9)
    x[:, :, 4, 4] = 1.0  # one bright dot in the middle
    out = augment.augment_batch(x, {"crop": 2}, generator=torch.Generator().manual_seed(0))
    positions = {tuple(int(v) for v in (img[0] == 1).nonzero()[0]) for img in out}
    assert len(positions) > 5  # many different offsets
    assert all(2 <= r <= 6 and 2 <= c <= 6 for r, c in positions)  # never more than 2 pixels away


# --------------------------------------------------------------------------- BatchLoader


def numbered(n: int, mean=(0.0,), std=(1.0,)) -> ImageDataset:
    """Image i is filled with the value i (mod 256); its label is i: every sample can be traced."""
    images = (torch.arange(n) % 256).to(torch.uint8).view(n, 1, 1, 1).expand(n, 1, 4, 4).contiguous()
    split = Split(images, torch.arange(n), n)
    return ImageDataset(name="numbered", classes=[str(i) for i in range(n)], channels=1, image_size=(4, 4),
                        mean=mean, std=std, train=split, test=split)


def epoch_labels(loader: BatchLoader) -> list[int]:
    return torch.cat([y for _, y in loader]).tolist()


def test_batches_have_the_right_shapes_and_types():
    data = numbered(10)
    loader = BatchLoader(data.train, data, 4, shuffle=True)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [tuple(x.shape) for x, _ in batches] == [(4, 1, 4, 4), (4, 1, 4, 4), (2, 1, 4, 4)]
    x, y = batches[0]
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.device.type == "cpu"
    assert torch.equal(x[:, 0, 0, 0] * 255, y.float())  # images and labels stay paired
    assert len(BatchLoader(data.train, data, 4, shuffle=True, drop_last=True)) == 2


def test_every_sample_once_per_epoch_and_a_new_order_each_epoch():
    data = numbered(50)
    loader = BatchLoader(data.train, data, 8, shuffle=True, seed=3)
    first, second = epoch_labels(loader), epoch_labels(loader)
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != second
    again = BatchLoader(data.train, data, 8, shuffle=True, seed=3)
    assert epoch_labels(again) == first and epoch_labels(again) == second  # same seed, same epochs
    assert epoch_labels(BatchLoader(data.train, data, 8, shuffle=True, seed=4)) != first
    assert epoch_labels(BatchLoader(data.train, data, 8, shuffle=False)) == list(range(50))


def test_drop_last_drops_only_the_short_batch():
    data = numbered(10)
    labels = epoch_labels(BatchLoader(data.train, data, 4, shuffle=True, drop_last=True))
    assert len(labels) == 8 and len(set(labels)) == 8


@pytest.mark.parametrize("n", [20, 21])
def test_two_ranks_partition_one_permutation(n):
    data = numbered(n)
    ranks = [BatchLoader(data.train, data, 4, shuffle=True, seed=5, rank=r, world_size=2) for r in (0, 1)]
    a, b = epoch_labels(ranks[0]), epoch_labels(ranks[1])
    assert len(a) == len(b) == (n + 1) // 2 and len(ranks[0]) == len(ranks[1])
    assert set(a) | set(b) == set(range(n))
    assert len(set(a) & set(b)) == (n % 2)  # an odd set repeats exactly one sample to even the ranks
    single = epoch_labels(BatchLoader(data.train, data, 4, shuffle=True, seed=5))
    assert a == single[0::2][:len(a)]  # rank 0 takes every second index of the shared permutation


def test_augmentation_only_when_asked():
    data = numbered(32)
    plain = BatchLoader(data.train, data, 32, shuffle=False)
    x, _ = next(iter(plain))
    assert torch.equal(x, data.train.images.float() / 255)
    data_lr = numbered(32)
    images = data_lr.train.images.clone()
    images[..., :2] = 0  # left half black
    split = Split(images, data_lr.train.labels, 32)
    augmented = BatchLoader(split, data_lr, 32, shuffle=False, augment={"hflip": True}, seed=0)
    x, _ = next(iter(augmented))
    x, images = x[1:], images[1:]  # image 0 is all black: flipped or not, it looks the same
    flipped = x[:, 0, 0, 0].ne(0)  # the bright half moved to the left
    assert 0 < int(flipped.sum()) < 31
    assert torch.equal(x[~flipped], images[~flipped].float() / 255)
    assert torch.equal(x[flipped], images[flipped].float().flip(-1) / 255)
    with pytest.raises(ValueError, match="unknown augmentation"):
        BatchLoader(split, data_lr, 4, shuffle=True, augment={"blur": True})


def test_normalisation_is_applied():
    data = numbered(6, mean=(0.5,), std=(0.25,))
    x, _ = next(iter(BatchLoader(data.train, data, 6, shuffle=False)))
    expected = (data.train.images.float() / 255 - 0.5) / 0.25
    assert torch.allclose(x, expected)


def test_loader_rejects_bad_arguments():
    data = numbered(4)
    with pytest.raises(ValueError, match="batch_size.*got 0"):
        BatchLoader(data.train, data, 0, shuffle=True)
    with pytest.raises(ValueError, match="rank 2 of world_size 2"):
        BatchLoader(data.train, data, 2, shuffle=True, rank=2, world_size=2)
