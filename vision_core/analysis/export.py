"""Take a trained network out of the dashboard: a PyTorch state_dict file or an ONNX model.

The ONNX model outputs raw logits (as the PyTorch model does); apply softmax (or a sigmoid for a
one-logit model) to get probabilities. Its batch axis is dynamic: any number of images per call.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

INPUT_NAME = "image"
OUTPUT_NAME = "logits"


def state_dict_bytes(model: nn.Module) -> bytes:
    """The model's weights as a ``.pt`` file (``torch.save(model.state_dict())``), for a download.

    Load it back with ``model.load_state_dict(torch.load(path, weights_only=True))``.
    """
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def _example_input(input_shape: Sequence[int]) -> torch.Tensor:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"input_shape must be (C, H, W) or (B, C, H, W) with positive sizes, got {tuple(input_shape)}")
    # Batch 2, not 1: an exporter may specialise a size-1 axis to a constant.
    return torch.zeros((2, *shape[1:]))


def export_onnx(model: nn.Module, input_shape: Sequence[int], path: str | os.PathLike) -> Path:
    """Write the model as ONNX with a dynamic batch axis; returns the path.

    Tries PyTorch's default (dynamo) exporter first and falls back to the TorchScript exporter
    (``dynamo=False``) when it fails. Example: ``export_onnx(model, (1, 32, 32), "lenet.onnx")``.
    """
    path = Path(path)
    example = _example_input(input_shape)
    was_training = model.training
    model.eval()
    try:
        try:
            _export_dynamo(model, example, path)
        except Exception as first:  # noqa: BLE001 - exporter gaps differ between versions; the old one covers them
            try:
                _export_torchscript(model, example, path)
            except Exception as second:
                raise ValueError(f"Could not export this model to ONNX ({type(first).__name__}: {first}; "
                                 f"then {type(second).__name__}: {second})") from second
    finally:
        model.train(was_training)
    return path


def _export_dynamo(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    batch = torch.export.Dim("batch", min=1, max=65536)
    with warnings.catch_warnings(), _quiet_onnx_logs():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (example,), dynamo=True, input_names=[INPUT_NAME],
                                    output_names=[OUTPUT_NAME], dynamic_shapes=({0: batch},),
                                    external_data=False, verbose=False)
        program.save(str(path))


def _export_torchscript(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})


class _quiet_onnx_logs:
    # The dynamo exporter prints progress lines ("[torch.onnx] Obtain model graph...") at INFO level.
    def __enter__(self):
        self.logger = logging.getLogger("torch.onnx")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)


def onnx_bytes(model: nn.Module, input_shape: Sequence[int]) -> bytes:
    """The ONNX export as bytes, for a download button (written to a temporary file and read back)."""
    with tempfile.TemporaryDirectory() as folder:
        path = export_onnx(model, input_shape, Path(folder) / "model.onnx")
        return path.read_bytes()
