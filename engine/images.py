"""Photo bytes -> checked, oriented RGB array at the output size.

Only the decoders a photo can need are allowed (JPEG, PNG, WebP, BMP, TIFF, GIF's first frame, and
HEIC/HEIF, which iPhones send, through pillow-heif): whatever the sender's MIME type says, Pillow
never tries its other ~40 formats on user bytes (EPS among them, which runs Ghostscript).
Every pixel mode is brought to 8-bit RGB by its meaning, not by clipping: 16-bit and float images
are rescaled (a plain convert("RGB") clips them to white or black), transparency is laid on white.
They are reduced to about the output size first and rescaled in 32-bit floats: a 40-megapixel float
TIFF is 160 MB decoded, and a full-size 64-bit copy of it (or a few) would be gigabytes from a
small file.
"""

from __future__ import annotations

import functools
import io
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import BadImage, ImageTooLarge, ImageTooSmall

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "HEIF")  # HEIF last (see _open)
_BACKGROUND = (255, 255, 255)  # what transparent pixels become (a sticker's "nothing" is white)


@functools.cache
def _register_heif() -> None:
    """Add the "HEIF" format to Pillow (HEIC and HEIF files), once, when a photo is one: pillow-heif
    costs a warm render ~0.1 s of imports that a JPEG or PNG never needs."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def _open(data: bytes) -> Image.Image:
    # Image.open reads only the header; the pixel data is decoded later by .load().
    formats: tuple[str, ...] = ALLOWED_FORMATS[:-1]  # without HEIF: Pillow would fail on a format it does not know
    if data[4:8] == b"ftyp":  # an ISO media file (HEIF's container) starts with its ftyp box
        _register_heif()
        formats = ALLOWED_FORMATS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=formats)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge("image has too many pixels") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise BadImage("not a readable image (JPEG, PNG, WebP, BMP, TIFF, GIF or HEIC)") from exc


def check_size(data: bytes, max_pixels: int, min_side: int) -> tuple[int, int]:
    """A photo's (width, height) from its header, refused when too large or too small: a
    decompression bomb is refused without being decoded. The pixels are not checked."""
    w, h = _open(data).size
    if w * h > max_pixels:
        raise ImageTooLarge(f"image is {w}x{h}, more than {max_pixels} pixels")
    if min(w, h) < min_side:
        raise ImageTooSmall(f"image is {w}x{h}, a side is below {min_side} pixels")
    return w, h


def check_image(data: bytes, max_pixels: int, min_side: int) -> tuple[int, int]:
    """check_size, then the pixels decoded once (corrupt or truncated data refused); returns
    (width, height). Where the photo is decoded next anyway, check_size + load_photo is enough."""
    w, h = check_size(data, max_pixels, min_side)
    img = _open(data)
    try:
        img.load()
    except Exception as exc:  # truncated or corrupt pixel data
        raise BadImage("image data is corrupt") from exc
    return w, h


def _stretch(values: np.ndarray) -> np.ndarray:
    """High-bit-depth or float gray values -> uint8, by the range the values are in. One float32
    copy, worked on in place (8 bits out need no more precision)."""
    v = values.astype(np.float32)
    finite = np.isfinite(v)
    if not finite.any():
        return np.zeros(values.shape, np.uint8)
    lo = float(np.min(v, where=finite, initial=np.inf))
    hi = float(np.max(v, where=finite, initial=-np.inf))
    del finite
    if values.dtype.kind == "f":
        # Float images are 0..1 by convention; anything else is stretched to its own range.
        scale_lo, scale_hi = (0.0, 1.0) if lo >= 0.0 and hi <= 1.0 else (lo, hi)
    else:
        scale_lo, scale_hi = 0.0, 65535.0 if hi > 255 else 255.0
    span = max(scale_hi - scale_lo, 1e-12)
    np.nan_to_num(v, copy=False, nan=scale_lo, posinf=scale_hi, neginf=scale_lo)
    v -= scale_lo
    v *= 255.0 / span
    v += 0.5
    np.clip(v, 0, 255, out=v)
    return v.astype(np.uint8)


def _high_bit(mode: str) -> bool:
    return mode.startswith("I;16") or mode in ("I", "F")


def _reduced(img: Image.Image, max_side: int) -> np.ndarray:
    """A 16-bit, 32-bit integer or float image's values at no less than max_side on its long side
    (box-averaged by an integer factor), without a full-size copy beyond 16-bit ones."""
    factor = max(1, max(img.size) // max_side)
    if img.mode in ("I", "F"):  # Pillow reduces these itself, in C, into a small image
        return np.asarray(img.reduce(factor) if factor > 1 else img)
    values = np.asarray(img)  # I;16, I;16L, I;16B: uint16 (a 2-byte copy)
    if not values.dtype.isnative:
        values = values.astype(values.dtype.newbyteorder("="))
    if factor == 1:
        return values
    h, w = values.shape[:2]
    return cv2.resize(values, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)


_ORIENTATIONS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
                 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                 8: Image.Transpose.ROTATE_90}


def _high_bit_to_rgb(img: Image.Image, max_side: int) -> Image.Image:
    """A loaded 16-bit or float image -> small 8-bit RGB, EXIF orientation applied (after the
    reduction: ImageOps.exif_transpose would copy the full-size image)."""
    orientation = img.getexif().get(0x0112, 1)
    rgb = Image.fromarray(_stretch(_reduced(img, max_side)), "L").convert("RGB")
    method = _ORIENTATIONS.get(orientation) if isinstance(orientation, int) else None
    return rgb.transpose(method) if method is not None else rgb


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB, by what the pixels mean."""
    mode = img.mode
    if mode == "RGB":
        return img
    if _high_bit(mode):
        return Image.fromarray(_stretch(np.asarray(img)), "L").convert("RGB")
    if mode in ("P", "PA") and ("transparency" in img.info or mode == "PA"):
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "RGBa", "LA", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV


def output_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The video's (width, height): long side capped at max_side, both even (yuv420p)."""
    scale = min(1.0, max_side / max(width, height))
    w = max(2, int(width * scale) // 2 * 2)
    h = max(2, int(height * scale) // 2 * 2)
    return w, h


def load_photo(photo: bytes | Path, max_side: int) -> np.ndarray:
    """Decode (EXIF orientation applied, every mode to RGB) and resize to `output_size`: RGB uint8."""
    if isinstance(photo, (str, Path)):
        try:
            data = Path(photo).read_bytes()
        except OSError as exc:
            raise BadImage(f"cannot read {photo}") from exc
    else:
        data = photo
    img = _open(data)
    try:
        # JPEG can decode at 1/2, 1/4, 1/8 scale directly: a 40 MP photo never sits in memory whole.
        img.draft("RGB", (max_side, max_side))
        img.load()  # here, so corrupt or truncated data is a BadImage whatever the mode
        if _high_bit(img.mode):  # reduced before anything else: no full-size copy of it is made
            img = _high_bit_to_rgb(img, max_side)
        else:
            img = to_rgb(ImageOps.exif_transpose(img))
    except Exception as exc:
        raise BadImage("image data is corrupt") from exc
    rgb = np.asarray(img)
    h, w = rgb.shape[:2]
    ow, oh = output_size(w, h, max_side)
    if (ow, oh) != (w, h):
        interp = cv2.INTER_AREA if ow < w else cv2.INTER_CUBIC
        rgb = cv2.resize(rgb, (ow, oh), interpolation=interp)
    return np.ascontiguousarray(rgb)
