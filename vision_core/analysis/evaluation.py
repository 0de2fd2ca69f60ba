"""Evaluate a trained network on its test split, and prepare a user's own image for it.

Everything the Evaluate and Predict pages show is computed here (no Streamlit): predictions,
loss and accuracy, per-class metrics, the confusion matrix, mistakes, a random prediction grid,
the run comparison table, and the preprocessing of an uploaded image.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import nn
from torchmetrics.classification import MulticlassConfusionMatrix

_PYPLOT_LOCK = threading.Lock()  # pyplot's current figure is one per process; see confusion_matrix_png

# --------------------------------------------------------------------------------------------
# Normalisation and probabilities
# --------------------------------------------------------------------------------------------


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(x - mean) / std per channel, for a float batch (B, C, H, W) or image (C, H, W) in [0, 1].

    Example: ``normalize(torch.rand(2, 1, 8, 8), [0.5], [0.25])``.
    """
    channels = x.shape[-3]
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"mean/std have {len(mean)}/{len(std)} values but the images have {channels} channels")
    shape = (channels, 1, 1)
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(shape)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(shape)
    return (x - mean_t) / std_t


def probabilities_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """(B, K) probabilities: softmax, or [1 - p, p] for a one-logit (BCE) model."""
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], dim=1)
    return logits.softmax(dim=1)


def loss_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean test loss as training computed it: cross-entropy, or BCE-with-logits for one logit."""
    if logits.shape[1] == 1:
        return float(F.binary_cross_entropy_with_logits(logits.squeeze(1), labels.float()))
    return float(F.cross_entropy(logits, labels))


# --------------------------------------------------------------------------------------------
# Evaluation on a test split
# --------------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """A model's predictions on one split, and everything derived from them."""

    classes: list[str]
    images: torch.Tensor  # (N, C, H, W) uint8, the split's images (a reference, not a copy)
    labels: torch.Tensor  # (N,) int64
    probabilities: torch.Tensor  # (N, K) float
    predictions: torch.Tensor  # (N,) int64
    loss: float
    accuracy: float
    confusion: torch.Tensor  # (K, K) int64 counts; rows = truth, columns = prediction
    per_class: pd.DataFrame = field(repr=False)

    @property
    def confusion_normalized(self) -> torch.Tensor:
        """Each row divided by its total: the share of each true class predicted as each class.

        A class with no test images gives a row of zeros rather than NaN.
        """
        counts = self.confusion.double()
        totals = counts.sum(dim=1, keepdim=True)
        return torch.where(totals > 0, counts / totals.clamp(min=1), torch.zeros_like(counts))

    @property
    def confidences(self) -> torch.Tensor:
        """(N,) probability of the predicted class."""
        return self.probabilities.gather(1, self.predictions[:, None]).squeeze(1)

    def __len__(self) -> int:
        return len(self.labels)


def _split_and_normalizer(dataset_or_split: Any, data_info: dict[str, Any] | None):
    """(split, normalize function) from an ImageDataset (its test split) or a bare Split + data_info."""
    if hasattr(dataset_or_split, "test") and hasattr(dataset_or_split, "normalize"):
        dataset = dataset_or_split
        if data_info is not None:
            check_matches(dataset, data_info)
        return dataset.test, dataset.normalize
    split = dataset_or_split
    if not hasattr(split, "images") or not hasattr(split, "labels"):
        raise TypeError(f"evaluate needs an ImageDataset or a Split (images + labels), got {type(split).__name__}")
    if data_info is None:
        raise ValueError("evaluate on a bare Split needs data_info (its mean and std) to normalise the images")
    return split, lambda x: normalize(x, data_info["mean"], data_info["std"])


def check_matches(dataset: Any, data_info: dict[str, Any]) -> None:
    """Raise ValueError when the dataset loaded now differs from the one the run trained on."""
    problems = []
    if list(dataset.classes) != list(data_info["classes"]):
        problems.append(f"classes {list(dataset.classes)[:5]}… vs {list(data_info['classes'])[:5]}…")
    if int(dataset.channels) != int(data_info["channels"]):
        problems.append(f"{dataset.channels} channels vs {data_info['channels']}")
    if list(dataset.image_size) != list(data_info["image_size"]):
        problems.append(f"image size {list(dataset.image_size)} vs {list(data_info['image_size'])}")
    if problems:
        raise ValueError("The dataset loaded now is not the one this run trained on (" + "; ".join(problems)
                         + "). Load it with the run's dataset options.")


