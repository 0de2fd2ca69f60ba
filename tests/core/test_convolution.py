"""convolve / convolution_steps against torch.nn.functional.conv1d/conv2d, the textbook's worked examples,
the output-size formula, kernel presets and the "show me the PyTorch code" snippet."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vision_core import conv_figures, kernels
from vision_core.convolution import (
    convolution_steps,
    convolve,
    output_size,
    output_size_formula,
    pytorch_code,
)


def torch_conv(x, w, b, stride, padding, dilation, flip, dims):
    """The reference: F.conv1d/conv2d on (1, C, ...) with weight (O, C, ...); flip = torch.flip the kernel."""
    xt, wt, bt = torch.tensor(x)[None], torch.tensor(w), torch.tensor(b)
    spatial = tuple(range(2, 2 + dims))
    if flip:
        wt = torch.flip(wt, dims=spatial)
    if padding == "full":
        k = wt.shape[2:]
        d = (dilation,) * dims if isinstance(dilation, int) else dilation
        padding = tuple(di * (ki - 1) for di, ki in zip(d, k))
    conv = F.conv1d if dims == 1 else F.conv2d
    return conv(xt, wt, bt, stride=stride, padding=padding, dilation=dilation)[0].numpy()


def random_config(rng: np.random.Generator, dims: int) -> dict:
    channels, outs = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    k = tuple(int(v) for v in rng.integers(1, 5, dims))
    dilation = int(rng.integers(1, 3))
    mode = rng.choice(["int", "tuple", "valid", "same", "full"])
    stride = 1 if mode == "same" else int(rng.integers(1, 4))
    padding = {"int": int(rng.integers(0, 3)), "tuple": tuple(int(v) for v in rng.integers(0, 3, dims))}.get(
        str(mode), str(mode))
    span = [dilation * (kk - 1) + 1 for kk in k]
    size = tuple(int(rng.integers(s, s + 9)) for s in span)  # always at least one window
    return {"x": rng.normal(size=(channels, *size)), "w": rng.normal(size=(outs, channels, *k)),
                "b": rng.normal(size=outs), "stride": stride if dims == 1 or rng.random() < 0.5 else
                (stride, int(rng.integers(1, 4))) if mode != "same" else 1,
                "padding": padding if not (dims == 1 and isinstance(padding, tuple)) else padding[0],
                "dilation": dilation, "flip": bool(rng.random() < 0.5)}


@pytest.mark.parametrize("dims", [1, 2])
def test_fifty_random_configurations_match_torch(dims):
    rng = np.random.default_rng(dims)
    for _ in range(50):
        c = random_config(rng, dims)
        expected = torch_conv(c["x"], c["w"], c["b"], c["stride"], c["padding"], c["dilation"], c["flip"], dims)
        got = convolve(c["x"], c["w"], c["stride"], c["padding"], c["dilation"], c["flip"], c["b"], dims=dims)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10, err_msg=str({k: v for k, v in c.items()
                                                                                        if k not in "xwb"}))


@pytest.mark.parametrize("dims", [1, 2])
def test_every_step_sums_to_its_output_cell(dims):
    rng = np.random.default_rng(10 + dims)
    for _ in range(20):
        c = random_config(rng, dims)
        steps = convolution_steps(c["x"], c["w"], c["stride"], c["padding"], c["dilation"], c["flip"], c["b"],
                                  dims=dims)
        expected = torch_conv(c["x"], c["w"], c["b"], c["stride"], c["padding"], c["dilation"], c["flip"], dims)
        assert len(steps) == expected.size
        for i in range(len(steps)):
            step = steps[i]
            assert step.result == pytest.approx(expected[step.out_index], abs=1e-10)
            assert step.total + step.bias == pytest.approx(step.result, abs=1e-10)
            np.testing.assert_allclose(step.products, step.window * step.kernel)
            np.testing.assert_allclose(step.channel_sums.sum(), step.total)
            # the window really is the padded input at the stated coordinates
            np.testing.assert_array_equal(step.window, steps.padded[(slice(None), *np.ix_(*step.padded_coords))])
            assert np.all(step.window[:, step.is_padding] == 0)


def test_two_axis_inputs_are_images_unless_the_kernel_says_signal():
    x = np.random.default_rng(11).normal(size=(2, 9))
    image_kernel, signal_kernel = np.ones((1, 2, 2)), np.ones((3, 2, 4))
    assert convolve(x, image_kernel).shape == (1, 8)  # (H, W) with a (C=1, kh, kw) kernel: an image
    assert convolve(x, signal_kernel).shape == (3, 6)  # (C, L) with (O, C, k): a signal
    np.testing.assert_allclose(convolve(x, np.ones((2, 4)), dims=1),
                               F.conv1d(torch.tensor(x)[None], torch.ones(1, 2, 4, dtype=torch.float64))[0, 0])


def test_steps_walk_the_output_row_major_and_expose_coordinates():
    x, w = np.arange(25.0).reshape(5, 5), np.ones((3, 3))
    steps = convolution_steps(x, w, stride=2, padding=1)
    assert steps.output_shape == (3, 3) and len(steps) == 9
    assert [s.position for s in (steps[0], steps[1], steps[3])] == [(0, 0), (0, 1), (1, 0)]
    step = steps[1]  # output (0, 1): padded rows 0..2, columns 2..4
    assert step.padded_coords[0].tolist() == [0, 1, 2] and step.padded_coords[1].tolist() == [2, 3, 4]
    assert step.input_coords[0].tolist() == [-1, 0, 1] and step.input_coords[1].tolist() == [1, 2, 3]
    assert step.is_padding[0].all() and not step.is_padding[1:].any()
    assert steps.index(0, 1, 0) == 3
    with pytest.raises(IndexError, match="9 steps"):
        steps[9]


def test_textbook_1d_example_true_convolution():
    example = kernels.WORKED_EXAMPLES["1-D"]
    got = convolve(example.x, example.kernel, stride=1, padding=2, flip=True)
    np.testing.assert_array_equal(got, [5, 14, 16, 26, 24, 34, 19, 22])


def test_textbook_2d_example_true_convolution():
    example = kernels.WORKED_EXAMPLES["2-D"]
    expected = [[11, 25, 32, 13], [19, 25, 24, 13], [13, 28, 25, 17], [11, 17, 14, 9]]
    np.testing.assert_array_equal(convolve(example.x, example.kernel, padding=1, flip=True), expected)
    # and not the cross-correlation: the kernel is not symmetric
    assert not np.array_equal(convolve(example.x, example.kernel, padding=1), expected)


def test_strided_output_is_not_the_textbooks_buggy_loop():
    # the book's loop divides by the stride and also steps by it; the right answer samples every s-th cell
    x, w = np.arange(36.0).reshape(6, 6), np.arange(9.0).reshape(3, 3)
    full = convolve(x, w, padding=1)
    np.testing.assert_allclose(convolve(x, w, stride=2, padding=1), full[::2, ::2])
    np.testing.assert_allclose(convolve(x, w, stride=3, padding=1), full[::3, ::3])


def test_flip_equals_conv2d_with_flipped_kernel_and_tensors_are_accepted():
    x, w = torch.randn(3, 7, 6, dtype=torch.float64), torch.randn(2, 3, 3, 2, dtype=torch.float64)
    expected = F.conv2d(x[None], torch.flip(w, dims=(2, 3)), padding=1)[0].numpy()
    np.testing.assert_allclose(convolve(x, w, padding=1, flip=True), expected, atol=1e-12)


def test_same_padding_keeps_the_size_even_for_even_kernels_like_pytorch():
    x, w = np.random.default_rng(0).normal(size=(2, 7, 8)), np.random.default_rng(1).normal(size=(1, 2, 4, 2))
    for dilation in (1, 2):
        got = convolve(x, w, padding="same", dilation=dilation)
        ref = F.conv2d(torch.tensor(x)[None], torch.tensor(w), padding="same", dilation=dilation)[0].numpy()
        assert got.shape == (1, 7, 8)
        np.testing.assert_allclose(got, ref, atol=1e-12)


def test_single_kernel_multi_channel_gives_one_map_and_channel_sums():
    x, w = np.random.default_rng(2).normal(size=(3, 5, 5)), np.random.default_rng(3).normal(size=(3, 3, 3))
    out = convolve(x, w, bias=0.5)
    assert out.shape == (3, 3)
    step = convolution_steps(x, w, bias=0.5)[4]
    for c in range(3):
        assert step.channel_sums[c] == pytest.approx(convolve(x[c], w[c])[1, 1])
    assert step.result == pytest.approx(out[1, 1])


def test_sobel_x_changes_sign_under_true_convolution():
    image = np.random.default_rng(4).random((9, 9))
    sobel = kernels.kernel_preset("sobel x")
    cross, true = convolve(image, sobel, padding=1), convolve(image, sobel, padding=1, flip=True)
    np.testing.assert_allclose(true, -cross)
    assert np.abs(cross).max() > 0
    blur = kernels.kernel_preset("gaussian", 5)  # symmetric: both agree
    np.testing.assert_allclose(convolve(image, blur, padding=2), convolve(image, blur, padding=2, flip=True))


def test_sobel_x_is_positive_where_the_image_gets_brighter_to_the_right():
    ramp = np.tile(np.arange(6.0), (5, 1))
    assert np.all(convolve(ramp, kernels.kernel_preset("sobel x")) > 0)


@pytest.mark.parametrize("name", sorted(kernels.PRESETS))
def test_every_preset_builds_in_every_size(name):
    preset = kernels.PRESETS[name]
    assert preset.explanation
    for size in preset.sizes:
        kernel = kernels.kernel_preset(name, size)
        assert kernel.shape == (size, size)
    if name == "identity":
        image = np.random.default_rng(5).random((6, 6))
        np.testing.assert_allclose(convolve(image, kernels.kernel_preset(name), padding="same"), image)


def test_preset_errors_name_the_choices():
    with pytest.raises(ValueError, match="sobel x"):
        kernels.kernel_preset("sobel z")
    with pytest.raises(ValueError, match=r"sizes \[3\]"):
        kernels.kernel_preset("sharpen", 5)


@pytest.mark.parametrize("kwargs, match", [
    ({"x": np.ones((4, 4)), "kernel": np.ones((5, 5))}, r"spans 5 cells .* padded input is only 4"),
    ({"x": np.ones((4, 4)), "kernel": np.ones((3, 3)), "dilation": 3}, r"spans 7 cells .*dilation 3"),
    ({"x": np.ones((4, 4)), "kernel": np.ones((3, 3)), "stride": 0}, r"stride must be a whole number ≥ 1, got 0"),
    ({"x": np.ones((3, 5, 5)), "kernel": np.ones((2, 3, 3))}, r"3 channel\(s\) but the kernel has 2"),
    ({"x": np.ones((5, 5)), "kernel": np.ones((3, 3)), "padding": "mirror"}, r"'valid', 'same', 'full'"),
    ({"x": np.ones((5, 5)), "kernel": np.ones((3, 3)), "padding": "same", "stride": 2}, r"'same' .* stride 1"),
    ({"x": np.ones((5, 5)), "kernel": np.ones((3, 3)), "padding": -1}, r"padding must be .* got -1"),
    ({"x": np.ones((2, 5, 5)), "kernel": np.ones((3, 2, 3, 3)), "bias": [1, 2]}, r"one per output map \(3\)"),
])
def test_impossible_settings_say_what_and_how_to_fix(kwargs, match):
    with pytest.raises(ValueError, match=match):
        convolve(**kwargs)


@pytest.mark.parametrize("n, k, s, p, d", [(5, 3, 1, 1, 1), (7, 3, 2, 0, 1), (28, 5, 1, 2, 1), (10, 3, 3, 2, 2),
                                           (6, 4, 1, (1, 2), 1)])
def test_output_size_matches_torch_and_the_formula_shows_the_numbers(n, k, s, p, d):
    pad = p if isinstance(p, int) else 0
    expected = F.conv1d(torch.zeros(1, 1, n + (sum(p) - 2 * pad if isinstance(p, tuple) else 0)),
                        torch.zeros(1, 1, k), stride=s, padding=pad, dilation=d).shape[-1]
    assert output_size(n, k, s, p, d) == expected
    assert output_size_formula(n, k, s, p, d).endswith(f"= {expected}")


def test_output_size_formula_text():
    assert output_size_formula(5, 3, 1, 1, 1) == "⌊(5 + 2·1 − 1·(3−1) − 1)/1⌋ + 1 = 5"
    assert output_size_formula(8, 5, 1, "full", 1) == "⌊(8 + 2·4 − 1·(5−1) − 1)/1⌋ + 1 = 12"
    assert output_size_formula(8, 4, 1, "same", 1) == "⌊(8 + 1 + 2 − 1·(4−1) − 1)/1⌋ + 1 = 8"


def run_snippet(code: str) -> tuple[np.ndarray, str]:
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "<pytorch_code>", "exec"), namespace)  # noqa: S102 - our own generated snippet
    return namespace["out"].numpy(), printed.getvalue()


@pytest.mark.parametrize("settings", [
    {"x": kernels.WORKED_EXAMPLES["2-D"].x, "kernel": kernels.WORKED_EXAMPLES["2-D"].kernel, "padding": 1, "flip": True},
    {"x": kernels.WORKED_EXAMPLES["1-D"].x, "kernel": kernels.WORKED_EXAMPLES["1-D"].kernel, "padding": 2, "flip": True},
    {"x": np.random.default_rng(6).random((3, 6, 7)), "kernel": np.random.default_rng(7).normal(size=(2, 3, 3, 3)),
         "stride": 2, "padding": "full", "dilation": 1, "bias": [0.5, -1.0]},
    {"x": np.random.default_rng(8).random((2, 9)), "kernel": np.random.default_rng(9).random((2, 3)), "dims": 1,
         "padding": "same", "dilation": 2, "flip": True, "bias": 0.25},
    {"x": np.random.default_rng(10).random((6, 6)), "kernel": kernels.kernel_preset("sobel y"), "padding": "valid",
         "stride": (1, 2)},
])
def test_pytorch_code_runs_and_prints_what_convolve_computes(settings):
    code = pytorch_code(settings)
    assert "import torch" in code and ("torch.flip" in code) == bool(settings.get("flip"))
    out, printed = run_snippet(code)
    np.testing.assert_allclose(out, convolve(**settings), atol=1e-12)
    assert "tensor(" in printed


def test_pytorch_code_for_a_big_input_uses_random_numbers_and_says_so():
    code = pytorch_code({"x": np.zeros((3, 40, 40)), "kernel": np.ones((3, 3, 3))}, max_values=100)
    assert "too many to paste" in code and "torch.rand(3, 40, 40" in code
    out, _ = run_snippet(code)
    assert out.shape == (38, 38)


def test_figures_show_the_window_and_the_filling_output():
    steps = convolution_steps(kernels.WORKED_EXAMPLES["2-D"].x, kernels.WORKED_EXAMPLES["2-D"].kernel, padding=1)
    step = steps[5]  # output (1, 1): padded rows 1..3, columns 1..3
    fig = conv_figures.input_window_figure(steps.padded[0], steps.padding, steps.input_shape, step.padded_coords)
    outlined = {((s.y0 + s.y1) / 2, (s.x0 + s.x1) / 2) for s in fig.layout.shapes if s.line.dash != "dash"}
    assert outlined == {(r, c) for r in (1, 2, 3) for c in (1, 2, 3)}
    assert any(s.line.dash == "dash" for s in fig.layout.shapes)  # the real input inside its padding
    out = conv_figures.output_progress_figure(steps.maps[0], 6, step.position)
    z = np.array(out.data[0].z, dtype=float)
    assert np.isfinite(z.ravel()[:6]).all() and np.isnan(z.ravel()[6:]).all()
    assert out.data[0].text[1][1] == conv_figures.format_number(steps.output[1, 1])
