"""The data part of an exported run: the same images, split, normalisation and augmentation as the dashboard's.

Every piece is written so that it computes exactly what ``vision_core.data`` computes (the same seeded
generators, the same operations in the same order): the exported notebook's test set is the run's test set,
and its shuffles and augmentations are the run's on the same device. Embedded datasets need nothing of this
project: ``digits`` comes from scikit-learn, ``shapes`` from the generator's own code copied into the notebook.
Real datasets are read with torchvision's loaders from the data folder.

Example: ``data_cells(run.config, run.data_info)``.
"""

from __future__ import annotations

import inspect
import re
from string import Template
from typing import Any

from vision_core.code_export.text import Cell, code, markdown
from vision_core.config import RunConfig
from vision_core.data import augment, datasets, procedural

_TORCHVISION_CLASSES = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST", "cifar10": "CIFAR10"}
_NATIVE_SIZE = {"mnist": (28, 28), "fashion_mnist": (28, 28), "kmnist": (28, 28), "cifar10": (32, 32)}
# Dashboard-side load options that change nothing about the images (where they are read from, downloading).
_WHERE_OPTIONS = ("root", "download")

_STRATIFIED = '''
def stratified_mask(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """True for `fraction` of every class's images, chosen at random with `seed` (the test images)."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.zeros(len(labels), dtype=torch.bool)
    for label in labels.unique():  # a loop over classes, not images
        members = (labels == label).nonzero().squeeze(1)
        take = round(fraction * len(members))
        mask[members[torch.randperm(len(members), generator=generator)[:take]]] = True
    return mask
'''

_RESIZE = '''
def resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 images (N, C, H, W) resized once to `size`: bilinear, anti-aliased, rounded back to bytes."""
    resized = F.interpolate(images.float(), size=size, mode="bilinear", align_corners=False, antialias=True)
    return resized.round().clamp(0, 255).to(torch.uint8)
'''

_DIGITS = Template('''
# Scikit-learn ships 1,797 handwritten digits of 8×8 pixels (values 0 to 16). They are scaled up once to
# ${h}×${w} (bilinear, anti-aliased) and kept as bytes (uint8), like photos.
digits = load_digits()
pixels = torch.from_numpy(digits.data).float().view(-1, 1, 8, 8) / 16  # (1797, 1, 8, 8) in [0, 1]
images = F.interpolate(pixels, size=IMAGE_SIZE, mode="bilinear", align_corners=False, antialias=True)
images = images.mul(255).round().clamp(0, 255).to(torch.uint8)  # (1797, 1, ${h}, ${w})
labels = torch.from_numpy(digits.target).long()  # (1797,)

# The test set: a fixed 20 % of every digit (seed ${test_seed}, whatever the run's seed).
is_test = stratified_mask(labels, 0.2, seed=${test_seed})
train_images, train_labels = images[~is_test], labels[~is_test]
test_images, test_labels = images[is_test], labels[is_test]
''')

_SHAPES = Template('''
# ${n_train} training and ${n_test} test images, drawn from one random stream seeded with SPLIT_SEED.
generator = torch.Generator().manual_seed(SPLIT_SEED)
train_images, train_labels = make_shapes(${n_train}, IMAGE_SIZE, ${difficulty}, generator)
test_images, test_labels = make_shapes(${n_test}, IMAGE_SIZE, ${difficulty}, generator)
''')

_IDX = Template('''
# torchvision's own loader reads the files from DATA_ROOT/${cls}/raw (and downloads them when they are missing).
DATA_ROOT = Path("data")  # the dashboard's data folder ($$VISION_CORE_DATA, default ./data)
train_set = torchvision.datasets.${cls}(DATA_ROOT, train=True, download=True)
test_set = torchvision.datasets.${cls}(DATA_ROOT, train=False, download=True)
train_images, train_labels = train_set.data.unsqueeze(1), train_set.targets  # (60000, 1, 28, 28) uint8
test_images, test_labels = test_set.data.unsqueeze(1), test_set.targets
''')

_CIFAR = '''
# torchvision's own loader reads the files from DATA_ROOT/cifar-10-batches-py (and downloads them when missing).
DATA_ROOT = Path("data")  # the dashboard's data folder ($VISION_CORE_DATA, default ./data)
train_set = torchvision.datasets.CIFAR10(DATA_ROOT, train=True, download=True)
test_set = torchvision.datasets.CIFAR10(DATA_ROOT, train=False, download=True)
# numpy (N, 32, 32, 3) → torch (N, 3, 32, 32), as PyTorch wants the channels first
train_images = torch.from_numpy(train_set.data).permute(0, 3, 1, 2).contiguous()
test_images = torch.from_numpy(test_set.data).permute(0, 3, 1, 2).contiguous()
train_labels, test_labels = torch.tensor(train_set.targets), torch.tensor(test_set.targets)
'''

