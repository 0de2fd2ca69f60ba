"""pool / pooling_steps against F.max_pool2d / F.avg_pool2d, global average pooling, and the invariance demo."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vision_core.figures import convolution as conv_figures
from vision_core.lessons.pooling import (
    add_noise,
    dots_example,
    global_average_pool,
    invariance,
    pool,
    pooling_steps,
    shift,
)


def torch_pool(x, kind, kernel, stride, padding):
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d  # avg: count_include_pad=True, PyTorch's default
    return fn(torch.tensor(x), kernel, stride, padding).numpy()


def random_settings(rng):
    k = int(rng.integers(1, 5))
    return {"kind": str(rng.choice(["max", "avg"])), "kernel": k, "stride": None if rng.random() < 0.3 else int(rng.integers(1, 4)),
                "padding": int(rng.integers(0, k // 2 + 1))}


def test_fifty_random_settings_match_torch_including_overlap_and_padding():
    rng = np.random.default_rng(0)
    kinds_seen, overlapping_seen = set(), False
    for _ in range(50):
        s = random_settings(rng)
        x = rng.normal(size=(int(rng.integers(1, 4)), int(rng.integers(s["kernel"], 10)), int(rng.integers(s["kernel"], 10))))
        expected = torch_pool(x, s["kind"], s["kernel"], s["stride"] or s["kernel"], s["padding"])
        np.testing.assert_allclose(pool(x, **s), expected, atol=1e-12, err_msg=str(s))
        steps = pooling_steps(x, **s)
        kinds_seen.add(s["kind"])
        overlapping_seen |= steps.overlapping
        for i in range(len(steps)):
            step = steps[i]
            assert step.result == pytest.approx(expected[step.out_index], abs=1e-12)
            if step.argmax is not None:
                assert step.window[step.argmax] == step.result and not step.is_padding[step.argmax]
            else:
                assert step.window.sum() / step.divisor == pytest.approx(step.result)
    assert kinds_seen == {"max", "avg"} and overlapping_seen


def test_a_2d_input_gives_a_2d_output_and_stride_defaults_to_the_kernel():
    x = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(pool(x, "max"), [[5, 7], [13, 15]])
    np.testing.assert_array_equal(pool(x, "avg"), [[2.5, 4.5], [10.5, 12.5]])
    assert not pooling_steps(x, "max").overlapping and pooling_steps(x, "max", 3, 1).overlapping


def test_max_padding_never_wins_and_avg_padding_counts_in_the_divisor():
    x = -np.ones((2, 2))  # every real value is below the zero an avg pad would use
    step = pooling_steps(x, "max", 2, 1, 1)[0]
    assert step.result == -1 and step.is_padding.sum() == 3 and np.isneginf(step.window[step.is_padding]).all()
    step = pooling_steps(x, "avg", 2, 1, 1)[0]
    assert step.result == pytest.approx(-0.25) and step.divisor == 4


@pytest.mark.parametrize("kwargs, match", [
    ({"kind": "median"}, "kind must be one of"),
    ({"kernel": 2, "padding": 2}, r"padding 2 is more than half the kernel size 2"),
    ({"kernel": 9}, r"9-cell window does not fit"),
    ({"kernel": 2, "stride": 0}, r"stride must be a whole number ≥ 1, got 0"),
])
def test_impossible_pooling_settings_say_why(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pool(np.ones((4, 4)), **kwargs)


def test_global_average_pool_matches_adaptive_avg_pool():
    x = np.random.default_rng(1).normal(size=(3, 5, 6))
    np.testing.assert_allclose(global_average_pool(x), F.adaptive_avg_pool2d(torch.tensor(x), 1).numpy().ravel())
    assert global_average_pool(np.ones((2, 2))) == 1.0


def test_shift_moves_content_and_repeats_the_border():
    x = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(shift(x, 0, 1), [[0, 0, 1], [3, 3, 4], [6, 6, 7]])
    np.testing.assert_array_equal(shift(x, 1, 0), [[0, 1, 2], [0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(shift(x, -1, 0), [[3, 4, 5], [6, 7, 8], [6, 7, 8]])
    with pytest.raises(ValueError, match="out of view"):
        shift(x, 0, 3)


def test_max_pooling_ignores_a_change_that_does_not_touch_the_maximum():
    x = np.array([[9.0, 1, 0, 8], [2, 3, 1, 1], [0, 0, 7, 1], [1, 1, 0, 0]])
    nudged = x.copy()
    nudged[1, 1] += 0.5  # not the max of its window
    result = invariance(x, nudged, "max")
    assert result.input_changed.sum() == 1 and result.changed.sum() == 0
    assert invariance(x, nudged, "avg").changed.sum() == 1  # the mean feels it


def test_add_noise_touches_about_the_asked_share_of_pixels_and_is_seeded():
    x = np.zeros((40, 40))
    noisy = add_noise(x, 0.1, 0.25, seed=3)
    assert 0.18 < (noisy != 0).mean() < 0.32 and np.abs(noisy).max() <= 0.1
    np.testing.assert_array_equal(noisy, add_noise(x, 0.1, 0.25, seed=3))


def test_pooling_figure_marks_the_winner():
    x = np.array([[1.0, 5], [2, 3]])
    steps = pooling_steps(x, "max", 2, 1, 1)
    step = steps[steps.index(0, 1, 1)]  # window over padded rows 1..2, cols 1..2 = the whole input
    fig = conv_figures.pooling_input_figure(steps.padded[0], steps.padding, steps.input_shape,
                                            step.padded_coords, step.argmax)
    winners = [s for s in fig.layout.shapes if s.line.color == conv_figures.STYLE["winner"]]
    assert len(winners) == 1 and (winners[0].y0 + 0.5, winners[0].x0 + 0.5) == (1, 2)
    assert fig.data[0].text[0][0] == "−∞"


@pytest.mark.parametrize("shape", [(6, 6), (7, 9), (16, 16), (5, 4)])
@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 3), (3, 4), (2, 3), (4, 4)])
def test_dots_example_is_invariant_to_a_one_pixel_shift_under_max_pooling(shape, kernel, stride):
    dots = dots_example(shape, kernel, stride, seed=len(shape) + kernel)
    assert dots.shape == shape
    winners = pool(dots, "max", kernel, stride)
    assert winners.min() >= 0.6 and np.sort(dots.ravel())[-winners.size - 1] <= 0.3  # one dot per window
    for down, right in ((0, 1), (1, 0)):
        result = invariance(dots, shift(dots, down, right), "max", kernel, stride)
        assert result.input_changed.any() and not result.changed.any()


def test_dots_example_checks_its_settings_and_is_not_magic_with_a_one_pixel_window():
    with pytest.raises(ValueError, match="does not fit"):
        dots_example((3, 3), 5)
    dots = dots_example((6, 6), 1)
    assert invariance(dots, shift(dots), "max", 1).changed.any()  # every pixel is its own window
