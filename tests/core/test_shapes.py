"""Shape explorer core: the output-size formula against torch, the seeds' walk-throughs, receptive fields,
where the parameters live, and mismatches reported (not raised) with the rows that got through."""

from __future__ import annotations

import random
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vision_core.lessons import shapes
from vision_core.models import zoo as models


def one_layer(layer: nn.Module) -> nn.Sequential:
    return nn.Sequential(OrderedDict(layer=layer))


@pytest.mark.parametrize("layer,expected", [
    (nn.Conv2d(3, 10, 3), (10, 62, 62)),  # the seed's walk-throughs on a 3×64×64 image
    (nn.Conv2d(3, 10, 5, stride=2), (10, 30, 30)),
])
def test_the_seeds_conv_walk_throughs(layer, expected):
    report = shapes.explore(one_layer(layer), (3, 64, 64))
    assert report.ok and report.rows[0].output_shape == expected == report.output_shape
    assert layer(torch.zeros(1, 3, 64, 64)).shape[1:] == expected


def test_the_seeds_pooling_walk_through():
    assert shapes.output_size(62, 2, stride=2) == 31
    report = shapes.explore(one_layer(nn.MaxPool2d(2)), (10, 62, 62))
    assert report.rows[0].output_shape == (10, 31, 31)
    assert report.rows[0].formula == "⌊(62 + 2·0 − 1·(2−1) − 1)/2⌋ + 1 = 31"


def test_explain_output_size_substitutes_the_numbers():
    assert shapes.explain_output_size(28, 5) == "⌊(28 + 2·0 − 1·(5−1) − 1)/1⌋ + 1 = 24"
    assert shapes.explain_output_size(28, 5, padding=2) == "⌊(28 + 2·2 − 1·(5−1) − 1)/1⌋ + 1 = 28"
    assert shapes.explain_output_size(9, 3, stride=2, dilation=2) == "⌊(9 + 2·0 − 2·(3−1) − 1)/2⌋ + 1 = 3"


def test_output_size_matches_torch_over_random_settings():
    rng = random.Random(0)
    checked = refused = 0
    for _ in range(300):
        n, k, s, d = rng.randint(1, 20), rng.randint(1, 7), rng.randint(1, 4), rng.randint(1, 3)
        p = rng.randint(0, 4)
        x, w = torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k)
        try:
            expected = F.conv2d(x, w, stride=s, padding=p, dilation=d).shape[-1]
        except RuntimeError:
            with pytest.raises(ValueError, match="not even one output"):
                shapes.output_size(n, k, s, p, d)
            refused += 1
            continue
        assert shapes.output_size(n, k, s, p, d) == expected, (n, k, s, p, d)
        if p <= k // 2:  # PyTorch pools only with padding ≤ half the window
            assert F.max_pool2d(x, k, s, p, d).shape[-1] == expected
        checked += 1
    assert checked > 100 and refused > 10  # both branches really ran


@pytest.mark.parametrize("args,error,match", [
    ((2, 5), ValueError, r"spans 5 pixels but the padded input has only 2 \+ 2·0 = 2.*padding ≥ 2"),
    ((4, 3, 1, 0, 3), ValueError, "with dilation 3 spans 7 pixels"),
    ((0, 3), ValueError, "input size n must be ≥ 1, got 0"),
    ((8, 3, 0), ValueError, "stride must be ≥ 1, got 0"),
    ((8, 3, 1, -1), ValueError, "padding must be ≥ 0, got -1"),
    ((8, 2.5), TypeError, "kernel must be an integer, got 2.5"),
    ((8, True), TypeError, "kernel must be an integer, got True"),
])
def test_impossible_settings_say_why(args, error, match):
    with pytest.raises(error, match=match):
        shapes.output_size(*args)


