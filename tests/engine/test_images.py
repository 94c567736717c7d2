"""check_image (header first, so bombs are refused undecoded) and photo loading."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from engine import BadImage, ImageTooLarge, ImageTooSmall, check_image, check_size
from engine.images import load_photo, output_size


def _png(w: int, h: int, color=(200, 100, 50), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (w, h), color).save(buf, "PNG")
    return buf.getvalue()


def _bomb_header(w: int, h: int) -> bytes:
    """A PNG that *claims* w x h but whose pixel data is garbage: decoding it would fail."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"junk") + chunk(b"IEND", b"")


def test_accepts_a_normal_photo():
    assert check_image(_png(640, 480), max_pixels=10_000_000, min_side=64) == (640, 480)


def test_bomb_refused_from_the_header_without_decoding():
    # If check_image decoded the pixels it would raise BadImage on the junk IDAT instead.
    with pytest.raises(ImageTooLarge):
        check_image(_bomb_header(30_000, 30_000), max_pixels=40_000_000, min_side=64)
    with pytest.raises(ImageTooLarge):  # past Pillow's own bomb limit too
        check_image(_bomb_header(100_000, 100_000), max_pixels=40_000_000, min_side=64)


def test_too_small_and_not_an_image():
    with pytest.raises(ImageTooSmall):
        check_image(_png(50, 400), max_pixels=10_000_000, min_side=64)
    with pytest.raises(BadImage):
        check_image(b"GIF89a? no, just text", max_pixels=10_000_000, min_side=64)
    with pytest.raises(BadImage):
        check_image(_bomb_header(200, 200), max_pixels=10_000_000, min_side=64)  # corrupt data
    with pytest.raises(BadImage):
        check_image(_png(300, 300)[:200], max_pixels=10_000_000, min_side=64)  # truncated


def test_check_size_reads_only_the_header_and_load_photo_refuses_corrupt_pixels():
    """The bot checks the header, then decodes once for the faces: corrupt data is refused there."""
    assert check_size(_bomb_header(200, 200), max_pixels=10_000_000, min_side=64) == (200, 200)
    with pytest.raises(ImageTooLarge):
        check_size(_bomb_header(30_000, 30_000), max_pixels=40_000_000, min_side=64)
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (600, 800, 3), np.uint8)).save(buf, "JPEG")
    truncated_jpeg = buf.getvalue()[: len(buf.getvalue()) // 2]  # RGB, no EXIF: nothing else decodes it first
    for data in (_bomb_header(200, 200), _png(300, 300)[:200], truncated_jpeg):
        with pytest.raises(BadImage):
            load_photo(data, max_side=1280)


def test_output_size_caps_the_long_side_and_is_even():
    assert output_size(4000, 3000, 1280) == (1280, 960)
    assert output_size(801, 601, 1280) == (800, 600)
    w, h = output_size(1999, 1001, 1280)
    assert max(w, h) <= 1280 and w % 2 == 0 and h % 2 == 0


def test_load_photo_applies_exif_orientation_and_drops_alpha():
    img = Image.new("RGB", (400, 200), (10, 20, 30))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    rgb = load_photo(buf.getvalue(), max_side=1280)
    assert rgb.shape == (400, 200, 3) and rgb.dtype == np.uint8
    rgba = load_photo(_png(300, 200, (1, 2, 3, 0), mode="RGBA"), max_side=1280)
    assert rgba.shape == (200, 300, 3)
    big = load_photo(_png(3000, 1000), max_side=1280)
    assert big.shape == (426, 1280, 3)


def _astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _close(a: np.ndarray, b: np.ndarray, tolerance: float) -> bool:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean()) < tolerance


def test_every_pixel_mode_becomes_the_rgb_it_means():
    rgb = _astronaut()
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    gray3 = np.repeat(gray[..., None], 3, axis=2)
    cases = {
        # 16-bit and float images: rescaled, not clipped to white or black
        "gray16-png": (_encode(Image.fromarray(gray.astype(np.uint16) * 257), "PNG"), gray3, 1.0),
        "float-tiff": (_encode(Image.fromarray(gray.astype(np.float32) / 255.0, "F"), "TIFF"), gray3, 1.0),
        "cmyk-jpeg": (_encode(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=95), rgb, 6.0),
        "palette-png": (_encode(Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE), "PNG"), rgb, 12.0),
        "la-png": (_encode(Image.fromarray(gray).convert("LA"), "PNG"), gray3, 1.0),
        "tiff": (_encode(Image.fromarray(rgb), "TIFF"), rgb, 1.0),
        "webp": (_encode(Image.fromarray(rgb), "WEBP", quality=95), rgb, 6.0),
        "bmp": (_encode(Image.fromarray(rgb), "BMP"), rgb, 1.0),
        "gif": (_encode(Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE), "GIF"), rgb, 12.0),
    }
    for name, (data, expected, tolerance) in cases.items():
        out = load_photo(data, max_side=1280)
        assert out.shape == (512, 512, 3) and out.dtype == np.uint8, name
        assert _close(out, expected, tolerance), name
        check_image(data, max_pixels=10_000_000, min_side=64)


def test_transparent_pixels_become_white():
    img = Image.new("RGBA", (100, 100), (255, 0, 0, 255))
    img.paste((0, 0, 0, 0), (0, 0, 50, 100))
    out = load_photo(_encode(img, "PNG"), max_side=1280)
    assert tuple(out[50, 10]) == (255, 255, 255) and tuple(out[50, 90]) == (255, 0, 0)


def test_heic_from_an_iphone_is_read():
    import pillow_heif

    data = io.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(_astronaut())).save(data, quality=95)
    out = load_photo(data.getvalue(), max_side=1280)
    assert out.shape == (512, 512, 3) and _close(out, _astronaut(), 8.0)


def test_formats_outside_the_allow_list_are_refused_whatever_their_name():
    # EPS would run Ghostscript; ICO, PCX and the like are not photos: none is even tried.
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n"
    ico = _encode(Image.new("RGB", (64, 64), (1, 2, 3)), "ICO")
    pcx = _encode(Image.new("RGB", (100, 100), (1, 2, 3)), "PCX")
    for data in (eps, ico, pcx):
        with pytest.raises(BadImage):
            check_image(data, max_pixels=10_000_000, min_side=16)
        with pytest.raises(BadImage):
            load_photo(data, max_side=1280)
