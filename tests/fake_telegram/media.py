"""Facts about media bytes that Telegram reports: image size, photo thumbnails, video size/duration."""

from __future__ import annotations

import io
import os
import re
import subprocess
import tempfile
import warnings
from typing import Any

from PIL import Image

# Telegram keeps a photo in several sizes; the largest is the one the user sent.
THUMBNAIL_SIDES = (90, 320, 800)


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header, or None when the bytes are not an image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # only the header is read
            try:
                with Image.open(io.BytesIO(data)) as img:
                    return img.size
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except Exception:
        return None


def thumbnails(data: bytes, width: int, height: int) -> list[tuple[bytes, int, int]]:
    """Smaller JPEG copies (bytes, w, h) for each thumbnail side below the original's longer side."""
    longer = max(width, height)
    if longer <= THUMBNAIL_SIDES[0] or width * height > 50_000_000:
        return []
    try:
        with Image.open(io.BytesIO(data)) as img:
            img = img.convert("RGB")
            out = []
            for side in THUMBNAIL_SIDES:
                if side >= longer:
                    break
                scale = side / longer
                w, h = max(1, round(width * scale)), max(1, round(height * scale))
                buf = io.BytesIO()
                img.resize((w, h)).save(buf, "JPEG", quality=80)
                out.append((buf.getvalue(), w, h))
            return out
    except Exception:
        return []


def probe_video(data: bytes) -> dict[str, Any]:
    """width, height, duration (int seconds) and has_audio of a video, {} if ffmpeg cannot read it."""
    try:
        import imageio_ffmpeg

        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return {}
    fd, path = tempfile.mkstemp(suffix=".mp4")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        # `ffmpeg -i` with no output prints the stream summary on stderr (and exits 1).
        info = subprocess.run([ffmpeg, "-hide_banner", "-i", path], capture_output=True, text=True,
                              errors="replace", timeout=30).stderr
    finally:
        os.unlink(path)
    size = re.search(r"Stream #.*?Video: .*?(\d{2,5})x(\d{2,5})", info)
    if size is None:
        return {}
    duration = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", info)
    seconds = int(duration[1]) * 3600 + int(duration[2]) * 60 + float(duration[3]) if duration else 0.0
    codec = re.search(r"Stream #.*?Video: (\w+)", info)
    fps = re.search(r"Stream #.*?Video: [^\n]*?([\d.]+) fps", info)
    container = re.search(r"Input #0, ([\w,]+)", info)
    return {
        "width": int(size[1]),
        "height": int(size[2]),
        "duration": int(round(seconds)),
        "seconds": seconds,
        "has_audio": bool(re.search(r"Stream #.*?Audio: ", info)),
        "codec": codec[1] if codec else "",
        "fps": float(fps[1]) if fps else 0.0,
        "container": container[1] if container else "",
    }
