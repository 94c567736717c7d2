"""Photo bytes -> checked, oriented RGB array at the output size."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import BadImage, ImageTooLarge, ImageTooSmall


def _open(data: bytes) -> Image.Image:
    # Image.open reads only the header; the pixel data is decoded later by .load().
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge("image has too many pixels") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise BadImage("not a readable image") from exc


def check_image(data: bytes, max_pixels: int, min_side: int) -> tuple[int, int]:
    """Validate a photo before queueing it; returns (width, height).

    The size comes from the header, so a decompression bomb is refused without being decoded.
    """
    img = _open(data)
    w, h = img.size
    if w * h > max_pixels:
        raise ImageTooLarge(f"image is {w}x{h}, more than {max_pixels} pixels")
    if min(w, h) < min_side:
        raise ImageTooSmall(f"image is {w}x{h}, a side is below {min_side} pixels")
    try:
        img.load()
    except Exception as exc:  # truncated or corrupt pixel data
        raise BadImage("image data is corrupt") from exc
    return w, h


def output_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The video's (width, height): long side capped at max_side, both even (yuv420p)."""
    scale = min(1.0, max_side / max(width, height))
    w = max(2, int(width * scale) // 2 * 2)
    h = max(2, int(height * scale) // 2 * 2)
    return w, h


def load_photo(photo: bytes | Path, max_side: int) -> np.ndarray:
    """Decode (EXIF orientation applied, alpha dropped) and resize to `output_size`: RGB uint8."""
    try:
        data = Path(photo).read_bytes() if isinstance(photo, (str, Path)) else photo
    except OSError as exc:
        raise BadImage(f"cannot read {photo}") from exc
    img = _open(data)
    try:
        # JPEG can decode at 1/2, 1/4, 1/8 scale directly: a 40 MP photo never sits in memory whole.
        img.draft("RGB", (max_side, max_side))
        img = ImageOps.exif_transpose(img).convert("RGB")
    except Exception as exc:
        raise BadImage("image data is corrupt") from exc
    rgb = np.asarray(img)
    h, w = rgb.shape[:2]
    ow, oh = output_size(w, h, max_side)
    if (ow, oh) != (w, h):
        interp = cv2.INTER_AREA if ow < w else cv2.INTER_CUBIC
        rgb = cv2.resize(rgb, (ow, oh), interpolation=interp)
    return np.ascontiguousarray(rgb)