def test_lenet_receptive_fields_by_hand():
    rows = {r.name: r for r in shapes.explore("lenet", (1, 32, 32)).rows}
    # r ← r + (k − 1)·d·j, j ← j·s from r = j = 1:
    # conv1 (k5) 1 + 4·1 = 5, j 1; pool1 (k2 s2) 5 + 1·1 = 6, j 2; conv2 (k5) 6 + 4·2 = 14, j 2;
    # pool2 (k2 s2) 14 + 1·2 = 16, j 4. ReLUs change nothing; from flatten on: the whole input.
    assert [(rows[n].receptive_field, rows[n].jump) for n in ("conv1", "pool1", "relu1", "conv2", "pool2", "relu2")] \
        == [(5, 1), (6, 2), (6, 2), (14, 2), (16, 4), (16, 4)]
    assert rows["pool1"].receptive_text == "6×6 px (jump 2)"
    assert all(rows[n].receptive_text == "whole input" for n in ("flatten", "fc1", "fc3"))


def test_dilated_and_strided_receptive_fields():
    model = nn.Sequential(OrderedDict(a=nn.Conv2d(1, 1, 3, dilation=2), b=nn.Conv2d(1, 1, 3, stride=2),
                                      c=nn.Conv2d(1, 1, 3)))
    rows = shapes.explore(model, (1, 32, 32)).rows
    # a: 1 + 2·2·1 = 5, j 1; b: 5 + 2·1 = 7, j 2; c: 7 + 2·2 = 11, j 2
    assert [(r.receptive_field, r.jump) for r in rows] == [(5, 1), (7, 2), (11, 2)]
    assert [r.output_shape[1] for r in rows] == [28, 13, 11]


def test_a_global_pool_written_as_a_plain_pool_sees_the_whole_input():
    # The smile CNN ends in AvgPool2d(8) on 8×8 maps of a 64×64 image: one output pixel averages everything.
    rows = {r.name: r for r in shapes.explore("smile_cnn", (3, 64, 64), num_classes=2).rows}
    assert rows["avgpool"].receptive_text == "whole input"
    assert rows["conv4"].receptive_text == "38×38 px (jump 8)"  # still a window before the pool
    assert models.summary(models.build("smile_cnn", in_channels=3, num_classes=2, image_size=64),
                          (3, 64, 64))[-3].receptive_field is None  # the Train page's summary says the same
    # A pool that leaves one pixel but skips part of its map does not see the whole input: AvgPool2d(5, stride=4)
    # on 8×8 averages rows 0..4 only. Nor does a dilated window whose taps jump over pixels.
    skipping = shapes.explore(one_layer(nn.AvgPool2d(5, stride=4)), (1, 8, 8)).rows[0]
    assert skipping.output_shape == (1, 1, 1) and skipping.receptive_text == "5×5 px (jump 4)"
    assert shapes.explore(one_layer(nn.AvgPool2d(8)), (1, 8, 8)).rows[0].receptive_text == "whole input"
    assert shapes.explore(one_layer(nn.Conv2d(1, 1, 3, dilation=4)), (1, 9, 9)).rows[0].receptive_field == 9


def _random_window_stack(rng: random.Random) -> nn.Sequential:
    layers = []
    for _ in range(rng.randint(1, 4)):
        k, s = rng.randint(1, 5), rng.randint(1, 3)
        p, d = rng.randint(0, k // 2), rng.randint(1, 2)
        if rng.random() < 0.5:
            conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False)
            nn.init.ones_(conv.weight)  # positive weights: a pixel influences an output iff it is in its window
            layers.append(conv)
        else:
            layers.append(nn.AvgPool2d(k, stride=s, padding=p))
    return nn.Sequential(*layers)


def test_whole_input_agrees_with_torch_on_random_window_stacks():
    """'Every output pixel sees every input pixel' against what torch computes, layer by layer. The stacks are
    linear with positive weights, so output pixel o sees input pixel x iff the image that is 1 at x alone
    gives o > 0: one batch of such images measures who sees what."""
    rng = random.Random(0)
    checked = {True: 0, False: 0}
    while min(checked.values()) < 20:
        model = _random_window_stack(rng)
        size = (rng.randint(3, 9), rng.randint(3, 9))
        outputs = []
        out = torch.eye(size[0] * size[1]).view(-1, 1, *size)  # one image per input pixel
        with torch.no_grad():
            try:
                for layer in model:
                    out = layer(out)
                    outputs.append(out)
            except RuntimeError:  # the window no longer fits the map
                continue
        if min(outputs[-1].shape[2:]) < 1:
            continue
        flags = models.sees_whole_input(list(model), size, [o.shape[1:] for o in outputs])
        for out, flag in zip(outputs, flags):
            assert flag == bool((out > 0).all()), (model, size)
            checked[flag] += 1


