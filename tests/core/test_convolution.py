"""convolve / convolution_steps against torch.nn.functional.conv1d/conv2d, the textbook's worked examples,
the output-size formula, kernel presets and the "show me the PyTorch code" snippet."""

from __future__ import annotations

import contextlib
import io
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vision_core.figures import convolution as conv_figures
from vision_core.lessons import kernels
from vision_core.lessons.convolution import (
    TransposedSteps,
    convolution_steps,
    convolve,
    output_size,
    output_size_formula,
    pytorch_code,
    transposed_output_size,
    transposed_output_size_formula,
    transposed_pytorch_code,
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


# ---- which outputs an input cell feeds ------------------------------------------------------------


@pytest.mark.parametrize("dims", [1, 2])
def test_outputs_using_is_the_reverse_of_every_window(dims):
    """Brute force: collect every step's window (padding cells included) and invert it."""
    rng = np.random.default_rng(20 + dims)
    for _ in range(30):
        c = random_config(rng, dims)
        steps = convolution_steps(c["x"][0], c["w"][0, 0], c["stride"], c["padding"], c["dilation"], dims=dims)
        users: dict[tuple, set] = {}
        for i in range(steps.cells_per_map):
            step = steps[i]
            for cell in itertools.product(*(coords.tolist() for coords in step.input_coords)):
                users.setdefault(cell, set()).add(step.position)
        ranges = [range(-b, n + a) for (b, a), n in zip(steps.padding, steps.input_shape)]
        for cell in itertools.product(*ranges):
            assert set(steps.outputs_using(*cell)) == users.get(cell, set()), (c, cell)


def test_outputs_using_matches_the_gradient_of_f_conv2d():
    """An output depends on an input cell exactly where its gradient is non-zero (a kernel of ones)."""
    rng = np.random.default_rng(30)
    for _ in range(20):
        h, w = (int(v) for v in rng.integers(4, 9, 2))
        k, s, p, d = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(0, 3)), int(rng.integers(1, 3))
        if d * (k - 1) + 1 > min(h, w) + 2 * p:
            continue
        steps = convolution_steps(np.zeros((h, w)), np.ones((k, k)), s, p, d)

        def conv(x, k=k, s=s, p=p, d=d):
            return F.conv2d(x[None, None], torch.ones(1, 1, k, k), stride=s, padding=p, dilation=d)[0, 0]

        jacobian = torch.autograd.functional.jacobian(conv, torch.zeros(h, w))  # (out_h, out_w, h, w)
        for r in range(h):
            for col in range(w):
                uses = {tuple(int(v) for v in idx) for idx in np.argwhere(jacobian[:, :, r, col].numpy() != 0)}
                assert set(steps.outputs_using(r, col)) == uses


def test_outputs_using_refuses_a_cell_outside_the_padded_input():
    steps = convolution_steps(np.zeros((4, 4)), np.ones((3, 3)), padding=1)
    assert steps.outputs_using(-1, -1) == [(0, 0)]
    with pytest.raises(ValueError, match="outside the padded input"):
        steps.outputs_using(-2, 0)
    with pytest.raises(ValueError, match="2 coordinate"):
        steps.outputs_using(1)
    assert convolution_steps(np.zeros(5), np.ones(2), stride=2, dims=1).outputs_using(4) == []  # stepped over


# ---- transposed convolution -----------------------------------------------------------------------


def random_transposed(rng: np.random.Generator) -> dict:
    stride = tuple(int(v) for v in rng.integers(1, 4, 2))
    dilation = tuple(int(v) for v in rng.integers(1, 3, 2))
    return {"x": rng.normal(size=(int(rng.integers(1, 4)), *(int(v) for v in rng.integers(1, 6, 2)))),
            "stride": stride, "dilation": dilation,
            "padding": tuple(int(v) for v in rng.integers(0, 3, 2)),
            "output_padding": tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))}


def test_transposed_convolution_matches_f_conv_transpose2d_on_random_cases():
    rng = np.random.default_rng(40)
    checked = 0
    for _ in range(300):
        c = random_transposed(rng)
        channels, outs = c["x"].shape[0], int(rng.integers(1, 4))
        w = rng.normal(size=(channels, outs, *(int(v) for v in rng.integers(1, 5, 2))))
        b = rng.normal(size=outs)
        args = {k: c[k] for k in ("stride", "padding", "output_padding", "dilation")}
        try:
            expected = F.conv_transpose2d(torch.tensor(c["x"])[None], torch.tensor(w), torch.tensor(b), **args)[0]
        except RuntimeError:  # an impossible size: ours must refuse it too
            with pytest.raises(ValueError):
                TransposedSteps(c["x"], w, bias=b, **args)
            continue
        steps = TransposedSteps(c["x"], w, bias=b, **args)
        np.testing.assert_allclose(steps.output, expected.numpy(), atol=1e-10)
        assert steps.map_shape == tuple(expected.shape[1:]) == tuple(
            transposed_output_size(n, k, s, p, op, d) for n, k, s, p, op, d in
            zip(c["x"].shape[1:], w.shape[2:], c["stride"], c["padding"], c["output_padding"], c["dilation"]))
        checked += 1
    assert checked > 150