_IMAGEFOLDER = Template('''
# Your own photos, one sub-folder per class. Each image is decoded once, resized (shorter side) and
# centre-cropped to ${h}×${w}, as the cats-vs-dogs recipe does.
FOLDER = Path("data/imagefolder") / ${folder}
transform = transforms.Compose([transforms.Resize(${longest}), transforms.CenterCrop(IMAGE_SIZE),
                                transforms.PILToTensor()])


def load_folder(folder: Path) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Every image of folder/<class>/ → uint8 images (N, 3, H, W), labels (N,), class names."""
    dataset = torchvision.datasets.ImageFolder(folder, transform=transform)
    images = torch.stack([image for image, _ in dataset])
    return images, torch.tensor(dataset.targets), dataset.classes


if (FOLDER / "train").is_dir() and (FOLDER / "test").is_dir():
    train_images, train_labels, _ = load_folder(FOLDER / "train")
    test_images, test_labels, _ = load_folder(FOLDER / "test")
else:  # one folder: a fixed ${test_percent} % of every class is kept for testing (seed ${test_seed})
    images, labels, _ = load_folder(FOLDER / "train" if (FOLDER / "train").is_dir() else FOLDER)
    is_test = stratified_mask(labels, ${test_size}, seed=${test_seed})
    train_images, train_labels = images[~is_test], labels[~is_test]
    test_images, test_labels = images[is_test], labels[is_test]
''')

_LIMIT = '''
def keep_per_class(labels: torch.Tensor, limit: int, seed: int) -> torch.Tensor:
    """Indices of `limit` images, every class keeping its share (largest remainders), chosen with `seed`."""
    n = len(labels)
    counts = torch.bincount(labels, minlength=len(CLASSES)).tolist()
    quota = [c * limit // n for c in counts]
    by_remainder = sorted(range(len(counts)), key=lambda k: (-(counts[k] * limit % n), k))
    for k in by_remainder[:limit - sum(quota)]:
        quota[k] += 1
    generator = torch.Generator().manual_seed(seed)
    keep = []
    for k, take in enumerate(quota):
        members = (labels == k).nonzero().squeeze(1)
        keep.append(members[torch.randperm(len(members), generator=generator)[:take]])
    return torch.cat(keep).sort().values
'''

_BATCHES = '''
class Batches:
    """(x, y) batches straight from the uint8 tensors, on DEVICE: x float (B, C, H, W) normalised, y (B,).

    The whole dataset fits in memory, so an epoch is one shuffle (torch.randperm) and each batch one gather,
    as in airbench; the dashboard's loader works the same way. Shuffles and augmentations come from their
    own seeded generators, so the same seed gives the same epochs.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, shuffle: bool = False,
                 augmented: bool = False, seed: int = 0) -> None:
        self.images, self.labels = images.to(DEVICE), labels.to(DEVICE)  # moved once
        self.batch_size, self.shuffle, self.augmented = batch_size, shuffle, augmented
        self.order_generator = torch.Generator(device=DEVICE).manual_seed(seed)
        # The dashboard's offset: augmentations draw from their own stream, not the shuffles'.
        self.augment_generator = torch.Generator(device=DEVICE).manual_seed(seed + 7919)

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __iter__(self):
        n = len(self.labels)
        if self.shuffle:
            order = torch.randperm(n, generator=self.order_generator, device=DEVICE)
        else:
            order = torch.arange(n, device=DEVICE)
        for start in range(0, n, self.batch_size):
            index = order[start:start + self.batch_size]
            x = self.images[index].float() / 255  # (B, C, H, W) in [0, 1]
            if self.augmented:
                x = augment(x, self.augment_generator)
            yield normalize(x), self.labels[index]
'''


def _source_without_header(module) -> str:
    """A module's code without its docstring, ``from __future__`` and imports (the notebook imports once)."""
    lines = inspect.getsource(module).splitlines()
    body_start = next(i for i, line in enumerate(lines) if line.startswith(("def ", "class ", "SHAPE", "_")))
    return "\n".join(lines[body_start:]).strip() + "\n"


def _shapes_defaults() -> dict[str, Any]:
    # The generator's defaults, read from the registered reader so the two never drift apart.
    return {name: p.default for name, p in inspect.signature(datasets._read_shapes).parameters.items()
            if p.kind is p.KEYWORD_ONLY}