def test_params_and_shares_of_a_small_network():
    model = nn.Sequential(nn.Conv2d(3, 10, 3), nn.ReLU(), nn.Flatten(), nn.Linear(10 * 62 * 62, 2))
    report = shapes.explore(model, (3, 64, 64))
    conv_params, fc_params = 3 * 10 * 3 * 3 + 10, 10 * 62 * 62 * 2 + 2
    assert [r.params for r in report.rows] == [conv_params, 0, 0, fc_params]
    assert report.total_params == conv_params + fc_params
    assert report.rows[0].share == pytest.approx(100 * conv_params / (conv_params + fc_params))
    assert [r.name for r in report.rows] == ["0", "1", "2", "3"]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_same_padding_and_nested_blocks():
    model = nn.Sequential(OrderedDict(
        same=nn.Conv2d(1, 2, 4, padding="same"),  # even kernel: PyTorch pads 1 before, 2 after
        block=nn.Sequential(nn.Conv2d(2, 2, 3), nn.ReLU(), nn.MaxPool2d(2))))
    rows = shapes.explore(model, (1, 10, 10)).rows
    assert rows[0].output_shape == (2, 10, 10) and rows[0].formula.endswith("= 10")
    assert rows[1].output_shape == (2, 4, 4)  # 10 → 8 → 4
    assert rows[1].formula == ("⌊(10 + 2·0 − 1·(3−1) − 1)/1⌋ + 1 = 8; then "
                               "⌊(8 + 2·0 − 1·(2−1) − 1)/2⌋ + 1 = 4")
    # same: 1 + 3 = 4; block: conv 4 + 2 = 6, pool 6 + 1 = 7, jump 2
    assert [(r.receptive_field, r.jump) for r in rows] == [(4, 1), (7, 2)]


def test_rows_carry_shapes_parameters_and_formulas():
    report = shapes.explore("lenet", (1, 32, 32))
    rows = {r.name: r for r in report.rows}
    assert rows["conv1"].input_shape == (1, 32, 32) and rows["conv1"].output_shape == (6, 28, 28)
    assert rows["conv1"].formula == "⌊(32 + 2·0 − 1·(5−1) − 1)/1⌋ + 1 = 28"
    assert rows["conv2"].formula == "⌊(14 + 2·0 − 1·(5−1) − 1)/1⌋ + 1 = 10"
    assert rows["relu1"].formula is None and rows["fc1"].formula is None
    assert rows["fc1"].input_shape == (400,) and rows["fc1"].params == 48_120
    assert report.total_params == 61_706 == sum(r.params for r in report.rows)
    assert sum(r.share for r in report.rows) == pytest.approx(100)
    assert report.output_shape == (10,)


def test_resnet_blocks_are_one_row_with_both_formulas():
    rows = {r.name: r for r in shapes.explore("resnet", (3, 32, 32)).rows}
    assert rows["block2_1"].output_shape == (32, 16, 16)
    assert rows["block2_1"].formula.endswith("= 16; then ⌊(16 + 2·1 − 1·(3−1) − 1)/1⌋ + 1 = 16")
    assert rows["avgpool"].receptive_field is None


def test_cats_dogs_first_linear_holds_96_percent():
    report = shapes.explore("cats_dogs_cnn", (3, 64, 64), num_classes=2)
    name, share = shapes.largest_layer(report)
    assert name == "fc1"
    assert share == pytest.approx(100 * 6_145_000 / 6_410_684)  # 95.86%
    assert round(share) == 96


