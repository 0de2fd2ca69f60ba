"""Shape explorer core: walk-throughs the tutorials do by hand, receptive fields, parameter shares, errors."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vision_core import models
from vision_core.shapes import explore, largest_layer


def test_seed_walk_throughs_match_torch():
    x = torch.zeros(1, 3, 64, 64)
    conv3 = nn.Conv2d(3, 10, 3)
    conv5 = nn.Conv2d(3, 10, 5, stride=2)
    report = explore(nn.Sequential(conv3, nn.MaxPool2d(2)), (3, 64, 64))
    assert [r.output_shape for r in report.rows] == [(10, 62, 62), (10, 31, 31)]
    assert report.rows[0].output_shape == tuple(F.conv2d(x, conv3.weight, conv3.bias).shape[1:])
    assert report.rows[1].output_shape == tuple(F.max_pool2d(conv3(x), 2).shape[1:])
    strided = explore(nn.Sequential(conv5), (3, 64, 64))
    assert strided.rows[0].output_shape == (10, 30, 30)
    assert strided.rows[0].formula.endswith("= 30") and "64" in strided.rows[0].formula
    assert report.rows[1].formula.endswith("= 31") and "62" in report.rows[1].formula


def test_params_shares_and_total_of_a_conv():
    conv = nn.Conv2d(3, 10, 3)
    report = explore(nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(10 * 62 * 62, 2)), (3, 64, 64))
    assert report.rows[0].params == 3 * 10 * 3 * 3 + 10
    assert report.total_params == 280 + (10 * 62 * 62 * 2 + 2)
    assert sum(r.share for r in report.rows) == pytest.approx(100.0)
    assert report.error is None


def test_lenet_receptive_fields_by_hand():
    # conv1 k5: 1 + 4 = 5; pool1 k2 s2: 5 + 1·1 = 6, jump 2; conv2 k5: 6 + 4·2 = 14; pool2: 14 + 1·2 = 16, jump 4
    rows = {r.name: r for r in explore("lenet", (1, 32, 32)).rows}
    assert [(rows[n].receptive_field, rows[n].jump) for n in ("conv1", "pool1", "conv2", "pool2")] == [
        (5, 1), (6, 2), (14, 2), (16, 4)]
    assert rows["conv1"].receptive_text == "5×5 px (jump 1)"
    assert rows["fc1"].receptive_field is None and rows["fc1"].receptive_text == "whole input"
    assert rows["flatten"].receptive_text == "whole input"


def test_lenet_on_its_recipe_matches_the_tutorial():
    report = explore("lenet", (1, 32, 32))
    assert report.total_params == 61_706
    assert [r.output_shape for r in report.rows if r.name in ("conv1", "pool2", "flatten")] == [
        (6, 28, 28), (16, 5, 5), (400,)]


def test_cats_dogs_parameters_live_in_fc1():
    report = explore("cats_dogs_cnn", (3, 64, 64))
    name, share = largest_layer(report)
    assert name == "fc1"
    assert share == pytest.approx(96, abs=1.5)
    assert share == pytest.approx(100 * next(r.params for r in report.rows if r.name == "fc1")
                                  / report.total_params)


def test_lenet_strict_on_28_keeps_the_traced_rows_and_explains():
    report = explore("lenet", (1, 28, 28), strict_input=True)
    assert report.error is not None and "400" in report.error and "256" in report.error
    assert report.failing_layer == "fc1"
    assert [r.name for r in report.rows][-1] == "flatten"
    assert report.rows[-1].output_shape == (256,)
    assert report.total_params == models.total_params(
        models.build("lenet", in_channels=1, num_classes=10, image_size=28, strict_input=True))


def test_lenet_on_28_without_strict_fits():
    report = explore("lenet", (1, 28, 28))
    assert report.error is None
    assert next(r for r in report.rows if r.name == "flatten").output_shape == (256,)


def test_an_input_too_small_is_a_report_not_an_exception():
    report = explore("lenet", (1, 8, 8))  # conv1 → 4×4, pool1 → 2×2: conv2's 5×5 kernel does not fit
    assert report.failing_layer == "conv2" and "16×16" in report.error
    assert report.rows and report.rows[0].output_shape == (6, 4, 4)
    assert "conv2" not in [r.name for r in report.rows]
    assert largest_layer(explore(nn.Sequential(nn.ReLU()), (1, 4, 4))) is None


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        explore("lenet", (32, 32))
    with pytest.raises(TypeError, match="only apply to zoo names"):
        explore(nn.Sequential(nn.ReLU()), (1, 4, 4), strict_input=True)
    with pytest.raises(TypeError, match="does not take"):
        explore("lenet", (1, 32, 32), hidden_units=3)