@torch.inference_mode()
def evaluate(model: nn.Module, dataset_or_split: Any, data_info: dict[str, Any] | None = None,
             batch_size: int = 256, device: str | torch.device = "cpu") -> Evaluation:
    """Run the model over the test split and compute loss, accuracy, per-class metrics, confusion matrix.

    ``dataset_or_split`` is an ImageDataset (its ``test`` split and ``normalize`` are used) or a Split,
    in which case ``data_info`` (a run's ``dataset.json``) gives the classes, mean and std.

    Example: ``ev = evaluate(runs.load_model(run), datasets.load("digits"), run.data_info); ev.accuracy``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    split, normalize_fn = _split_and_normalizer(dataset_or_split, data_info)
    classes = list(data_info["classes"]) if data_info else list(dataset_or_split.classes)
    images, labels = split.images, split.labels.long()
    if len(labels) == 0:
        raise ValueError("The test split is empty: there is nothing to evaluate.")

    was_training = model.training
    model.eval()
    try:
        logits = torch.cat([
            model(normalize_fn(images[i:i + batch_size].to(device).float() / 255)).float().cpu()
            for i in range(0, len(images), batch_size)
        ])  # (N, K) or (N, 1)
    finally:
        model.train(was_training)

    probabilities = probabilities_from_logits(logits)
    if probabilities.shape[1] != len(classes):
        raise ValueError(f"The model gives {probabilities.shape[1]} class scores but the data has "
                         f"{len(classes)} classes; pick the checkpoint trained on this dataset.")
    predictions = probabilities.argmax(dim=1)
    confusion = confusion_matrix(predictions, labels, len(classes))
    return Evaluation(
        classes=classes,
        images=images,
        labels=labels,
        probabilities=probabilities,
        predictions=predictions,
        loss=loss_from_logits(logits, labels),
        accuracy=float((predictions == labels).double().mean()),
        confusion=confusion,
        per_class=per_class_table(confusion, classes),
    )


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K, K) counts with torchmetrics' ``ConfusionMatrix``: row = true class, column = predicted class.

    Example: ``confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 0]), 2)`` → ``[[1, 1], [0, 0]]``.
    """
    metric = MulticlassConfusionMatrix(num_classes=num_classes)
    return metric(predictions.long(), labels.long()).long()


