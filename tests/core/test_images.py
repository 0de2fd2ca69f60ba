"""Sample photos (offline), conversions, and decode_upload on untrusted bytes the tests write themselves."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from vision_core.data import images


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header claiming width×height 8-bit gray pixels and no pixel data: the shape of a bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IEND", b""))


def test_sample_photos_ship_with_scikit_learn_and_are_read_only():
    photos = images.sample_photos()
    assert {"china", "flower"} <= set(photos)
    for photo in photos.values():
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3
        with pytest.raises(ValueError):
            photo[0, 0, 0] = 1


def test_grayscale_uses_pillows_luma_weights():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    ours = images.to_grayscale(rgb).astype(int)
    pillow = np.asarray(Image.fromarray(rgb).convert("L")).astype(int)
    assert ours.shape == (5, 7) and np.abs(ours - pillow).max() <= 1


def test_resize_keeps_the_aspect_and_never_enlarges():
    photo = images.sample_photos()["china"]
    small = images.resize_for_display(photo, 32)
    assert small.shape == (21, 32, 3) and small.dtype == np.uint8
    assert images.resize_for_display(small, 100) is small


def test_channels_first_and_display_conversions():
    chw = images.to_channels_first(np.full((2, 3, 3), 255, np.uint8))
    assert chw.shape == (3, 2, 3) and chw.max() == 1.0
    signed = images.to_display(np.array([[-2.0, 0.0, 2.0]]))
    assert signed.tolist() == [[0, 128, 255]]
    assert images.to_display(np.array([[1.0, 3.0]])).tolist() == [[0, 255]]


def test_a_good_png_and_jpeg_decode_to_rgb_or_l():
    gray = images.decode_upload(encoded(Image.new("L", (10, 8), 90)))
    assert gray.mode == "L" and gray.size == (10, 8)
    colour = images.decode_upload(encoded(Image.new("RGB", (12, 9), (200, 10, 10)), "JPEG"))
    assert colour.mode == "RGB" and colour.size == (12, 9)


def test_transparency_is_flattened_on_white():
    image = images.decode_upload(encoded(Image.new("RGBA", (4, 4), (0, 0, 0, 0))))
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)


def test_not_an_image_is_refused_with_a_plain_message():
    with pytest.raises(ValueError, match=r"not an image we can read \(PNG/JPEG"):
        images.decode_upload(b"%PDF-1.4 definitely a document")


def test_empty_upload_is_refused():
    with pytest.raises(ValueError, match="empty"):
        images.decode_upload(b"")


def test_a_truncated_png_is_refused():
    data = encoded(Image.effect_noise((64, 64), 40).convert("L"))
    with pytest.raises(ValueError, match="not an image we can read"):
        images.decode_upload(data[: len(data) // 2])


def test_a_truncated_jpeg_is_refused():
    data = encoded(Image.effect_noise((64, 64), 40).convert("RGB"), "JPEG")
    with pytest.raises(ValueError, match="not an image we can read"):
        images.decode_upload(data[: len(data) // 3])


def test_a_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(ValueError, match="decompression bomb"):
        images.decode_upload(png_claiming(100_000, 100_000))
    with pytest.raises(ValueError, match="limit is 100 pixels"):
        images.decode_upload(encoded(Image.new("L", (20, 20))), max_pixels=100)


def test_a_huge_honest_image_is_shrunk_keeping_its_shape():
    image = images.decode_upload(encoded(Image.new("L", (600, 300), 7)), max_side=120)
    assert image.size == (120, 60)


def test_a_format_outside_the_allowed_list_is_refused():
    with pytest.raises(ValueError, match="not an image we can read"):
        images.decode_upload(encoded(Image.new("RGB", (4, 4)), "TIFF"))
