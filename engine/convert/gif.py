"""A render -> an animation ("GIF"): Telegram's sound-less H.264 MP4, at most 50 MB; it loops."""

from __future__ import annotations

from pathlib import Path

from ..cancel import CancelToken
from ..ffmpeg_process import run_ffmpeg
from ..video_io import VideoInfo
from .core import OutputTooLarge, time_limit

GIF_MAX_BYTES = 50 * 1024 * 1024


def _copyable(info: VideoInfo) -> bool:
    """Whether the render's video can go into the GIF as it is: H.264 yuv420p, even sides, upright."""
    return (info.video_codec == "h264" and info.pix_fmt == "yuv420p" and not info.width % 2
            and not info.height % 2 and info.rotation % 360 == 0)


def gif(render: Path, info: VideoInfo, part: Path, cancel: CancelToken | None) -> dict:
    head = ["-v", "error", "-nostdin", "-y", "-i", str(render), "-map", "0:v:0", "-an", "-sn", "-dn"]
    tail = ["-movflags", "+faststart", "-f", "mp4", str(part)]
    encodes = 0
    # A render is H.264 yuv420p already: its video track copied as it is (no quality lost, ~0.1 s).
    if _copyable(info):
        run_ffmpeg([*head, "-c:v", "copy", *tail], f"gif {render.name}", time_limit(1.0), cancel)
        if part.stat().st_size <= GIF_MAX_BYTES:
            return {"encodes": encodes}
    # Otherwise H.264 at a CRF, its rate capped so that the whole clip stays under 50 MB.
    cap = int(GIF_MAX_BYTES * 8 * 0.9 / max(info.duration, 1.0) / 1000)
    run_ffmpeg([*head, "-vf", "crop=trunc(iw/2)*2:trunc(ih/2)*2,scale=out_range=tv",
                "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-maxrate", f"{cap}k", "-bufsize", f"{cap}k",
                "-pix_fmt", "yuv420p", *tail],
               f"gif {render.name}", time_limit(info.duration), cancel)
    encodes += 1
    if part.stat().st_size > GIF_MAX_BYTES:
        raise OutputTooLarge(f"cannot fit {render.name} as a GIF in {GIF_MAX_BYTES // (1024 * 1024)} MB")
    return {"encodes": encodes}
