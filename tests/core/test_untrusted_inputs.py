"""Untrusted input: every bad upload or checkpoint becomes one clear ValueError / RunError, never a traceback,
and a malicious checkpoint never runs its code."""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
import zlib

import pytest
import torch
from PIL import Image
from torch import nn

from vision_core.analysis import evaluation
from vision_core.config import RunConfig
from vision_core.data import images
from vision_core.runs import store as runs
from vision_core.runs.store import RunError

DIGITS_INFO = {"classes": [str(i) for i in range(10)], "channels": 1, "image_size": [8, 8],
               "mean": [0.0], "std": [1.0]}
RGB_INFO = {"classes": ["a", "b"], "channels": 3, "image_size": [16, 16], "mean": [0.5] * 3, "std": [0.5] * 3}


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height pixels, with no pixel data at all (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


# ---- uploads -------------------------------------------------------------------------------------


def test_a_file_that_is_not_an_image_is_refused():
    with pytest.raises(ValueError, match="(?i)not .*(picture|image)"):
        images.decode_upload(b"%PDF-1.4 this is a document, not a picture")


def test_an_empty_upload_is_refused():
    with pytest.raises(ValueError):
        images.decode_upload(b"")


def test_a_truncated_png_is_refused():
    data = png_bytes(Image.effect_noise((64, 64), 50).convert("L"))
    with pytest.raises(ValueError, match="(?i)(picture|image)"):
        images.decode_upload(data[: len(data) // 2])


def test_a_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(ValueError, match="(?i)(too large|bomb)"):
        images.decode_upload(png_header_only(100_000, 100_000))


def test_a_huge_but_honest_image_is_shrunk_keeping_its_shape():
    image = images.decode_upload(png_bytes(Image.new("L", (6000, 4000), 128)))
    assert max(image.size) < 6000
    assert image.size[0] / image.size[1] == pytest.approx(1.5, rel=0.01)


def test_a_grayscale_upload_for_a_colour_model_is_converted_with_a_note():
    image = images.decode_upload(png_bytes(Image.new("L", (32, 32), 90)))
    prep = evaluation.preprocess_image(image, RGB_INFO)
    assert prep.model_input.shape == (1, 3, 16, 16)
    assert any("3 RGB channels" in note for note in prep.notes)


def test_a_colour_upload_for_a_grayscale_model_is_converted_with_a_note():
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (200, 30, 30)).save(buffer, format="JPEG")
    prep = evaluation.preprocess_image(images.decode_upload(buffer.getvalue()), DIGITS_INFO)
    assert prep.model_input.shape == (1, 1, 8, 8)
    assert any("grayscale" in note for note in prep.notes)


# ---- checkpoints ---------------------------------------------------------------------------------


def tiny_net(classes: int = 10) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, classes))


def save_checkpoint(model: nn.Module, path) -> None:
    torch.save({"state_dict": {"model." + k: v for k, v in model.state_dict().items()}, "epoch": 1}, path)


class Evil:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_our_own_checkpoint_loads(tmp_path):
    model = tiny_net()
    save_checkpoint(model, tmp_path / "best.ckpt")
    weights = runs.load_state_dict(tmp_path / "best.ckpt")
    assert weights.keys() == model.state_dict().keys()
    assert runs.checkpoint_epoch(tmp_path / "best.ckpt") == 1


def test_random_bytes_are_not_a_checkpoint(tmp_path):
    path = tmp_path / "best.ckpt"
    path.write_bytes(os.urandom(2048))
    with pytest.raises(RunError, match="not a checkpoint we can read safely"):
        runs.load_state_dict(path)


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dumps"])
def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path, writer):
    marker = tmp_path / "pwned"
    payload = {"state_dict": {"model.0.weight": Evil(marker)}, "epoch": 1}
    path = tmp_path / "best.ckpt"
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    assert not marker.exists()  # writing it did not run anything either
    with pytest.raises(RunError, match="not a checkpoint we can read safely"):
        runs.load_state_dict(path)
    assert not marker.exists()
    assert runs.checkpoint_epoch(path) is None  # the epoch reader refuses it too, silently
    assert not marker.exists()


def test_a_tampered_checkpoint_is_refused(tmp_path):
    path = tmp_path / "best.ckpt"
    save_checkpoint(tiny_net(), path)
    # Rewrite the archive with its pickled index cut in half: a valid zip holding a broken pickle.
    tampered = tmp_path / "tampered.ckpt"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tampered, "w") as target:
        for entry in source.infolist():
            data = source.read(entry)
            target.writestr(entry, data[: len(data) // 2] if entry.filename.endswith("data.pkl") else data)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(path.read_bytes()[:100])
    for bad in (tampered, truncated):
        with pytest.raises(RunError, match="not a checkpoint we can read safely"):
            runs.load_state_dict(bad)


def test_a_checkpoint_without_weights_is_refused(tmp_path):
    path = tmp_path / "best.ckpt"
    torch.save({"state_dict": {"model.0.weight": "not a tensor"}, "epoch": 1}, path)
    with pytest.raises(RunError, match="holds no model weights"):
        runs.load_state_dict(path)


def test_weights_from_another_architecture_are_a_clear_error(tmp_path):
    path = tmp_path / "best.ckpt"
    save_checkpoint(tiny_net(classes=10), path)
    with pytest.raises(RunError, match="do not fit this architecture"):
        runs.load_weights_into(tiny_net(classes=3), runs.load_state_dict(path), path.name)


def test_load_model_of_a_run_whose_checkpoint_came_from_another_model(tmp_path):
    from vision_core.models import zoo as models

    run = runs.create_run(RunConfig(dataset="digits", model="lenet"), root=tmp_path, run_id="mismatch")
    runs.write_data_info(run, {**DIGITS_INFO, "image_size": [32, 32]})
    save_checkpoint(tiny_net(), run.path / "checkpoints" / "best.ckpt")  # not LeNet's weights
    assert models  # the real registry builds LeNet; the weights cannot fit it
    with pytest.raises(RunError, match="do not fit this architecture"):
        runs.load_model(run)
