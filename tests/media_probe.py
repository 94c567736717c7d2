"""The tests' ffprobe: what a media file really holds, read with PyAV (FFmpeg's own libavformat and
decoders; the bundled ffmpeg binary has no ffprobe), and Telegram's documented limits checked on it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

MB = 1024 * 1024
VIDEO_MAX_BYTES = 50 * MB  # sendVideo / sendAnimation uploads by a bot
NOTE_MIN_SIDE, NOTE_MAX_SIDE = 384, 512  # ours; Telegram refuses 640 and up
NOTE_MAX_S = 60.0
STICKER_SIDE = 512
STICKER_MAX_S = 3.0
STICKER_MAX_FPS = 30.0
STICKER_MAX_BYTES = 256_000  # "256 KB", read the stricter (decimal) way


@dataclass(frozen=True)
class Probe:
    format: str  # the demuxer's names, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "matroska,webm"
    size: int  # bytes
    duration: float  # seconds (container)
    video_codec: str | None
    width: int
    height: int
    fps: float
    frames: int  # decoded, not the header's claim
    pix_fmt: str | None
    audio_codec: str | None
    rotation: int  # display matrix, degrees

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


def probe(media: bytes | Path) -> Probe:
    data = media if isinstance(media, bytes) else Path(media).read_bytes()
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        frames, rotation = 0, 0
        if video is not None:
            for frame in container.decode(video=0):
                if frames == 0:
                    rotation = int(getattr(frame, "rotation", 0) or 0)
                frames += 1
        info: dict[str, Any] = {
            "format": container.format.name,
            "size": len(data),
            "duration": (container.duration or 0) / 1_000_000,
            "video_codec": video.codec_context.name if video else None,
            "width": video.width if video else 0,
            "height": video.height if video else 0,
            "fps": float(video.average_rate or 0) if video else 0.0,
            "frames": frames,
            "pix_fmt": video.codec_context.pix_fmt if video else None,
            "audio_codec": audio.codec_context.name if audio else None,
            "rotation": rotation,
        }
    return Probe(**info)


def assert_telegram_video(media: bytes | Path, *, with_audio: bool = True) -> Probe:
    """sendVideo's rules for a video that plays inline everywhere: MP4, H.264 in yuv420p with even
    sides, AAC sound, at most 50 MB."""
    p = probe(media)
    assert "mp4" in p.format, p
    assert p.video_codec == "h264" and p.pix_fmt == "yuv420p", p
    assert p.width % 2 == 0 and p.height % 2 == 0 and p.frames > 0, p
    assert p.size <= VIDEO_MAX_BYTES, p
    if with_audio:
        assert p.audio_codec == "aac", p
    return p


def _plays_for(p: Probe) -> float:
    """Seconds the frames play: their count over the rate (the container's figure is rounded)."""
    return p.frames / p.fps if p.fps else p.duration


def assert_video_note(media: bytes | Path, *, with_audio: bool = True) -> Probe:
    """sendVideoNote's rules: a square H.264 yuv420p MP4, side 384-512 here (Telegram refuses 640
    and up), at most a minute, AAC sound."""
    p = assert_telegram_video(media, with_audio=with_audio)
    assert p.width == p.height, p
    assert NOTE_MIN_SIDE <= p.width <= NOTE_MAX_SIDE < 640, p
    assert p.duration <= NOTE_MAX_S and _plays_for(p) <= NOTE_MAX_S, p
    return p


def assert_sticker(media: bytes | Path) -> Probe:
    """A video sticker (core.telegram.org/stickers): WEBM with VP9, one side exactly 512 and the
    other at most 512, at most 3 s and 30 fps, at most 256 KB, no audio stream."""
    data = media if isinstance(media, bytes) else Path(media).read_bytes()
    p = probe(data)
    assert b"webm" in data[:64], "not a WEBM file (EBML DocType)"  # matroska and webm share a demuxer
    assert p.video_codec == "vp9" and p.frames > 0, p
    assert max(p.width, p.height) == STICKER_SIDE and min(p.width, p.height) <= STICKER_SIDE, p
    assert 0 < p.fps <= STICKER_MAX_FPS, p
    assert p.duration <= STICKER_MAX_S and _plays_for(p) <= STICKER_MAX_S, p
    assert p.size <= STICKER_MAX_BYTES, p
    assert not p.has_audio, p
    return p


def sticker_alpha(media: bytes | Path, frames: int = 0) -> np.ndarray:
    """The alpha planes (N, H, W) uint8 of a VP9 WEBM, decoded with libvpx: WEBM keeps the alpha
    as a BlockAdditional beside the colour, which FFmpeg's own vp9 decoder ignores. `frames`: the
    first few only (0: all). A file without an alpha plane fails the test."""
    data = media if isinstance(media, bytes) else Path(media).read_bytes()
    planes = []
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.metadata.get("alpha_mode") == "1", f"no alpha plane: {stream.metadata}"
        decoder = av.codec.CodecContext.create("libvpx-vp9", "r")
        for packet in container.demux(stream):
            for frame in decoder.decode(packet):
                assert frame.format.name == "yuva420p", frame.format.name
                plane = frame.planes[3]
                rows = np.frombuffer(bytes(plane), np.uint8).reshape(plane.height, plane.line_size)
                planes.append(rows[:, : plane.width].copy())
            if frames and len(planes) >= frames:
                break
    assert planes, "no frames decoded"
    return np.stack(planes[: frames or None])


def assert_cut_out(media: bytes | Path, frames: int = 3) -> np.ndarray:
    """A sticker on transparency: its first frames decode with an alpha plane whose border (the
    outermost 2 px) is transparent and which holds something opaque. Returns those planes."""
    alpha = sticker_alpha(media, frames)
    border = np.concatenate([alpha[:, :2].ravel(), alpha[:, -2:].ravel(), alpha[:, :, :2].ravel(),
                             alpha[:, :, -2:].ravel()])
    assert border.max() <= 8, f"border not transparent: max alpha {border.max()}"
    assert (alpha >= 250).mean() > 0.1, "nothing opaque"
    return alpha


def assert_gif(media: bytes | Path) -> Probe:
    """sendAnimation's MP4 "GIF": H.264 yuv420p with even sides, no audio stream at all, at most 50 MB."""
    p = assert_telegram_video(media, with_audio=False)
    assert not p.has_audio, p
    return p
