"""evaluation: metrics on hand-computed toys (checked against scikit-learn and torch.nn.functional),
galleries, the mlxtend PNG, the comparison table, and preprocessing of a user's picture."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import precision_recall_fscore_support
from torch import nn

from vision_core.analysis import evaluation
from vision_core.config import RunConfig
from vision_core.runs import store as runs

# A 3-class toy with known answers: 10 test images.
LABELS = [0, 0, 0, 1, 1, 2, 2, 2, 2, 0]
PREDS = [0, 0, 1, 1, 2, 2, 2, 0, 2, 0]
CLASSES = ["cat", "dog", "owl"]
INFO = {"classes": CLASSES, "channels": 1, "image_size": [1, 1], "mean": [0.0], "std": [1.0]}


class LookupModel(nn.Module):
    """Returns a fixed row of logits per image; each image's single pixel holds its own index."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("table", logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = (x[:, 0, 0, 0] * 255).round().long()  # undo the /255 scaling (mean 0, std 1)
        return self.table[index]


def toy_logits(preds: list[int], k: int = 3, seed: int = 0) -> torch.Tensor:
    """Random logits whose argmax is ``preds``."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(len(preds), k, generator=g)
    logits[torch.arange(len(preds)), torch.tensor(preds)] += 5.0
    return logits


def toy_split(labels: list[int]) -> SimpleNamespace:
    n = len(labels)
    return SimpleNamespace(images=torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1),
                           labels=torch.tensor(labels))


@pytest.fixture
def toy():
    logits = toy_logits(PREDS)
    ev = evaluation.evaluate(LookupModel(logits), toy_split(LABELS), INFO, batch_size=4)  # 3 batches
    return ev, logits


def test_predictions_loss_and_accuracy_match_torch(toy):
    ev, logits = toy
    assert ev.predictions.tolist() == PREDS
    assert ev.labels.tolist() == LABELS
    assert ev.accuracy == pytest.approx(7 / 10)
    assert ev.loss == pytest.approx(float(F.cross_entropy(logits, torch.tensor(LABELS))), rel=1e-6)
    torch.testing.assert_close(ev.probabilities, logits.softmax(dim=1))


def test_confusion_matrix_counts_and_normalised_rows(toy):
    ev, _ = toy
    expected = [[3, 1, 0],
                [0, 1, 1],
                [1, 0, 3]]
    assert ev.confusion.tolist() == expected
    assert ev.confusion.tolist() == sk_confusion_matrix(LABELS, PREDS).tolist()
    torch.testing.assert_close(ev.confusion_normalized,
                               torch.tensor(expected, dtype=torch.float64) / torch.tensor([[4.0], [2.0], [4.0]],
                                                                                       dtype=torch.float64))


def test_per_class_metrics_match_sklearn(toy):
    ev, _ = toy
    precision, recall, f1, support = precision_recall_fscore_support(LABELS, PREDS, zero_division=0)
    table = ev.per_class
    assert list(table["class"]) == CLASSES
    np.testing.assert_allclose(table["precision"], precision)
    np.testing.assert_allclose(table["recall"], recall)
    np.testing.assert_allclose(table["f1"], f1)
    assert list(table["support"]) == list(support) == [4, 2, 4]
    assert list(table["correct"]) == [3, 1, 3]
    np.testing.assert_allclose(table["accuracy"], [3 / 4, 1 / 2, 3 / 4])


def test_f1_is_the_harmonic_mean_even_when_precision_plus_recall_is_below_one():
    # P = R = 0.25 for both classes: F1 = 2·0.25·0.25 / 0.5 = 0.25 (not 0.125).
    table = evaluation.per_class_table(torch.tensor([[1, 3], [3, 1]]), ["a", "b"])
    assert table["f1"].tolist() == pytest.approx([0.25, 0.25])


def test_per_class_metrics_match_sklearn_on_random_confusions():
    """Every metric against scikit-learn (zero_division=0) on many random label/prediction sets, including
    classes never predicted, classes absent from the labels, and precision + recall < 1."""
    rng = np.random.default_rng(0)
    seen = {"never predicted": 0, "absent from labels": 0, "P + R < 1": 0}
    for _ in range(400):
        k = int(rng.integers(2, 8))
        n = int(rng.integers(1, 40))
        # Draw labels and predictions from random subsets of the classes, so some are missing on either side.
        label_pool = rng.choice(k, size=int(rng.integers(1, k + 1)), replace=False)
        pred_pool = rng.choice(k, size=int(rng.integers(1, k + 1)), replace=False)
        labels = rng.choice(label_pool, size=n)
        preds = np.where(rng.random(n) < rng.random(), labels, rng.choice(pred_pool, size=n))
        confusion = evaluation.confusion_matrix(torch.from_numpy(preds), torch.from_numpy(labels), k)
        table = evaluation.per_class_table(confusion, [f"c{i}" for i in range(k)])
        precision, recall, f1, support = precision_recall_fscore_support(labels, preds, labels=list(range(k)),
                                                                         zero_division=0)
        np.testing.assert_allclose(table["precision"], precision, atol=1e-12)
        np.testing.assert_allclose(table["recall"], recall, atol=1e-12)
        np.testing.assert_allclose(table["accuracy"], recall, atol=1e-12)
        np.testing.assert_allclose(table["f1"], f1, atol=1e-12)
        assert table["support"].tolist() == support.tolist()
        assert table["correct"].tolist() == [int(np.sum((labels == c) & (preds == c))) for c in range(k)]
        assert not table.isna().any().any()
        seen["never predicted"] += int(np.sum(np.bincount(preds, minlength=k) == 0))
        seen["absent from labels"] += int(np.sum(support == 0))
        seen["P + R < 1"] += int(np.sum((precision + recall > 0) & (precision + recall < 1)))
    assert min(seen.values()) > 50, seen  # the random cases really cover each corner


def test_a_class_never_predicted_gets_zero_precision_not_nan():
    labels, preds = [0, 1, 2, 2], [0, 0, 0, 0]
    ev = evaluation.evaluate(LookupModel(toy_logits(preds)), toy_split(labels), INFO)
    assert ev.per_class["precision"].tolist() == pytest.approx([0.25, 0.0, 0.0])
    assert not ev.per_class.isna().any().any()


def test_normalised_row_of_a_class_without_test_images_is_zero():
    ev = evaluation.evaluate(LookupModel(toy_logits([0, 1])), toy_split([0, 1]), INFO)
    assert ev.confusion_normalized[2].tolist() == [0.0, 0.0, 0.0]


def test_one_logit_models_use_bce_and_two_probability_columns():
    logits = torch.tensor([[2.0], [-1.0], [0.5], [-3.0]])
    labels = [1, 0, 0, 1]
    info = {**INFO, "classes": ["no", "yes"]}
    ev = evaluation.evaluate(LookupModel(logits), toy_split(labels), info)
    assert ev.probabilities.shape == (4, 2)
    torch.testing.assert_close(ev.probabilities[:, 1], torch.sigmoid(logits[:, 0]))
    assert ev.predictions.tolist() == [1, 0, 1, 0]
    assert ev.loss == pytest.approx(float(F.binary_cross_entropy_with_logits(logits[:, 0], torch.tensor(labels).float())))


def test_evaluate_normalises_with_the_runs_mean_and_std():
    # A model that returns its input: the probabilities reveal exactly what it received.
    seen = []

    class Spy(nn.Module):
        def forward(self, x):
            seen.append(x.clone())
            return torch.zeros(len(x), 3)

    split = SimpleNamespace(images=torch.full((2, 1, 2, 2), 51, dtype=torch.uint8), labels=torch.tensor([0, 1]))
    evaluation.evaluate(Spy(), split, {**INFO, "mean": [0.1], "std": [0.5]})
    torch.testing.assert_close(seen[0], torch.full((2, 1, 2, 2), (0.2 - 0.1) / 0.5))


def test_a_dataset_object_uses_its_test_split_and_normalize_and_must_match_the_run():
    split = toy_split(LABELS)
    dataset = SimpleNamespace(test=split, normalize=lambda x: x, classes=CLASSES, channels=1, image_size=(1, 1))
    ev = evaluation.evaluate(LookupModel(toy_logits(PREDS)), dataset, INFO)
    assert ev.predictions.tolist() == PREDS
    with pytest.raises(ValueError, match="not the one this run trained on"):
        evaluation.evaluate(LookupModel(toy_logits(PREDS)), dataset, {**INFO, "image_size": [28, 28]})


def test_a_model_with_the_wrong_number_of_classes_is_a_clear_error():
    with pytest.raises(ValueError, match="gives 4 class scores but the data has 3"):
        evaluation.evaluate(LookupModel(toy_logits(PREDS, k=4)), toy_split(LABELS), INFO)


def test_mistakes_are_sorted_most_confident_first(toy):
    ev, logits = toy
    wrong = [i for i, (t, p) in enumerate(zip(LABELS, PREDS)) if t != p]
    confidence = logits.softmax(1).max(1).values
    expected = sorted(wrong, key=lambda i: -float(confidence[i]))
    found = evaluation.mistakes(ev, k=10)
    assert [m.index for m in found] == expected
    assert all(not m.correct for m in found)
    assert found[0].confidence == pytest.approx(float(confidence[expected[0]]))
    assert found[0].top3[0] == (found[0].predicted, pytest.approx(found[0].confidence))
    assert len(evaluation.mistakes(ev, k=2)) == 2


def test_pair_indices_are_one_confusion_cell(toy):
    ev, _ = toy
    assert sorted(evaluation.pair_indices(ev, 2, 0)) == [7]
    assert sorted(evaluation.pair_indices(ev, "owl", "owl")) == [5, 6, 8]
    assert evaluation.pair_indices(ev, "dog", "cat") == []
    with pytest.raises(ValueError, match="Unknown class 'emu'"):
        evaluation.pair_indices(ev, "emu", "cat")


def test_prediction_grid_is_reproducible_with_a_seed_and_has_no_repeats(toy):
    ev, _ = toy
    first = evaluation.prediction_grid(ev, 9, seed=7)
    assert [p.index for p in first] == [p.index for p in evaluation.prediction_grid(ev, 9, seed=7)]
    assert len({p.index for p in first}) == 9
    assert len(evaluation.prediction_grid(ev, 50, seed=1)) == 10  # capped at the split size
    p = first[0]
    assert p.title == f"Pred: {CLASSES[PREDS[p.index]]} | Truth: {CLASSES[LABELS[p.index]]}"
    assert p.correct == (PREDS[p.index] == LABELS[p.index])
    assert len(p.top3) == 3 and p.top3[0][1] >= p.top3[1][1] >= p.top3[2][1]


def test_confusion_matrix_png_is_an_mlxtend_png(toy):
    ev, _ = toy
    png = evaluation.confusion_matrix_png(ev.confusion, ev.classes)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(png)).size[0] > 100
    with pytest.raises(ValueError, match="square 2×2"):
        evaluation.confusion_matrix_png(ev.confusion, ["a", "b"])


def test_confusion_matrix_png_names_the_classes_on_its_axes_and_leaves_no_figure_open(toy, monkeypatch):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    ev, _ = toy
    saved = []  # the tick labels of every figure saved as a PNG, read at the moment it is saved
    real_savefig = Figure.savefig

    def spy(figure, *args, **kwargs):
        axis = figure.axes[0]
        saved.append(([t.get_text() for t in axis.get_xticklabels()], [t.get_text() for t in axis.get_yticklabels()],
                      axis.get_xlabel(), axis.get_ylabel()))
        return real_savefig(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    plt.close("all")
    named = evaluation.confusion_matrix_png(ev.confusion, ev.classes)
    assert saved == [(CLASSES, CLASSES, "predicted label", "true label")]
    assert plt.get_fignums() == []  # nothing left open: a server draws this for every visitor
    evaluation.confusion_matrix_png(ev.confusion, ev.classes)
    assert plt.get_fignums() == []
    # The names reach the pixels: other names give another picture.
    assert evaluation.confusion_matrix_png(ev.confusion, ["0", "1", "2"]) != named


def test_compare_runs_is_the_tutorials_table(tmp_path):
    done = runs.create_run(RunConfig(dataset="digits", model="lenet"), root=tmp_path, run_id="a")
    runs.write_summary(done, {"test_loss": 0.33, "test_acc": 0.88, "train_seconds": 44.3, "device": "CPU",
                              "parameters": 7_000})
    busy = runs.create_run(RunConfig(dataset="digits", model="tinyvgg"), root=tmp_path, run_id="b")
    table = evaluation.compare_runs([done, busy])
    assert list(table.columns) == ["run", "model", "dataset", "parameters", "test loss", "test accuracy",
                                   "training time (s)", "device"]
    assert table.iloc[0]["test accuracy"] == 0.88 and table.iloc[0]["model"] == "lenet"
    assert table.iloc[1]["model"] == "tinyvgg" and pd.isna(table.iloc[1]["test loss"])


# ---- preprocessing a user's picture ------------------------------------------------------------

DIGITS_INFO = {"classes": [str(i) for i in range(10)], "channels": 1, "image_size": [8, 8],
               "mean": [0.2], "std": [0.3]}
RGB_INFO = {"classes": ["a", "b"], "channels": 3, "image_size": [4, 4], "mean": [0.5] * 3, "std": [0.25] * 3}


def test_an_image_already_in_training_format_passes_through_unchanged():
    pixels = np.random.default_rng(0).integers(0, 100, (8, 8), dtype=np.uint8)  # dark: no inversion
    prep = evaluation.preprocess_image(Image.fromarray(pixels, "L"), DIGITS_INFO)
    assert prep.model_input.shape == (1, 1, 8, 8) and prep.display.shape == (1, 8, 8)
    torch.testing.assert_close(prep.display[0], torch.from_numpy(pixels).float() / 255)
    torch.testing.assert_close(prep.model_input[0], (prep.display - 0.2) / 0.3)
    assert not prep.inverted
    assert not any("resized" in n or "grayscale" in n for n in prep.notes)


def test_colour_to_grayscale_and_resize_are_noted():
    prep = evaluation.preprocess_image(Image.new("RGB", (40, 40), (10, 20, 30)), DIGITS_INFO)
    assert prep.display.shape == (1, 8, 8)
    assert any("grayscale" in n for n in prep.notes)
    assert any("resized 40×40 to 8×8" in n for n in prep.notes)
    expected_l = (10 * 299 + 20 * 587 + 30 * 114) / 1000 / 255  # Pillow's ITU-R 601-2 luma
    assert float(prep.display.mean()) == pytest.approx(expected_l, abs=1 / 255)


def test_grayscale_for_a_colour_model_is_copied_into_three_channels():
    prep = evaluation.preprocess_image(Image.new("L", (4, 4), 200), RGB_INFO)
    assert prep.display.shape == (3, 4, 4)
    torch.testing.assert_close(prep.display[0], prep.display[2])
    assert any("3 RGB channels" in n for n in prep.notes)
    assert not prep.inverted  # colour models are never inverted automatically


def test_wide_picture_is_centre_cropped_to_keep_the_aspect_ratio():
    image = Image.new("RGB", (300, 100), (255, 0, 0))  # red edges ...
    image.paste((0, 0, 255), (100, 0, 200, 100))  # ... blue centre square
    prep = evaluation.preprocess_image(image, RGB_INFO)
    assert torch.all(prep.display[2] > 0.99) and torch.all(prep.display[0] < 0.01)  # only blue survives
    assert any("centre-cropped 300×100 to 100×100" in n for n in prep.notes)


def test_a_dark_digit_on_white_paper_is_inverted_automatically():
    paper = Image.new("L", (64, 64), 255)
    paper.paste(0, (24, 8, 40, 56))  # a black "1"
    prep = evaluation.preprocess_image(paper, DIGITS_INFO)
    assert prep.inverted and any("inverted" in n for n in prep.notes)
    assert float(prep.display.mean()) < 0.5
    assert float(prep.display[0, 4, 4]) > 0.8  # the stroke is now bright ...
    assert float(prep.display[0, 4, 0]) < 0.1  # ... and the paper dark
    kept = evaluation.preprocess_image(paper, DIGITS_INFO, invert=False)
    assert not kept.inverted and float(kept.display.mean()) > 0.5


def test_transparent_png_is_flattened_on_white():
    image = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    prep = evaluation.preprocess_image(image, DIGITS_INFO, invert=False)
    assert torch.all(prep.display == 1.0)
    assert any("transparent" in n for n in prep.notes)


def test_preprocess_rejects_what_is_not_a_picture():
    with pytest.raises(TypeError, match="needs a PIL image, got ndarray"):
        evaluation.preprocess_image(np.zeros((8, 8)), DIGITS_INFO)


def test_predict_gives_softmax_probabilities_and_restores_the_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 10)).train()
    x = torch.randn(2, 1, 8, 8)
    probs = evaluation.predict(model, x)
    assert model.training  # put back as it was
    torch.testing.assert_close(probs, model.eval()(x).softmax(1))
    with pytest.raises(ValueError, match=r"got shape \(1, 8, 8\)"):
        evaluation.predict(model, x[0])


def test_display_array_enlarges_small_images_with_crisp_pixels():
    image = torch.tensor([[[0, 255], [255, 0]]], dtype=torch.uint8)  # 1×2×2
    array = evaluation.to_display_array(image, min_size=8)
    assert array.shape == (8, 8, 3) and array.dtype == np.uint8
    assert array[0, 0].tolist() == [0, 0, 0] and array[0, 7].tolist() == [255, 255, 255]
    assert array[3, 3].tolist() == [0, 0, 0]  # nearest-neighbour: no blurred grey


def test_most_confused_lists_off_diagonal_cells_largest_first():
    labels = [0, 0, 0, 1, 2, 2, 1]
    preds = [1, 1, 2, 1, 0, 2, 1]
    ev = evaluation.evaluate(LookupModel(toy_logits(preds)), toy_split(labels), INFO)
    assert evaluation.most_confused(ev, 5) == [("cat", "dog", 2), ("cat", "owl", 1), ("owl", "cat", 1)]
    assert evaluation.most_confused(ev, 1) == [("cat", "dog", 2)]


# ---- figures (vision_core.figures.evaluation) -----------------------------------------------------------


def test_confusion_heatmap_cells_are_clickable_markers_that_map_back_to_truth_and_prediction(toy):
    from vision_core.figures import evaluation as eval_figures

    ev, _ = toy
    fig = eval_figures.confusion_heatmap(ev.confusion, ev.classes)
    heat, cells = fig.data
    assert heat.type == "heatmap" and [list(r) for r in heat.z] == ev.confusion.tolist()
    assert fig.layout.yaxis.autorange == "reversed" and list(heat.y) == CLASSES  # truth on rows, top to bottom
    assert cells.hoverinfo != "skip"  # a skipped trace would not receive clicks
    # Marker i sits on cell (truth, pred) = divmod(i, K), and says so in its hover text.
    i = 2 * 3 + 0
    assert (cells.y[i], cells.x[i]) == ("owl", "cat") and cells.text[i] == "1"
    assert eval_figures.cell_from_point_index(i, 3) == (2, 0)
    normalized = eval_figures.confusion_heatmap(ev.confusion_normalized, ev.classes, normalized=True)
    assert normalized.data[1].text[0] == "75%"
    with pytest.raises(ValueError, match="Expected a 2×2 matrix"):
        eval_figures.confusion_heatmap(ev.confusion, ["a", "b"])


def test_image_grid_titles_are_green_when_right_and_red_when_wrong(toy):
    from vision_core.figures import evaluation as eval_figures

    ev, _ = toy
    items = [evaluation.item(ev, i) for i in (0, 2)]  # image 0 right, image 2 wrong
    fig = eval_figures.image_grid([ev.images[p.index] for p in items], [p.title for p in items],
                                  [p.correct for p in items], cols=2)
    titles = fig.layout.annotations
    assert titles[0].text == "Pred: cat | Truth: cat" and titles[0].font.color == eval_figures.RIGHT_COLOR
    assert titles[1].text == "Pred: dog | Truth: cat" and titles[1].font.color == eval_figures.WRONG_COLOR
    assert [t.type for t in fig.data] == ["image", "image"]


def test_probability_bars_put_the_most_likely_class_on_top():
    from vision_core.figures import evaluation as eval_figures

    fig = eval_figures.probability_bars(torch.tensor([0.1, 0.7, 0.2]), CLASSES)
    assert list(fig.data[0].y) == ["dog", "owl", "cat"]
    assert list(fig.data[0].x) == pytest.approx([0.7, 0.2, 0.1])