def test_transposed_steps_stamp_one_cell_at_a_time():
    rng = np.random.default_rng(41)
    x, w = rng.integers(0, 4, (3, 2)).astype(float), rng.integers(1, 4, (3, 3)).astype(float)
    steps = TransposedSteps(x, w, stride=2, padding=1, output_padding=1, bias=0.5)
    assert len(steps) == 6 and steps.canvas_after(-1).sum() == 0
    total = np.zeros_like(steps.canvas_after(-1))
    for i in range(len(steps)):
        step = steps[i]
        assert step.position == divmod(i, 2)
        np.testing.assert_array_equal(step.block[0], x[step.position] * w)
        np.testing.assert_array_equal(step.canvas_rows, step.position[0] * 2 + np.arange(3))
        total[0][np.ix_(step.canvas_rows, step.canvas_cols)] += step.block[0]
        np.testing.assert_allclose(steps.canvas_after(i), total)  # each step adds exactly its stamp
    np.testing.assert_allclose(steps.crop(total), steps.output)
    assert steps.map_shape == (6, 4)  # rows (3−1)·2 − 2·1 + (3−1) + 1 + 1, columns (2−1)·2 − 2·1 + (3−1) + 1 + 1


@pytest.mark.parametrize("kwargs, match", [
    ({"output_padding": 2, "stride": 2}, "smaller than the stride"),
    ({"padding": 3}, "cuts away everything"),
    ({"stride": 0}, "stride must be a whole number"),
])
def test_impossible_transposed_settings_say_why(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TransposedSteps(np.ones((2, 2)), np.ones((2, 2)), **kwargs)


def test_transposed_formula_and_code():
    assert transposed_output_size_formula(3, 3, 2, 1, 1) == "(3 − 1)·2 − 2·1 + 1·(3 − 1) + 1 + 1 = 6"
    x, w = np.arange(6.0).reshape(2, 3), np.array([[1.0, -1.0], [2.0, 0.5]])
    code = transposed_pytorch_code(x, w, stride=2, padding=1, output_padding=1, dilation=1, bias=0.25)
    out, printed = run_snippet(code)
    np.testing.assert_allclose(out, TransposedSteps(x, w, 2, 1, 1, 1, 0.25).output[0])
    assert "tensor(" in printed


# ---- zoomed, readable figures ------------------------------------------------------------------------


def test_a_large_input_is_zoomed_around_the_window_with_input_coordinates():
    x = np.random.default_rng(50).random((40, 30))
    steps = convolution_steps(x, np.ones((3, 3)), padding=1)
    step = steps[steps.index(0, 20, 0)]  # window over input rows 19..21, columns −1..1
    fig, view = conv_figures.convolution_input_figure(steps.padded[0], steps.padding, steps.input_shape,
                                                      step.padded_coords, picked=[(20, 0)])
    side = conv_figures.STYLE["zoom_side"]
    r0, r1, c0, c1 = view
    assert (r1 - r0 + 1, c1 - c0 + 1) == (side, side) and c0 == -1  # clamped at the left edge (padding column)
    assert r0 <= 19 and 21 <= r1  # the window is inside the view
    heat = fig.data[0]
    assert list(heat.x) == list(range(c0, c1 + 1)) and list(heat.y) == list(range(r0, r1 + 1))
    assert heat.text is not None and heat.text[0][0] == conv_figures.format_number(steps.padded[0][r0 + 1, 0])
    outlined = {((s.y0 + s.y1) / 2, (s.x0 + s.x1) / 2) for s in fig.layout.shapes
                if s.line.color == conv_figures.STYLE["window"]}
    assert outlined == {(r, c) for r in (19, 20, 21) for c in (-1, 0, 1)}  # in the axes' coordinates
    assert [(s.y0 + 0.5, s.x0 + 0.5) for s in fig.layout.shapes if s.line.color == conv_figures.STYLE["picked"]] \
        == [(20, 0)]
    assert tuple(fig.layout.xaxis.range) == (c0 - 0.5, c1 + 0.5)  # the frame does not widen the view
    overview = conv_figures.input_overview_figure(steps.padded[0], steps.padding, steps.input_shape,
                                                  step.padded_coords, view)
    assert overview.data[0].text is None and overview.data[0].y[0] == -1  # no numbers; axes in input coords
    assert any(s.line.dash == "dot" for s in overview.layout.shapes)  # where the zoom is


def test_a_small_input_is_shown_whole_without_zoom():
    steps = convolution_steps(kernels.WORKED_EXAMPLES["2-D"].x, kernels.WORKED_EXAMPLES["2-D"].kernel, padding=1)
    fig, view = conv_figures.convolution_input_figure(steps.padded[0], steps.padding, steps.input_shape,
                                                      steps[0].padded_coords)
    assert view is None and list(fig.data[0].x) == [-1, 0, 1, 2, 3, 4] and fig.data[0].text is not None


def test_view_box_stays_inside_the_grid():
    assert conv_figures.view_box((40, 30), (0, 29), 15) == (0, 14, 15, 29)
    assert conv_figures.view_box((10, 30), (5, 15), 15) == (0, 9, 8, 22)