def test_lenet_28_strict_mismatch_is_reported_not_raised():
    report = shapes.explore("lenet", (1, 28, 28), strict_input=True)
    assert not report.ok and report.output_shape is None
    assert report.error.startswith("fc1: Linear(400 → 120) expects 400 input features but got 256")
    assert "32×32" in report.error and "padding=2" in report.error
    assert report.failing_layer == "fc1"
    assert [r.name for r in report.rows][-1] == "flatten" and report.rows[-1].output_shape == (256,)
    assert report.total_params == 61_706  # the strict model was built: its shares are of the whole model


def test_lenet_28_without_strict_just_works():
    report = shapes.explore("lenet", (1, 28, 28))
    assert report.ok and {r.name: r for r in report.rows}["flatten"].output_shape == (256,)


def test_too_small_input_keeps_the_rows_that_got_through():
    report = shapes.explore("tinyvgg", (1, 2, 2))
    assert report.failing_layer == "pool2" and report.error.startswith("pool2: MaxPool2d(k=2, s=2)")
    assert "at least 4×4" in report.error
    assert [r.name for r in report.rows] == ["conv1", "relu1", "conv2", "relu2", "pool1", "conv3", "relu3",
                                             "conv4", "relu4"]
    assert report.rows[-1].output_shape == (10, 1, 1)
    assert shapes.largest_layer(shapes.explore(one_layer(nn.Conv2d(1, 1, 5)), (1, 2, 2))) is None  # no rows
    assert shapes.largest_layer(shapes.explore(one_layer(nn.ReLU()), (1, 4, 4))) is None  # no parameters


def test_lenet_too_small_fails_at_conv2_with_the_smallest_size():
    report = shapes.explore("lenet", (1, 8, 8))  # conv1 → 4×4, pool1 → 2×2: conv2's 5×5 kernel does not fit
    assert report.failing_layer == "conv2" and "at least 16×16" in report.error
    assert [r.output_shape for r in report.rows] == [(6, 4, 4), (6, 2, 2), (6, 2, 2)]
    assert report.total_params == 156 + 2_416  # the conv part that was built; no head yet


def test_a_module_is_explored_as_it_is():
    model = models.build("lenet", in_channels=1, num_classes=10, image_size=32)
    report = shapes.explore(model, (1, 32, 32))
    assert report.model == "Sequential" and report.total_params == models.total_params(model)
    assert shapes.explore(model, (1, 28, 28)).failing_layer == "fc1"


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="known models"):
        shapes.explore("alexnet", (3, 32, 32))
    with pytest.raises(TypeError, match="only apply to zoo names"):
        shapes.explore(one_layer(nn.ReLU()), (1, 4, 4), strict_input=True)
    with pytest.raises(ValueError, match=r"input_shape is \(C, H, W\)"):
        shapes.explore("lenet", (32, 32))
    with pytest.raises(ValueError, match="height must be ≥ 1, got 0"):
        shapes.explore("lenet", (1, 0, 32))
    with pytest.raises(TypeError, match="lenet does not take"):
        shapes.explore("lenet", (1, 32, 32), hidden_units=4)


def test_a_huge_network_is_explored_without_allocating_it():
    # A student's 512-channel network with 4,096 hidden units on a 16×1024×1024 input: about 540 million
    # parameters and gigabytes of activations, if they were built. The explorer sizes them on the meta device.
    import subprocess
    import sys

    code = """
import resource
from vision_core.lessons import shapes
shapes.explore("lenet", (1, 32, 32))  # imports and allocator warm-up
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = shapes.explore("custom", (16, 1024, 1024), blocks=2, convs_per_block=1, channels=512, kernel_size=3,
                        padding=1, stride=1, linear_layers=1, hidden_units=4096)
grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(report.total_params, grown_mb)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    params, grown_mb = out.stdout.split()
    assert int(params) > 500_000_000  # the real count, as the page shows it
    assert float(grown_mb) < 200, f"exploring grew the process by {grown_mb} MB"