def per_class_table(confusion: torch.Tensor, classes: Sequence[str]) -> pd.DataFrame:
    """Per-class support, accuracy, precision, recall and F1 from a confusion matrix.

    ``accuracy`` is the CIFAR-10 tutorial's per-class accuracy: the share of this class's test images
    predicted right (the same number as recall). F1 = 2·P·R / (P + R). A ratio whose denominator is 0 is 0,
    as in scikit-learn's ``zero_division=0``: precision of a class never predicted, recall of a class with no
    test images, F1 when both are 0.
    Example: ``per_class_table(torch.tensor([[1, 3], [3, 1]]), ["a", "b"])["f1"]`` → 0.25 and 0.25.
    """
    counts = confusion.double()
    true_positives = counts.diag()
    support = counts.sum(dim=1)  # images whose truth is this class
    predicted = counts.sum(dim=0)  # images predicted as this class

    def ratio(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        # a / b, and 0 where b is 0. The denominator is only swapped for 1 where it is 0 (to avoid a NaN the
        # where() then discards): clamping it at 1 would shrink every ratio whose denominator is below 1,
        # such as F1's precision + recall.
        return torch.where(b > 0, a / torch.where(b > 0, b, torch.ones_like(b)), torch.zeros_like(a))

    recall = ratio(true_positives, support)
    precision = ratio(true_positives, predicted)
    f1 = ratio(2 * precision * recall, precision + recall)
    return pd.DataFrame({
        "class": list(classes),
        "support": support.long().numpy(),
        "correct": true_positives.long().numpy(),
        "accuracy": recall.numpy(),
        "precision": precision.numpy(),
        "recall": recall.numpy(),
        "f1": f1.numpy(),
    })


# --------------------------------------------------------------------------------------------
# Single predictions: mistakes, one confusion cell, a random grid
# --------------------------------------------------------------------------------------------


@dataclass
class PredictionItem:
    """One test image's prediction, as a gallery shows it."""

    index: int  # position in the test split
    truth: str
    predicted: str
    correct: bool
    confidence: float  # probability of the predicted class
    top3: list[tuple[str, float]]  # (class, probability), most likely first

    @property
    def title(self) -> str:
        return f"Pred: {self.predicted} | Truth: {self.truth}"


def top_k(probabilities: torch.Tensor, classes: Sequence[str], k: int = 3) -> list[tuple[str, float]]:
    """The k most likely classes of one probability vector (K,), most likely first.

    Example: ``top_k(torch.tensor([0.1, 0.7, 0.2]), ["a", "b", "c"], 2)`` → ``[("b", 0.7), ("c", 0.2)]``.
    """
    values, indices = probabilities.topk(min(k, len(classes)))
    return [(classes[int(i)], float(v)) for v, i in zip(values, indices)]


def item(ev: Evaluation, index: int) -> PredictionItem:
    """The PredictionItem of test image ``index``."""
    truth, pred = int(ev.labels[index]), int(ev.predictions[index])
    return PredictionItem(
        index=int(index), truth=ev.classes[truth], predicted=ev.classes[pred], correct=truth == pred,
        confidence=float(ev.probabilities[index, pred]), top3=top_k(ev.probabilities[index], ev.classes, 3),
    )


def mistakes(ev: Evaluation, k: int = 16) -> list[PredictionItem]:
    """The k misclassified test images the model was most sure about (most confident wrong first).

    Example: ``[m.title for m in mistakes(ev, 3)]``.
    """
    wrong = (ev.predictions != ev.labels).nonzero().squeeze(1)
    order = ev.confidences[wrong].argsort(descending=True, stable=True)
    return [item(ev, int(i)) for i in wrong[order][:max(k, 0)]]


def class_index(ev: Evaluation, value: int | str) -> int:
    """A class given by index or by name, checked."""
    if isinstance(value, str):
        if value not in ev.classes:
            raise ValueError(f"Unknown class {value!r}; the classes are {ev.classes}")
        return ev.classes.index(value)
    if not 0 <= int(value) < len(ev.classes):
        raise ValueError(f"Class index {value} is out of range 0..{len(ev.classes) - 1}")
    return int(value)


def pair_indices(ev: Evaluation, truth: int | str, pred: int | str) -> list[int]:
    """Test images whose true class is ``truth`` and that the model predicted as ``pred``: one confusion cell.

    Most confident first. Example: ``pair_indices(ev, "Shirt", "T-shirt/top")``.
    """
    t, p = class_index(ev, truth), class_index(ev, pred)
    cell = ((ev.labels == t) & (ev.predictions == p)).nonzero().squeeze(1)
    order = ev.confidences[cell].argsort(descending=True, stable=True)
    return [int(i) for i in cell[order]]


def most_confused(ev: Evaluation, k: int = 5) -> list[tuple[str, str, int]]:
    """The k most frequent mistakes as (truth, predicted, count), largest first (off-diagonal cells).

    Example: on FashionMNIST ``most_confused(ev, 1)`` is typically ``[("Shirt", "T-shirt/top", 120)]``.
    """
    counts = ev.confusion.clone()
    counts.fill_diagonal_(0)
    flat = counts.flatten()
    order = flat.argsort(descending=True, stable=True)[:max(k, 0)]
    n = len(ev.classes)
    return [(ev.classes[int(i) // n], ev.classes[int(i) % n], int(flat[i])) for i in order if flat[i] > 0]


def prediction_grid(ev: Evaluation, n: int = 9, seed: int | None = None) -> list[PredictionItem]:
    """n random test images (no repeats) with their predictions, like the tutorial's 3×3 grid.

    The same seed gives the same images. Example: ``[p.title for p in prediction_grid(ev, 9, seed=42)]``.
    """
    if n < 1:
        raise ValueError(f"n must be ≥ 1, got {n}")
    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**31 - 1, ()).item()))
    chosen = torch.randperm(len(ev), generator=generator)[:n]
    return [item(ev, int(i)) for i in chosen]


# --------------------------------------------------------------------------------------------
# The tutorial's mlxtend confusion matrix, and the run comparison table
# --------------------------------------------------------------------------------------------


def confusion_matrix_png(matrix: torch.Tensor | np.ndarray, class_names: Sequence[str], dpi: int = 120) -> bytes:
    """A PNG of ``mlxtend.plotting.plot_confusion_matrix`` (the tutorial's figure), for a download button.

    The class names label both axes. Example: ``st.download_button("PNG", confusion_matrix_png(ev.confusion,
    ev.classes), "confusion.png")``.
    """
    import matplotlib.pyplot as plt
    from mlxtend.plotting import plot_confusion_matrix

    matrix = np.asarray(matrix.cpu() if isinstance(matrix, torch.Tensor) else matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(class_names):
        raise ValueError(f"Expected a square {len(class_names)}×{len(class_names)} matrix, got shape {matrix.shape}")
    names = [str(name) for name in class_names]
    size = max(4.0, 0.7 * len(names) + 2)
    # mlxtend 0.25 draws on the axes it is given but sets the tick names and axis titles through pyplot
    # (plt.xticks, plt.xlabel), i.e. on pyplot's *current* figure, which it creates when there is none. So
    # the figure is made with pyplot (it becomes the current one), the lock keeps another thread from
    # changing the current figure meanwhile, the names are set again on these axes, and the figure is closed.
    with _PYPLOT_LOCK:
        figure = plt.figure(figsize=(size, size))
        try:
            axis = figure.add_subplot()
            plot_confusion_matrix(matrix.astype(int), class_names=names, figure=figure, axis=axis)
            ticks = np.arange(len(names))
            axis.set_xticks(ticks, names, rotation=45, ha="right", rotation_mode="anchor")
            axis.set_yticks(ticks, names)
            axis.set_xlabel("predicted label")
            axis.set_ylabel("true label")
            figure.tight_layout()
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=dpi)
        finally:
            plt.close(figure)
    return buffer.getvalue()


def compare_runs(records: Iterable[Any]) -> pd.DataFrame:
    """The tutorial's model-comparison table: one row per run (RunRecord).

    Runs without a summary yet (still training) get empty cells.
    Example: ``compare_runs(runs.list_runs()[:3])``.
    """
    rows = []
    for run in records:
        summary = run.summary or {}
        rows.append({
            "run": run.run_id,
            "model": run.config.model,
            "dataset": run.config.dataset,
            "parameters": summary.get("parameters"),
            "test loss": summary.get("test_loss"),
            "test accuracy": summary.get("test_acc"),
            "training time (s)": summary.get("train_seconds"),
            "device": summary.get("device") or run.status.get("device"),
        })
    columns = ["run", "model", "dataset", "parameters", "test loss", "test accuracy", "training time (s)", "device"]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------------------------
# Predicting on the user's own image
# --------------------------------------------------------------------------------------------


class PreparedImage(NamedTuple):
    """An image made ready for a run's model, and a note of every change made to it."""

    model_input: torch.Tensor  # (1, C, H, W) normalised, what the model receives
    display: torch.Tensor  # (C, H, W) in [0, 1], the same pixels before normalisation
    notes: list[str]  # plain sentences: "converted colour to grayscale", "inverted", ...
    inverted: bool


def _flatten_transparency(image: Image.Image, notes: list[str]) -> Image.Image:
    # A transparent PNG shows on a white page; flatten it the same way so what you see is what it gets.
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        notes.append("put the transparent parts on a white background")
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image


def _centre_crop_to_aspect(image: Image.Image, height: int, width: int) -> Image.Image:
    # Crop the longer side so the resize keeps the shapes' proportions (like CenterCrop before Resize).
    w, h = image.size
    target = width / height
    if w / h > target:
        new_w = max(1, round(h * target))
        left = (w - new_w) // 2
        return image.crop((left, 0, left + new_w, h))
    new_h = max(1, round(w / target))
    top = (h - new_h) // 2
    return image.crop((0, top, w, top + new_h))


def preprocess_image(image: Image.Image, data_info: dict[str, Any], invert: bool | None = None) -> PreparedImage:
    """Turn any picture into exactly what the run's model saw during training.

    Steps: flatten transparency on white; convert to grayscale (1 channel) or RGB (3 channels) to
    match the training data; centre-crop to the training aspect ratio and resize (bilinear,
    antialiased) to ``image_size``; scale to [0, 1]; optionally invert; normalise with the run's mean/std.

    ``invert``: the digit datasets (scikit-learn digits, MNIST) are bright strokes on a black
    background, so a dark digit on white paper must be inverted. ``None`` decides for grayscale
    models: a picture whose mean brightness is above 0.5 is taken to be dark-on-light and inverted.
    Colour models are never inverted automatically.

    Example: ``prep = preprocess_image(Image.open("seven.png"), run.data_info); model(prep.model_input)``.
    """
    if not isinstance(image, Image.Image):
        raise TypeError(f"preprocess_image needs a PIL image, got {type(image).__name__}")
    channels = int(data_info["channels"])
    height, width = (int(s) for s in data_info["image_size"])
    if channels not in (1, 3):
        raise ValueError(f"Only 1- or 3-channel models take pictures; this run's data has {channels} channels")
    notes: list[str] = []

    image = _flatten_transparency(ImageOps.exif_transpose(image), notes)
    colour = image.mode not in ("L", "1", "I", "I;16", "F")
    if channels == 1:
        if colour:
            notes.append("converted the colour picture to grayscale (the model was trained on 1-channel images)")
        image = image.convert("L")
    else:
        if not colour:
            notes.append("copied the grayscale picture into 3 RGB channels (the model was trained on colour)")
        image = image.convert("RGB")

    original = image.size
    if abs(original[0] / original[1] - width / height) > 1e-3:
        image = _centre_crop_to_aspect(image, height, width)
        notes.append(f"centre-cropped {original[0]}×{original[1]} to {image.size[0]}×{image.size[1]} "
                     "to keep the training aspect ratio")
    if image.size != (width, height):
        notes.append(f"resized {image.size[0]}×{image.size[1]} to {width}×{height}")
        image = image.resize((width, height), Image.Resampling.BILINEAR)

    array = np.asarray(image, dtype=np.float32) / 255.0
    display = torch.from_numpy(array).reshape(height, width, channels).permute(2, 0, 1).contiguous()  # (C, H, W)
    brightness = float(display.mean())
    if invert is None:
        invert = channels == 1 and brightness > 0.5
        if invert:
            notes.append(f"inverted it: the picture is mostly light (mean brightness {brightness:.2f} > 0.5), "
                         "but the training images are bright strokes on a black background")
    elif invert:
        notes.append("inverted it (as you asked)")
    if invert:
        display = 1.0 - display
    notes.append(f"scaled pixels to [0, 1] and normalised with mean {_fmt(data_info['mean'])}, "
                 f"std {_fmt(data_info['std'])}")
    model_input = normalize(display, data_info["mean"], data_info["std"])[None]  # (1, C, H, W)
    return PreparedImage(model_input, display, notes, bool(invert))


def _fmt(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


@torch.inference_mode()
def predict(model: nn.Module, model_input: torch.Tensor) -> torch.Tensor:
    """(B, K) class probabilities for a normalised batch (B, C, H, W), in eval mode.

    Example: ``predict(model, preprocess_image(img, run.data_info).model_input)[0]``.
    """
    if model_input.ndim != 4:
        raise ValueError(f"predict needs a batch (B, C, H, W), got shape {tuple(model_input.shape)}")
    was_training = model.training
    model.eval()
    try:
        return probabilities_from_logits(model(model_input).float())
    finally:
        model.train(was_training)


def to_display_array(image: torch.Tensor, min_size: int = 112) -> np.ndarray:
    """A (C, H, W) float [0, 1] or uint8 image as an (H', W', 3) uint8 array for st.image.

    Small images (8×8 digits) are enlarged with nearest-neighbour so each pixel stays a crisp square.
    """
    if image.dtype == torch.uint8:
        image = image.float() / 255
    image = image.detach().cpu().clamp(0, 1)
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    scale = max(1, -(-min_size // max(image.shape[1:])))  # ceil division
    if scale > 1:
        image = F.interpolate(image[None], scale_factor=scale, mode="nearest")[0]
    return (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
