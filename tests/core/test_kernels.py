"""kernels: what the presets claim about true convolution (kernel flipped) is what the maths gives."""

from __future__ import annotations

import numpy as np
import pytest

from vision_core.lessons import kernels
from vision_core.lessons.convolution import convolve


def flip_kind(kernel: np.ndarray) -> str:
    flipped = kernel[::-1, ::-1]
    if np.allclose(flipped, kernel):
        return "same"
    if np.allclose(flipped, -kernel):
        return "negated"
    return "other"


@pytest.mark.parametrize("name", sorted(kernels.PRESETS))
def test_each_preset_says_what_true_convolution_does_to_it(name):
    kind = flip_kind(kernels.kernel_preset(name))
    explanation = kernels.PRESETS[name].explanation
    # "flips its sign" is said of exactly the kernels that flipping negates; every asymmetric one says what
    # true convolution does.
    assert ("flips its sign" in explanation) == (kind == "negated")
    if kind != "same":
        assert "True convolution" in explanation


def test_flipped_emboss_keeps_its_centre_so_true_convolution_is_twice_the_image_minus_cross_correlation():
    emboss = kernels.kernel_preset("emboss")
    assert flip_kind(emboss) == "other"  # not negated: the centre +1 stays
    identity = kernels.kernel_preset("identity")
    np.testing.assert_array_equal(emboss[::-1, ::-1], 2 * identity - emboss)
    image = np.random.default_rng(0).random((7, 9))
    cross = convolve(image, emboss, padding="same")
    true = convolve(image, emboss, padding="same", flip=True)
    np.testing.assert_allclose(true, 2 * image - cross)
    assert not np.allclose(true, -cross)
    assert "2·image − cross-correlation" in kernels.__doc__
    assert "opposite corner" in kernels.PRESETS["emboss"].explanation


def test_sobel_is_its_own_negative_when_flipped_and_the_symmetric_presets_are_unchanged():
    assert {name for name in kernels.PRESETS if flip_kind(kernels.kernel_preset(name)) == "negated"} == {
        "sobel x", "sobel y"}
    for name, preset in kernels.PRESETS.items():
        if name not in ("sobel x", "sobel y", "emboss"):
            assert all(flip_kind(kernels.kernel_preset(name, size)) == "same" for size in preset.sizes), name
