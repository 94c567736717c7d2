"""What every conversion shares: the kinds, the result, the errors, and the helpers of a one-shot ffmpeg.

A conversion re-encodes (or, for a GIF, stream-copies) a kept render, written to `OUT.part` and
renamed at the end, so a conversion killed half-way leaves no output and a rerun starts clean. Every
ffmpeg goes through engine/ffmpeg_process.py with a time limit and the caller's CancelToken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from ..cancel import CancelToken
from ..cpu_features import usable_cpus
from ..errors import EngineError, RenderCancelled
from ..video_io import VideoInfo, probe

if TYPE_CHECKING:  # a type only; sticker_cut.py pulls in cv2 and the segmentation model
    from .sticker_cut import StickerCut


class OutputKind(StrEnum):
    """What a render becomes: the video itself, or one of its conversions. The one enum of it: the
    jobs table stores these values (storage keeps them as text: it imports nothing of the engine)."""

    VIDEO = "video"  # the render as made: nothing to convert
    NOTE = "note"  # a round video note
    STICKER = "sticker"  # a video sticker, sent on its own
    GIF = "gif"  # an animation: MP4 without sound, loops
    PACK = "pack"  # a video sticker added to the user's own sticker set: encoded as a STICKER


CONVERTIBLE = (OutputKind.NOTE, OutputKind.STICKER, OutputKind.GIF, OutputKind.PACK)


class BadRender(EngineError):
    """The render to convert is missing, not a readable video, or has no video frames."""


class OutputTooLarge(EngineError):
    """A sticker or GIF could not be brought under Telegram's size limit."""


@dataclass(frozen=True)
class NoteCrop:
    """The note's square in the render's pixels, always inside the frame (side <= its short side)."""

    x: int
    y: int
    side: int
    out_side: int  # the note's side, 384..512
    faces: int = 0  # how many of the faces given lie within the note's circle

    def padded(self, width: int, height: int) -> bool:
        return self.x < 0 or self.y < 0 or self.x + self.side > width or self.y + self.side > height


@dataclass(frozen=True)
class StickerTry:
    """One encode of a sticker's search."""

    kbps: int  # VP9 target bitrate
    detail: int  # 1: full detail; d: blurred by scaling to 1/d and back
    frame_step: int  # 1: the render's frame rate; 2: half of it
    bytes: int


@dataclass(frozen=True)
class ConvertResult:
    path: Path
    kind: OutputKind
    width: int
    height: int
    duration: float  # seconds (container)
    fps: float
    bytes: int
    has_audio: bool
    seconds: float  # wall time of the conversion
    encodes: int  # ffmpeg encodes run (a sticker's bitrate search may take several)
    start: float | None = None  # sticker: where in the render it starts, seconds
    bitrate_kbps: int | None = None  # sticker: the VP9 target bitrate that fitted
    crop: NoteCrop | None = None  # note: the square taken from the render
    tries: tuple[StickerTry, ...] = ()  # sticker: every encode of the bitrate search, in order
    cut: StickerCut | None = None  # sticker: the faces' rectangle shown on transparency (None: whole frame)


def even(v: float) -> int:
    return int(math.floor(v / 2)) * 2


def time_limit(duration: float) -> float:
    """A one-shot ffmpeg's time limit: generous for a busy 2-core machine, finite for a stuck one."""
    return 60.0 + 4.0 * duration


def threads() -> str:
    return str(min(8, usable_cpus()))


def check_render(render: Path, cancel: CancelToken | None) -> VideoInfo:
    if not render.is_file():
        raise BadRender(f"render not found: {render}")
    try:
        info = probe(render, cancel)
    except EngineError as exc:
        if type(exc) is not EngineError:  # a timeout or a cancel keeps its class
            raise
        raise BadRender(f"not a readable video: {render.name}") from exc
    if not info.has_video or info.width < 2 or info.height < 2:
        raise BadRender(f"{render.name} has no video stream")
    return info


def stopped(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.cancelled:
        raise RenderCancelled(f"convert: {cancel.reason or 'cancelled'}")
