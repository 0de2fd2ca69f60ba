"""Regularisation experiments: variants differ only in their factor, the train_limit data option, the overlay figure,
and a short real experiment through the engine."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest
import torch

from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.data.datasets import Split, _limit_train
from vision_core.figures.experiments import LABEL_SPACING, VariantCurves, overfitting_figure, spread
from vision_core.lessons import experiments as X
from vision_core.training import engine
from vision_core.training.live import LiveState

# Where each factor lives in a RunConfig's dict: (field, key inside it or None).
FIELD_OF = {"dropout": ("model_options", "dropout"), "weight_decay": ("weight_decay", None),
            "augment": ("augment", None), "train_limit": ("dataset_options", "train_limit")}


def _without(config: RunConfig, factor: str) -> dict:
    """The config as a dict with the factor (and the name) taken out: what must be equal across variants."""
    data = config.to_dict()
    data.pop("name")
    field, key = FIELD_OF[factor]
    if key is None:
        data.pop(field)
    else:
        data[field] = {k: v for k, v in data[field].items() if k != key}
    return data


@pytest.mark.parametrize("setup", list(X.SETUPS))
@pytest.mark.parametrize("factor", list(X.FACTORS))
def test_variants_differ_only_in_their_factor(setup, factor):
    exp = X.experiment(setup, factor)
    configs = exp.variants()
    assert len(configs) == len(exp.values) >= 2
    base = _without(exp.base, factor)
    for config in configs:
        assert _without(config, factor) == base  # everything else, the seed included, is the base's
        assert config.seed == exp.base.seed
    values = [config.to_dict()[FIELD_OF[factor][0]] for config in configs]
    assert len({repr(v) for v in values}) == len(values)  # and the factor really differs
    assert [c.name for c in configs] == exp.labels()


def test_variant_values_and_names():
    base = RunConfig(model="custom", model_options={"blocks": 1}, dataset_options={"train_limit": 50})
    dropout = X.variants(base, "dropout", [0.0, 0.5])
    assert [c.model_options for c in dropout] == [{"blocks": 1, "dropout": 0.0}, {"blocks": 1, "dropout": 0.5}]
    assert [c.name for c in dropout] == ["dropout 0", "dropout 0.5"]
    decay = X.variants(base, "weight_decay", [0, 1e-3])
    assert [c.weight_decay for c in decay] == [0.0, 0.001] and decay[1].name == "weight decay 0.001"
    aug = X.variants(base, "augment", ["none", "shift+rotate"])
    assert [c.augment for c in aug] == [{}, {"crop": 4, "rotation": 15}]
    assert [c.name for c in aug] == ["no augmentation", "augmentation shift+rotate"]
    size = X.variants(base, "train_limit", [100, None])
    assert [c.dataset_options for c in size] == [{"train_limit": 100}, {}]
    assert [c.name for c in size] == ["100 training images", "all training images"]
    assert base.dataset_options == {"train_limit": 50}  # the base is never changed


@pytest.mark.parametrize(("factor", "text", "expected"), [
    ("dropout", "0, 0.5", [0.0, 0.5]),
    ("weight_decay", " 0 ,1e-3, 0.01", [0.0, 0.001, 0.01]),
    ("augment", "none, Shift", ["none", "shift"]),
    ("train_limit", "100, 400, all", [100, 400, None]),
])
def test_values_are_read_from_text_and_written_back(factor, text, expected):
    values = X.parse_values(factor, text)
    assert values == expected
    assert X.parse_values(factor, X.show_values(factor, values)) == values


@pytest.mark.parametrize(("factor", "text", "message"), [
    ("dropout", "0, 1", "below 1"),
    ("dropout", "0, abc", "numbers"),
    ("dropout", "0.5", "2 to 4"),
    ("dropout", "0, 0.1, 0.2, 0.3, 0.4", "2 to 4"),
    ("dropout", "0.5, 0.50", "once"),
    ("weight_decay", "0, -1", "at least 0"),
    ("weight_decay", "0, nan", "at least 0"),
    ("augment", "none, sideways", "shift"),
    ("train_limit", "100, 0", "≥ 1"),
    ("train_limit", "100, 12.5", "whole numbers"),
    ("nope", "1, 2", "unknown factor"),
])
def test_bad_values_are_one_sentence_naming_the_fix(factor, text, message):
    with pytest.raises(ValueError, match=message) as info:
        X.parse_values(factor, text)
    assert "\n" not in str(info.value)


def test_dropout_needs_the_custom_template_and_setups_are_known():
    with pytest.raises(ValueError, match="custom template"):
        X.variants(RunConfig(model="lenet"), "dropout", [0.0, 0.5])
    with pytest.raises(ValueError, match="setups are"):
        X.experiment("nowhere", "dropout")


def test_check_refuses_more_training_images_than_there_are():
    exp = X.experiment("digits_mlp", "train_limit", [100, 5000])
    with pytest.raises(ValueError, match="only 1,078 training images"):
        exp.check()
    estimates = X.experiment("digits_mlp", "dropout").check()
    assert len(estimates) == 2 and all(e > 0 for e in estimates)


# --------------------------------------------------------------------------- train_limit


def test_train_limit_keeps_n_stratified_images_and_the_same_validation():
    full = datasets.load("digits", val_size=0.25)
    small = datasets.load("digits", val_size=0.25, train_limit=100)
    assert len(small.train) == 100
    assert small.train.class_counts() == [10] * 10  # 1,078 images in ten near-equal classes → 10 of each
    assert torch.equal(small.val.images, full.val.images)  # validation does not depend on the limit
    assert torch.equal(small.test.images, full.test.images)
    # Every kept image is one of the full training set's, with its own label.
    flat_full = {bytes(img.flatten().tolist()): int(y) for img, y in zip(full.train.images, full.train.labels)}
    assert all(flat_full[bytes(img.flatten().tolist())] == int(y)
               for img, y in zip(small.train.images, small.train.labels))


def test_train_limit_is_exact_and_proportional_on_random_labels():
    rng = random.Random(0)
    for _ in range(200):
        k = rng.randint(2, 8)
        labels = torch.tensor([rng.choice(range(k)) if rng.random() < 0.7 else 0 for _ in range(rng.randint(k, 300))])
        split = Split(torch.zeros(len(labels), 1, 2, 2, dtype=torch.uint8), labels, k)
        limit = rng.randint(1, len(labels))
        kept = _limit_train(split, limit, seed=rng.randint(0, 99))
        assert len(kept) == limit
        counts, kept_counts = split.class_counts(), kept.class_counts()
        for n_class, n_kept in zip(counts, kept_counts):
            share = n_class * limit / len(labels)  # each class keeps its share, rounded down or up
            assert int(share) <= n_kept <= int(share) + (share != int(share))


def test_train_limit_is_seeded_and_nested():
    labels = torch.arange(500) % 5
    # Each image holds its own index in its pixels (two bytes over two channels), so the kept ones can be named.
    index_images = torch.stack([torch.arange(500) // 256, torch.arange(500) % 256], 1).to(torch.uint8)
    indexed = Split(index_images.view(500, 2, 1, 1), labels, 5)

    def ids(limit, seed):
        kept = _limit_train(indexed, limit, seed).images.view(-1, 2).long()
        return set((kept[:, 0] * 256 + kept[:, 1]).tolist())

    assert len(ids(50, 3)) == 50
    assert ids(50, 3) == ids(50, 3)
    assert ids(50, 3) != ids(50, 4)
    assert ids(50, 3) < ids(200, 3)  # a smaller limit keeps a subset of a larger one's images
    assert _limit_train(indexed, None, 3) is indexed


@pytest.mark.parametrize(("limit", "message"), [(0, "≥ 1"), (True, "whole number"), (2.5, "whole number"),
                                                 (10_000, "more than the 1,294 training images")])
def test_bad_train_limits_are_refused(limit, message):
    with pytest.raises(ValueError, match=message):
        datasets.load("digits", train_limit=limit)


# --------------------------------------------------------------------------- reading and drawing the results


def test_final_gap_takes_the_last_epoch_with_both_accuracies():
    epochs = [{"epoch": 1, "train_acc": 0.5, "val_acc": 0.4, "train_loss": 1.0, "val_loss": 1.2},
              {"epoch": 2, "train_acc": 0.9, "val_acc": 0.6, "val_loss": float("nan")},
              {"epoch": 3, "val_acc": 0.62}]  # validation ran, the training mean is not in yet
    gap = X.final_gap(epochs)
    assert (gap.epoch, gap.train_acc, gap.val_acc, gap.val_loss) == (2, 0.9, 0.6, None)
    assert gap.gap == pytest.approx(0.3)
    assert X.final_gap([]) is None and X.final_gap([{"epoch": 1, "val_acc": 0.5}]) is None


def test_overlay_figure_has_every_variant_in_one_colour_solid_train_dashed_validation():
    curves = [VariantCurves("dropout 0", [{"epoch": e, "train_acc": 0.5 + 0.1 * e, "val_acc": 0.5 + 0.05 * e,
                                           "train_loss": 1 / e, "val_loss": 1 / e + 0.1 * e} for e in (1, 2, 3)]),
              VariantCurves("dropout 0.5", [{"epoch": e, "train_acc": 0.4 + 0.1 * e, "val_acc": 0.45 + 0.08 * e,
                                             "train_loss": 1.2 / e, "val_loss": 1.1 / e} for e in (1, 2)])]
    fig = overfitting_figure(curves)
    lines = [t for t in fig.data if not t.name.endswith("gap")]
    assert len(lines) == 2 * 2 * 2  # variants × (train, validation) × (accuracy, loss)
    for variant in curves:
        mine = [t for t in lines if t.legendgroup == variant.label]
        assert len({t.line.color for t in mine}) == 1
        assert {(t.name.split(" · ")[1], t.line.dash) for t in mine} == {("training", "solid"),
                                                                         ("validation", "dash")}
    colours = {t.legendgroup: t.line.color for t in lines}
    assert colours["dropout 0"] != colours["dropout 0.5"]
    first_val_acc = next(t for t in lines if t.name == "dropout 0 · validation" and t.xaxis == "x")
    assert list(first_val_acc.x) == [1, 2, 3] and list(first_val_acc.y) == pytest.approx([0.55, 0.6, 0.65])
    texts = [a.text for a in fig.layout.annotations if a.text.startswith("gap")]
    assert texts == ["gap +15.0 pts", "gap -1.0 pts"]  # 0.8 − 0.65; 0.6 − 0.61
    brackets = [t for t in fig.data if t.name.endswith("gap")]
    assert [list(b.x) for b in brackets] == [[3, 3], [2, 2]]


@pytest.mark.parametrize("wanted", [[0.5, 0.5], [0.5, 0.51, 0.49, 0.5], [0.95, 0.97], [0.02, 0.01], [0.2, 0.8]])
def test_spread_keeps_labels_apart_inside_the_axis(wanted):
    placed = spread(wanted, 0.1, 0.0, 1.0)
    ordered = sorted(placed)
    assert all(b - a >= 0.1 - 1e-9 for a, b in pairwise(ordered))
    assert all(0.0 <= y <= 1.0 for y in placed)
    if wanted == [0.2, 0.8]:
        assert placed == wanted  # labels already apart stay beside their brackets


def test_gap_labels_of_gaps_ending_at_the_same_height_are_spaced_on_a_fixed_axis():
    curves = [VariantCurves(label, [{"epoch": 1, "train_acc": 0.6, "val_acc": 0.5},
                                    {"epoch": 2, "train_acc": top, "val_acc": bottom}])
              for label, top, bottom in (("a", 0.9, 0.7), ("b", 0.85, 0.75), ("c", 0.8, 0.8))]
    fig = overfitting_figure(curves)
    low, high = fig.layout.yaxis.range
    heights = sorted(a.ay for a in fig.layout.annotations if a.text.startswith("gap"))
    assert len(heights) == 3
    assert all(b - a >= LABEL_SPACING * (high - low) - 1e-9 for a, b in pairwise(heights))
    assert fig.layout.xaxis.range[1] > 2  # room right of the last epoch for the labels


def test_a_short_real_experiment_trains_both_variants_and_draws_them(tmp_path):
    exp = X.experiment("digits_mlp", "dropout", [0.0, 0.5], epochs=3)
    curves, summaries = [], []
    for config in exp.variants():
        state = LiveState(total_epochs=config.epochs)
        summaries.append(engine.train(config, root=tmp_path, state=state))
        curves.append(VariantCurves(config.name, state.snapshot()["epochs"]))
    assert all(s["status"] == "finished" and s["epochs_completed"] == 3 for s in summaries)
    gaps = [X.final_gap(c.epochs) for c in curves]
    assert all(g is not None and g.epoch == 3 and 0 < g.train_acc <= 1 and 0 < g.val_acc <= 1 for g in gaps)
    fig = overfitting_figure(curves)
    assert {t.legendgroup for t in fig.data} == {"dropout 0", "dropout 0.5"}
    assert all(len(t.x) == 3 for t in fig.data if not t.name.endswith("gap"))
    assert sum(a.text.startswith("gap") for a in fig.layout.annotations) == 2
