"""export: the state_dict file loads back; the ONNX model gives PyTorch's probabilities in onnxruntime,
for any batch size, with both exporters."""

from __future__ import annotations

import io

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from vision_core.analysis import export


def lenet() -> nn.Sequential:
    """LeNet's shape (the tutorial's), for 1×28×28 inputs thanks to padding 2."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(6, 16, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


def onnx_probabilities(path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {export.INPUT_NAME: x.numpy()})
    return torch.from_numpy(logits).softmax(1).numpy()


def test_state_dict_bytes_load_back_into_the_same_architecture():
    model = lenet()
    data = export.state_dict_bytes(model)
    copy = lenet()
    for p in copy.parameters():
        nn.init.zeros_(p)
    copy.load_state_dict(torch.load(io.BytesIO(data), weights_only=True))
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(copy(x), model(x))


def test_onnx_export_matches_pytorch_for_any_batch_size(tmp_path):
    model = lenet().train()  # export must switch to eval mode and switch back
    path = export.export_onnx(model, (1, 28, 28), tmp_path / "lenet.onnx")
    assert model.training
    model.eval()
    for batch in (1, 5):
        x = torch.randn(batch, 1, 28, 28)
        expected = model(x).softmax(1).detach().numpy()
        np.testing.assert_allclose(onnx_probabilities(path, x), expected, atol=1e-5)


def test_the_older_exporter_takes_over_when_the_default_one_fails(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(export, "_export_dynamo", broken)
    model = lenet().eval()
    path = export.export_onnx(model, (1, 1, 28, 28), tmp_path / "fallback.onnx")
    x = torch.randn(3, 1, 28, 28)
    np.testing.assert_allclose(onnx_probabilities(path, x), model(x).softmax(1).detach().numpy(), atol=1e-5)


def test_onnx_bytes_is_a_loadable_model():
    data = export.onnx_bytes(lenet(), (1, 28, 28))
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == export.INPUT_NAME
    assert session.get_inputs()[0].shape[1:] == [1, 28, 28]


def test_bad_input_shapes_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"input_shape must be \(C, H, W\) or \(B, C, H, W\).*got \(28, 28\)"):
        export.export_onnx(lenet(), (28, 28), tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="Could not export this model to ONNX"):
        export.export_onnx(lenet(), (3, 28, 28), tmp_path / "x.onnx")  # 3 channels into a 1-channel conv