def _number(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


def _augment_code(chosen: dict[str, float]) -> str:
    """The copied operations the run uses and an ``augment(x, generator)`` that draws them as the dashboard does."""
    helpers = ['def uniform(b: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:',
               '    """b random numbers in [low, high), drawn on the generator\'s device."""',
               '    return low + (high - low) * torch.rand(b, generator=generator, device=generator.device)']
    functions = {"crop": augment.shifted_crop, "hflip": augment.flip_where, "rotation": augment.rotate,
                 "brightness": augment.adjust_brightness, "contrast": augment.adjust_contrast}
    parts = [inspect.getsource(functions[name]).strip() for name in augment.AUGMENTATIONS if name in chosen]
    order = " → ".join(name for name in augment.AUGMENTATIONS if name in chosen)
    body = ["def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:",
            f'    """A new random view of every image, drawn in the dashboard\'s order: {order}."""',
            "    b = x.shape[0]"]
    if "crop" in chosen:
        p = int(chosen["crop"])
        body += [f"    # Pad by {p} px, then cut each image's window at a random offset in [0, {2 * p}].",
                 f"    top = torch.randint(0, {2 * p + 1}, (b,), generator=generator, device=generator.device)",
                 f"    left = torch.randint(0, {2 * p + 1}, (b,), generator=generator, device=generator.device)",
                 f"    x = shifted_crop(x, {p}, top.to(x.device), left.to(x.device))"]
    if "hflip" in chosen:
        flip = chosen["hflip"]
        body.append(f"    x = flip_where(x, uniform(b, 0, 1, generator).to(x.device) < {flip!r})  # probability {flip:g}")
    if "rotation" in chosen:
        r = chosen["rotation"]
        body += [f"    x = rotate(x, uniform(b, {-r!r}, {r!r}, generator).to(x.device))  # degrees, either way"]
    for name, function in (("brightness", "adjust_brightness"), ("contrast", "adjust_contrast")):
        if name in chosen:
            s = chosen[name]
            draw = f"uniform(b, {1 - s!r}, {1 + s!r}, generator).to(x.device)"
            body.append(f"    x = {function}(x, {draw})  # factor 1 ± {s:g}")
    body.append("    return x")
    grey = f"_GREY_WEIGHTS = {augment._GREY_WEIGHTS!r}  # ITU-R 601 luma, as torchvision's rgb_to_grayscale\n\n\n"
    prefix = grey if "contrast" in chosen else ""
    return prefix + "\n\n\n".join(["\n".join(helpers), *parts, "\n".join(body)]) + "\n"


def _val_count(val_size: float) -> str:
    """The validation count as the dashboard computes it (a fraction is rounded, a count taken as is)."""
    if isinstance(val_size, float) and not val_size.is_integer():
        return f"round({val_size!r} * len(train_labels))"
    return str(int(val_size))


def data_cells(config: RunConfig, info: dict[str, Any]) -> tuple[list[Cell], list[str]]:
    """(cells, notes): the data as the run had it, and what cannot be reproduced exactly (said in the notebook)."""
    name = config.dataset
    options = dict(config.dataset_options)
    notes: list[str] = []
    h, w = (int(s) for s in info["image_size"])
    test_seed = datasets.TEST_SPLIT_SEED
    cells: list[Cell] = []
    helpers: list[str] = []

    if name == "digits":
        helpers.append(_STRATIFIED)
        load = _DIGITS.substitute(h=h, w=w, test_seed=test_seed)
        about = ("The digits that ship with scikit-learn, scaled up as the dashboard scales them, with its "
                 "fixed test set.")
    elif name == "shapes":
        values = {**_shapes_defaults(), **{k: options[k] for k in ("n_train", "n_test", "difficulty") if k in options}}
        cells += [markdown("### The shapes generator\nThe dashboard draws its shapes with this code (copied from "
                           "`vision_core/data/procedural.py`), so this notebook needs nothing of the dashboard: "
                           "each pixel's distance to the shape's outline, computed for the whole batch at once."),
                  code(_source_without_header(procedural))]
        load = _SHAPES.substitute(n_train=values["n_train"], n_test=values["n_test"],
                                  difficulty=_number(values["difficulty"]))
        about = "The procedurally drawn shapes, from the same seed as the run."
    elif name in ("mnist", "fashion_mnist", "kmnist"):
        load = _IDX.substitute(cls=_TORCHVISION_CLASSES[name])
        about = f"{datasets.dataset_info(name).title}, read with torchvision's loader."
    elif name == "cifar10":
        load = _CIFAR
        about = "CIFAR-10, read with torchvision's loader."
    elif name == "imagefolder":
        helpers.append(_STRATIFIED)
        test_size = float(options.get("test_size", 0.2))
        load = _IMAGEFOLDER.substitute(h=h, w=w, longest=max(h, w), folder=repr(str(options.get("folder") or "")),
                                       test_size=repr(test_size), test_percent=_number(100 * test_size),
                                       test_seed=test_seed)
        about = "Your image folder, read with torchvision's ImageFolder."
        notes.append("torchvision's ImageFolder reads a few files the dashboard skips (hidden files) and skips GIFs, "
                     "which the dashboard reads: a folder with such files gives slightly different images.")
    else:
        raise ValueError(f"cannot export the data of dataset {name!r}: teach vision_core/code_export/data_code.py")
    if name in _NATIVE_SIZE and (h, w) != _NATIVE_SIZE[name]:
        helpers.append(_RESIZE)
        load += ("\n# The run resized every image once to IMAGE_SIZE.\n"
                 "train_images, test_images = resize(train_images, IMAGE_SIZE), resize(test_images, IMAGE_SIZE)\n")
    ignored = sorted(set(options) & set(_WHERE_OPTIONS))
    if ignored:
        notes.append(f"The run's data option(s) {', '.join(ignored)} say where the dashboard reads or downloads "
                     "the files; here the data folder is `data/` next to this notebook.")

    # The validation hold-out, then the optional smaller training set, as datasets.load does them.
    val_size = options.get("val_size", datasets.dataset_info(name).val_size)
    split = ["", "# Validation: images held out of training, chosen with SPLIT_SEED, to pick the best epoch."]
    if _val_count(val_size) == "0":
        split = ["", "# No validation split (as in the tutorial): the test set is used to pick the best epoch.",
                 "val_images, val_labels = test_images, test_labels"]
    else:
        split += [f"n_val = {_val_count(val_size)}",
                  "order = torch.randperm(len(train_labels), generator=torch.Generator().manual_seed(SPLIT_SEED))",
                  "val_index, train_index = order[:n_val].sort().values, order[n_val:].sort().values",
                  "val_images, val_labels = train_images[val_index], train_labels[val_index]",
                  "train_images, train_labels = train_images[train_index], train_labels[train_index]"]
    limit = options.get("train_limit")
    if limit is not None:
        helpers.append(_LIMIT)
        split += ["", f"# The run trained on {int(limit):,} of these images only (every class keeps its share).",
                  f"keep = keep_per_class(train_labels, {int(limit)}, seed=SPLIT_SEED)",
                  "train_images, train_labels = train_images[keep], train_labels[keep]"]
    split += ["", 'print(f"train {tuple(train_images.shape)}, validation {tuple(val_images.shape)}, "',
              '      f"test {tuple(test_images.shape)}: uint8 images (N, C, H, W)")']

    body = "\n\n".join(h.strip() for h in helpers)
    cells += [markdown(f"## 1. The data\n{about} Images stay as bytes (uint8) in memory; each batch becomes "
                       "floats in [0, 1] only when it is used."),
              code((body + "\n\n\n" if body else "") + load.strip() + "\n" + "\n".join(split))]

    mean, std = [float(m) for m in info["mean"]], [float(s) for s in info["std"]]
    if all(m == 0 for m in mean) and all(s == 1 for s in std):
        normalize = ('def normalize(x: torch.Tensor) -> torch.Tensor:\n'
                     '    """This recipe feeds the pixels as they are, in [0, 1]: nothing to do."""\n'
                     '    return x\n')
    else:
        normalize = (f"MEAN = torch.tensor({mean!r}).view(1, -1, 1, 1)  # per channel, the recipe's numbers\n"
                     f"STD = torch.tensor({std!r}).view(1, -1, 1, 1)\n\n\n"
                     'def normalize(x: torch.Tensor) -> torch.Tensor:\n'
                     '    """(x − mean) / std per channel, for a float batch (B, C, H, W) in [0, 1]."""\n'
                     '    return (x - MEAN.to(x.device)) / STD.to(x.device)\n')
    chosen = augment.validate_augment(config.augment)
    if chosen:
        described = ", ".join(f"{k} {v:g}" for k, v in chosen.items())
        cells += [markdown(f"### Augmentation\nEvery training batch gets a new random view of each image "
                           f"({described}). The operations are the dashboard's own (copied from "
                           f"`vision_core/data/augment.py`): one random draw per image, no loop over images."),
                  code(_augment_code(chosen))]
    else:
        normalize += ("\n\ndef augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:\n"
                      '    """The run used no augmentation: every epoch sees the same images."""\n'
                      "    return x\n")
    cells += [markdown("### Batches\nNormalisation and a small loader that serves shuffled (and augmented) batches "
                       "from the tensors in memory."),
              code(normalize + "\n\n" + _BATCHES.strip() + "\n\n\n"
                   "train_batches = Batches(train_images, train_labels, BATCH_SIZE, shuffle=True, "
                   f"augmented={bool(chosen)}, seed=SEED)\n"
                   "val_batches = Batches(val_images, val_labels, BATCH_SIZE)\n"
                   "test_batches = Batches(test_images, test_labels, BATCH_SIZE)\n")]
    return cells, notes


def uses(source: str, token: str) -> bool:
    """Whether ``source`` uses the name ``token`` (for choosing the imports the notebook needs)."""
    return re.search(rf"(?<![\w.]){re.escape(token)}", source) is not None
