"""The Convolution page's "Transposed convolution" mode: F.conv_transpose2d one input cell at a time.

Each input cell stamps value × kernel onto a canvas; the step-through is one animated figure the browser plays
(vision_core.figures.step_through.transposed_animation), cached by its inputs.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch
import torch.nn.functional as F

from ui import step_through
from ui.conv_controls import number_grid, starting_numbers
from vision_core.lessons import convolution


def show() -> None:
    st.markdown("A **transposed convolution** goes the other way: every *input* cell stamps a copy of the kernel, "
                "scaled by its value, onto the output, **stride** cells apart; where stamps overlap they add up. "
                "Then **padding** cells are cut off every side (here padding removes), **output padding** keeps "
                "extra rows and columns at the bottom and right, and the bias is added. Decoders and GANs use it "
                "to make maps larger.")
    c = st.columns(4)
    rows = int(c[0].number_input("Input rows", 1, 6, 3, key="conv_t_rows"))
    cols = int(c[1].number_input("Input columns", 1, 6, 3, key="conv_t_cols"))
    k_rows = int(c[2].number_input("Kernel rows", 1, 4, 3, key="conv_t_k_rows"))
    k_cols = int(c[3].number_input("Kernel columns", 1, 4, 3, key="conv_t_k_cols"))
    left, right = st.columns(2)
    with left:
        x = number_grid(starting_numbers((rows, cols), 11) % 4, "conv_t_x", "Input (edit the numbers)")
    with right:
        w = number_grid(starting_numbers((k_rows, k_cols), 12) % 3 + 1, "conv_t_w", "Kernel (edit the numbers)")
    c = st.columns(5)
    stride = int(c[0].number_input("Stride", 1, 4, 2, key="conv_t_stride"))
    padding = int(c[1].number_input("Padding", 0, 4, 0, key="conv_t_padding",
                                    help="Cut this many cells off every side of the result."))
    output_padding = int(c[2].number_input("Output padding", 0, 3, 0, key="conv_t_output_padding",
                                           help="Keep this many extra rows/columns at the bottom and right: "
                                                "smaller than the stride or the dilation."))
    dilation = int(c[3].number_input("Dilation", 1, 3, 1, key="conv_t_dilation"))
    bias = float(c[4].number_input("Bias", value=0.0, step=0.5, key="conv_t_bias"))
    try:
        steps, figure = step_through.transposed_figure(x, w, stride, padding, output_padding, dilation, bias)
    except ValueError as exc:
        st.error(f"These settings are impossible: {exc}")
        return
    formulas = [f"{axis}: {convolution.transposed_output_size_formula(n, k, stride, padding, output_padding, dilation)}"
                for axis, n, k in zip(("rows", "columns"), steps.input_shape, w.shape)]
    st.markdown("**Output size** (n − 1)·s − 2p + d·(k − 1) + output padding + 1 — "
                + " · ".join(f"`{f}`" for f in formulas))
    reference = F.conv_transpose2d(torch.tensor(x)[None, None], torch.tensor(w)[None, None],
                                   torch.tensor([bias], dtype=torch.float64), stride=stride, padding=padding,
                                   output_padding=output_padding, dilation=dilation)[0, 0].numpy()
    same = reference.shape == steps.output[0].shape and np.allclose(reference, steps.output[0])
    st.caption("✅ `F.conv_transpose2d` gives exactly this output." if same else
               "⚠️ `F.conv_transpose2d` disagrees with this output: please report it.")
    step_through.show(figure, "conv_t_anim")
    st.caption("▶ Play, or step with Previous / Next and the slider (in your browser: instant). The dashed frame "
               "is what is kept: rows and columns outside it are the padding, cut off. A transposed convolution "
               "is the gradient of a convolution with respect to its input, which is why it takes the same "
               "kernel, stride, padding and dilation.")
    with st.expander("Show the PyTorch code"):
        st.code(convolution.transposed_pytorch_code(x, w, stride, padding, output_padding, dilation, bias),
                language="python")
