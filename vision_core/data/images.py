"""Pictures for the convolution pages: photos that ship inside installed packages (offline), simple
conversions, and safe decoding of uploads (an upload is untrusted: it may be a bomb, truncated, or no image).
"""

from __future__ import annotations

import io
import warnings
from functools import lru_cache

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_UPLOAD_PIXELS = 40_000_000  # claimed size above which we refuse before decoding a single pixel
MAX_SIDE = 2048  # honest but huge pictures are shrunk to this longest side
READABLE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")  # a short list: fewer decoders, less attack surface
# What an image folder may hold (datasets.IMAGE_EXTENSIONS: .tif/.tiff are TIFF, .ppm/.pgm are PPM).
FOLDER_FORMATS = (*READABLE_FORMATS, "TIFF", "PPM")


@lru_cache(maxsize=1)
def _load_sample_photos() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_sample_images  # reads JPEGs inside the sklearn package: no download

    bunch = load_sample_images()
    photos = {}
    for filename, image in zip(bunch.filenames, bunch.images):
        name = filename.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
        image = np.ascontiguousarray(image, dtype=np.uint8)
        image.flags.writeable = False  # shared by every caller: nobody may draw on it
        photos[name] = image
    return photos


def sample_photos() -> dict[str, np.ndarray]:
    """Photos shipped with scikit-learn, as read-only uint8 (H, W, 3) arrays: ``{"china": ..., "flower": ...}``."""
    return dict(_load_sample_photos())


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) → (H, W) with the ITU-R 601 luma weights Pillow uses; uint8 stays uint8, floats stay floats.

    Example: ``to_grayscale(sample_photos()["china"]).shape == (427, 640)``.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        return image
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"to_grayscale needs an (H, W, 3) colour image, got shape {image.shape}")
    gray = image[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.clip(np.round(gray), 0, 255).astype(np.uint8) if image.dtype == np.uint8 else gray


def resize_for_display(image: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink (H, W) or (H, W, 3) uint8 so its longest side is at most ``max_side`` (never enlarges).

    Example: ``resize_for_display(photo, 32).shape == (21, 32, 3)`` for a 427×640 photo.
    """
    image = np.asarray(image)
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1 pixel, got {max_side}")
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    pil = Image.fromarray(image if image.dtype == np.uint8 else np.clip(image, 0, 255).astype(np.uint8))
    return np.asarray(pil.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))


def to_channels_first(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W) or (H, W, C) → float64 (C, H, W) in [0, 1]: what the convolution functions take."""
    image = np.asarray(image, dtype=np.float64) / 255.0
    return image[None] if image.ndim == 2 else np.moveaxis(image, -1, 0)


def to_display(values: np.ndarray, signed: bool | None = None) -> np.ndarray:
    """Any real (H, W) or (H, W, 3) map → uint8 for ``st.image``.

    Signed maps (edges) are shown around mid-grey (0 → 128, the largest |value| → 0 or 255); others are
    stretched min → black, max → white. ``signed=None`` decides from the data.
    """
    values = np.asarray(values, dtype=np.float64)
    values = np.where(np.isfinite(values), values, 0.0)
    if signed is None:
        signed = bool(values.min() < 0)
    if signed:
        scale = np.abs(values).max() or 1.0
        return np.round(127.5 + 127.5 * values / scale).astype(np.uint8)
    low, high = values.min(), values.max()
    return np.round(255 * (values - low) / ((high - low) or 1.0)).astype(np.uint8)


def _normalise_mode(image: Image.Image) -> Image.Image:
    # Transparent pictures show on a white page; flatten them the same way so what you see is what you get.
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    if image.mode in ("L", "RGB"):
        return image
    if image.mode in ("1", "I", "I;16", "I;16B", "I;16L", "F"):
        if image.mode in ("I", "F") or image.mode.startswith("I;16"):
            array = np.asarray(image, dtype=np.float64)
            return Image.fromarray(np.asarray(to_display(array, signed=False)), "L")
        return image.convert("L")
    return image.convert("RGB")  # P, CMYK, YCbCr, ...


def decode_upload(data: bytes, *, max_pixels: int = MAX_UPLOAD_PIXELS, max_side: int = MAX_SIDE) -> Image.Image:
    """Decode untrusted uploaded bytes into an RGB or L PIL image, or raise ValueError saying why not.

    Refuses what is not a PNG/JPEG/GIF/BMP/WebP picture, truncated files and decompression bombs (a header
    claiming more than ``max_pixels``); shrinks honest pictures to ``max_side``; applies the EXIF rotation.
    Example: ``decode_upload(open("cat.jpg", "rb").read()).size``.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"decode_upload takes the uploaded bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("The upload is empty: choose a PNG or JPEG picture.")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that: make its warning an error too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(bytes(data)), formats=READABLE_FORMATS) as probe:
                width, height = probe.size
                if width * height > max_pixels:
                    raise ValueError(f"The picture claims to be {width}×{height} pixels ({width * height:,}), "
                                     f"too large to open safely (a 'decompression bomb'?): the limit is "
                                     f"{max_pixels:,} pixels. Use a smaller picture.")
                probe.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale directly
                probe.load()  # decodes every pixel now: a truncated file fails here
                image = probe.copy()
    except ValueError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError("The picture is far too large to open safely (a 'decompression bomb'?): "
                         "use a smaller picture.") from None
    except Exception as exc:  # noqa: BLE001 - untrusted bytes: any decoder failure is "not an image"
        # Pillow's "cannot identify image file <_io.BytesIO object at 0x…>" names our buffer, not the file.
        reason = "not a picture format we know" if isinstance(exc, UnidentifiedImageError) else \
            f"{type(exc).__name__}: {exc}"
        raise ValueError(f"The upload is not an image we can read (PNG/JPEG; {reason}). "
                         "Upload a PNG or JPEG picture.") from None
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001, S110 - a broken EXIF block only loses the rotation
        pass
    image = _normalise_mode(image)
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def verify_image_file(path, *, max_pixels: int = MAX_UPLOAD_PIXELS) -> tuple[int, int]:
    """Decode a whole image file once (size check first) → (width, height); ValueError saying why it is no image.

    For files a student sent (an uploaded zip's entries): a file that is not a PNG/JPEG/GIF/BMP/WebP/TIFF/PPM
    picture, is truncated, or claims more than ``max_pixels`` is refused before it is kept. The reason names no
    path. Example: ``verify_image_file("cat/0.png")`` → (20, 16).
    """
    too_large = ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=FOLDER_FORMATS) as image:
                width, height = image.size
                if width * height > max_pixels:
                    too_large = f"it claims {width}×{height} pixels, more than the {max_pixels:,} allowed"
                else:
                    image.draft(image.mode, (256, 256))  # JPEG: every block is still decoded, at a reduced scale
                    image.load()  # a truncated or corrupted file fails here
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError("it claims far too many pixels (a 'decompression bomb'?)") from None
    except Exception as exc:  # noqa: BLE001 - untrusted bytes: any decoder failure is "not an image"
        reason = "not a picture format we know" if isinstance(exc, UnidentifiedImageError) else type(exc).__name__
        raise ValueError(reason) from None
    if too_large:
        raise ValueError(too_large)
    return width, height
