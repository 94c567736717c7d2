"""A kept render -> a round video note, a video sticker or a "GIF" (Telegram's sound-less MP4).

ffmpeg only, no model: each is a re-encode (or, for a GIF, a stream copy) of the render, written to
`OUT.part` and renamed at the end, so a conversion killed half-way leaves no output and a rerun
starts clean. Every ffmpeg goes through engine/ffmpeg_process.py with a time limit and the caller's
CancelToken.

Telegram's rules (Bot API, core.telegram.org/stickers):
- video note: square H.264 MP4, at most a minute, side below 640 (we use 384-512);
- video sticker: WEBM with VP9, one side exactly 512 and the other at most 512, at most 3 s and
  30 fps, at most 256 KB, no audio stream; it loops;
- animation ("GIF"): H.264 MP4 without sound, at most 50 MB; it loops.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .cancel import CancelToken
from .errors import EngineError, RenderCancelled
from .ffmpeg_process import run_ffmpeg
from .frame_rate import capped_rate
from .video_io import VideoInfo, probe

if TYPE_CHECKING:  # only the attributes x, y, w, h are used; faces.py would pull in cv2
    from .faces import Box

log = logging.getLogger(__name__)

__all__ = ["BadRender", "ConvertResult", "NoteCrop", "OutputKind", "OutputTooLarge", "StickerTry", "best_loop",
           "convert", "note_crop", "sticker_first_kbps"]

# --- Telegram's limits, and our margins inside them ----------------------------------------------
NOTE_MIN_SIDE = 384
NOTE_MAX_SIDE = 512  # Telegram refuses 640 and up ("wrong video note length")
NOTE_MAX_S = 60.0
NOTE_CUT_S = NOTE_MAX_S - 0.1  # AAC frames end on 1024-sample steps: never let them pass 60 s
NOTE_FACE_MARGIN = 0.35  # room around the faces (hair, chin, the head's sway), x the largest face
STICKER_SIDE = 512
STICKER_MAX_S = 3.0
STICKER_MAX_FPS = 30.0
STICKER_MAX_BYTES = 256_000  # "256 KB": the decimal reading, the stricter of the two
STICKER_MIN_LOOP_S = 2.0  # shorter loops repeat too visibly
SEAM_TOLERANCE = 0.5  # a loop's seam may miss the frame it stands for by half a step there
STICKER_MIN_KBPS = 150  # below this VP9 at 512 px smears a face: drop detail instead
STICKER_MAX_ENCODES = 8
# (detail divisor, frame step) tried in order once the bitrate alone cannot fit the budget:
# divisor d blurs by scaling to 1/d and back (VP9 at its coarsest quantiser still spends ~500 KB on
# 2-3 s of full-resolution noise), a frame step of 2 halves the frame rate.
# Every output is limited range (scale's out_range=tv): a full-range source (a phone video, the
# 蚂蚁呀嘿 template) would otherwise stay full range, as yuvj420p, which some players show washed out.
STICKER_LEVELS = ((1, 1), (2, 1), (4, 1), (8, 1), (8, 2))
GIF_MAX_BYTES = 50 * 1024 * 1024
_ANALYSIS_SIDE = 96  # long side of the frames the sticker's loop is chosen on
_ANALYSIS_MAX_S = 60.0  # a sticker comes from the first minute (renders are at most 30 s)


class OutputKind(StrEnum):
    NOTE = "note"
    STICKER = "sticker"
    GIF = "gif"


class BadRender(EngineError):
    """The render to convert is missing, not a readable video, or has no video frames."""


class OutputTooLarge(EngineError):
    """A sticker or GIF could not be brought under Telegram's size limit."""


@dataclass(frozen=True)
class NoteCrop:
    """The note's square in the render's pixels. It may reach past the frame (x or y negative, or
    x + side > width) where the faces need more than the frame's short side: that part is black."""

    x: int
    y: int
    side: int
    out_side: int  # the note's side, 384..512

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


# --- the note's square ---------------------------------------------------------------------------

def _even(v: float) -> int:
    return int(math.floor(v / 2)) * 2


def note_crop(faces: Sequence[Box] | None, width: int, height: int) -> NoteCrop:
    """The square a round video note is cut from, for a width x height render.

    Around the faces with NOTE_FACE_MARGIN of the largest face to spare, at least 384 px where the
    frame allows (so the note is not upscaled) and at most the frame's short side; grown until the
    round mask (the square's inscribed circle) holds every face box whole, which a square pushed
    against the frame's edge may not. When even the short side cannot (faces spread wider than
    it), the square is centred on the faces, up to the long side, and what lies outside the frame
    is black: bars are better than a face cut off. Without faces: the largest centred square.
    A face cut by the frame's own edge may lose a corner to the mask.
    """
    if width < 2 or height < 2:
        raise ValueError(f"frame {width}x{height} too small")
    short, long_ = min(width, height), max(width, height)
    boxes = []
    for f in faces or ():  # clipped to the frame: boxes from a slightly different decode stay usable
        x0, y0 = max(0.0, f.x), max(0.0, f.y)
        x1, y1 = min(float(width), f.x + f.w), min(float(height), f.y + f.h)
        if x1 > x0 and y1 > y0:
            boxes.append((x0, y0, x1, y1))
    if not boxes:
        side = _even(short)
        return NoteCrop(_even((width - side) / 2), _even((height - side) / 2), side, _note_side(side))
    ux0, uy0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    ux1, uy1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    cx, cy = (ux0 + ux1) / 2, (uy0 + uy1) / 2
    margin = NOTE_FACE_MARGIN * max(max(b[2] - b[0], b[3] - b[1]) for b in boxes)

    def holds(x: float, y: float, side: float) -> bool:
        r = side / 2
        return all(math.hypot(px - x - r, py - y - r) <= r + 1
                   for b in boxes for px in (b[0], b[2]) for py in (b[1], b[3]))

    def place(centre: float, side: int, size: int) -> int:
        return _even(min(max(centre - side / 2, 0), size - side))

    def at_edge(b: tuple[float, ...]) -> bool:
        return b[0] <= 0 or b[1] <= 0 or b[2] >= width or b[3] >= height

    roomy = math.hypot(ux1 - ux0 + 2 * margin, uy1 - uy0 + 2 * margin)
    side = max(2, _even(min(max(roomy, min(short, NOTE_MIN_SIDE)), short)))
    while True:
        x, y = place(cx, side, width), place(cy, side, height)
        if holds(x, y, side) or side >= _even(short):
            break
        side = min(_even(short), side + max(2, _even(short / 32)))
    tight = math.hypot(ux1 - ux0, uy1 - uy0)  # the circle through the union's corners
    if not holds(x, y, side) and tight > short and not all(at_edge(b) for b in boxes):
        side = _even(min(tight + 2, long_))
        x, y = _even(cx - side / 2), _even(cy - side / 2)
        if side <= width:  # bars only where the faces need them
            x = place(cx, side, width)
        if side <= height:
            y = place(cy, side, height)
    return NoteCrop(x, y, side, _note_side(side))


def _note_side(side: int) -> int:
    return _even(max(NOTE_MIN_SIDE, min(NOTE_MAX_SIDE, side)))


def _note_filter(crop: NoteCrop, width: int, height: int) -> str:
    steps = []
    x, y = crop.x, crop.y
    if crop.padded(width, height):
        pw, ph = max(width, x + crop.side) - min(0, x), max(height, y + crop.side) - min(0, y)
        steps.append(f"pad={pw}:{ph}:{-min(0, x)}:{-min(0, y)}:color=black")
        x, y = max(0, x), max(0, y)
    steps.append(f"crop={crop.side}:{crop.side}:{x}:{y}")
    flags = "area" if crop.out_side < crop.side else "bicubic"
    steps.append(f"scale={crop.out_side}:{crop.out_side}:flags={flags}:out_range=tv,setsar=1")
    return ",".join(steps)


# --- the sticker's loop --------------------------------------------------------------------------

def best_loop(frames: np.ndarray, fps: float, max_seconds: float = STICKER_MAX_S,
              min_seconds: float = STICKER_MIN_LOOP_S) -> tuple[int, int]:
    """(first frame, frame count) of the sticker: the loop of min..max seconds (shorter than
    max_seconds, strictly) that moves most while looping without a visible jump.

    `frames`: (N, ...) small grey frames. A loop [s, s+L) shows frame s again after s+L-1. That
    seam looks like any other step when the frames around it match the frames around the start:
    s+L like s, and s+L-1 like s-1 (so the motion also keeps its direction: a head swinging
    through the same place the other way matches one frame, not two). A window qualifies when that
    mismatch (the larger of the two mean differences) is at most SEAM_TOLERANCE of the steps the
    video takes there (the mean of the steps into s and out of s+L-1; at least the compression
    noise, the 10th percentile of all steps); among those the one with the most motion in all (the
    sum of its steps) wins, which also prefers longer loops. Without any (motion that never quite
    comes back, like 蚂蚁呀嘿's own), the loop whose seam differs least. A clip of max_seconds or
    less is taken whole.
    """
    n = len(frames)
    longest = max(1, math.ceil(max_seconds * fps) - 1)  # strictly under max_seconds
    if n <= longest + 1:
        return 0, min(n, longest)
    shortest = min(longest, max(2, math.ceil(min_seconds * fps)))
    f = frames.reshape(n, -1).astype(np.float32)
    steps = np.abs(np.diff(f, axis=0)).mean(axis=1)
    cum = np.concatenate([[0.0], np.cumsum(steps, dtype=np.float64)])
    floor = float(np.percentile(steps, 10))
    best: tuple[float, ...] | None = None  # compared as tuples: (qualifies, score, tie-break)
    choice = (0, longest)
    for length in range(shortest, longest + 1):
        if n - length < 2:
            break
        apart = np.abs(f[length:] - f[: n - length]).mean(axis=1)  # apart[t]: frames t and t+length
        starts = np.arange(1, n - length)
        jump = np.maximum(apart[starts], apart[starts - 1])
        motion = cum[starts + length - 1] - cum[starts]
        local = np.maximum((steps[starts - 1] + steps[starts + length - 1]) / 2, floor)
        ok = jump <= SEAM_TOLERANCE * local + 1e-6
        if ok.any():
            i = int(np.argmax(np.where(ok, motion, -1.0)))
            key = (1.0, float(motion[i]), 0.0)
        else:
            i = int(np.argmin(jump))
            key = (0.0, -float(jump[i]), float(motion[i]))
        if best is None or key > best:
            best, choice = key, (int(starts[i]), length)
    return choice


def _analysis_frames(render: Path, info: VideoInfo, rate: Fraction, cancel: CancelToken | None) -> np.ndarray:
    """The whole render as small grey frames at `rate` (the sticker's frame grid)."""
    scale = _ANALYSIS_SIDE / max(info.width, info.height)
    w, h = max(2, _even(info.width * scale)), max(2, _even(info.height * scale))
    # Skipping the deblocking filter speeds decoding ~15% and changes nothing a motion measure sees.
    args = ["-v", "error", "-nostdin", "-skip_loop_filter", "all", "-t", f"{_ANALYSIS_MAX_S:g}",
            "-i", str(render), "-map", "0:v:0",
            "-vf", f"fps={rate},scale={w}:{h}:flags=area,format=gray", "-f", "rawvideo", "-pix_fmt", "gray", "-"]
    run = run_ffmpeg(args, f"analyse {render.name}", _time_limit(info.duration), cancel)
    count = len(run.stdout) // (w * h)
    if count == 0:
        raise BadRender(f"{render.name} has no video frames")
    return np.frombuffer(run.stdout, np.uint8, count * w * h).reshape(count, h, w)


def sticker_first_kbps(seconds: float) -> int:
    """The first VP9 target: 90% of the byte budget over the clip (the rest: key frame overshoot
    and the WEBM container)."""
    return int(STICKER_MAX_BYTES * 8 * 0.9 / max(seconds, 0.1) / 1000)


# --- one conversion ------------------------------------------------------------------------------

def _time_limit(duration: float) -> float:
    """A one-shot ffmpeg's time limit: generous for a busy 2-core machine, finite for a stuck one."""
    return 60.0 + 4.0 * duration


def _threads() -> str:
    return str(min(8, os.cpu_count() or 2))


def _check_render(render: Path, cancel: CancelToken | None) -> VideoInfo:
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


def _stopped(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.cancelled:
        raise RenderCancelled(f"convert: {cancel.reason or 'cancelled'}")


def convert(render: Path, kind: OutputKind | str, out: Path, faces: Sequence[Box] | None = None,
            cancel: CancelToken | None = None) -> ConvertResult:
    """Re-encode `render` (an MP4 the engine made) as `kind` into `out`.

    `faces`: the animated faces' boxes in the render's pixels (the note centres on them; ignored
    otherwise). Raises BadRender, OutputTooLarge, FfmpegTimeout, RenderCancelled (all EngineError,
    one line each); `out` is then left as it was and no `.part` file remains.
    """
    started = time.monotonic()
    render, out, kind = Path(render), Path(out), OutputKind(kind)
    _stopped(cancel)
    info = _check_render(render, cancel)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    try:
        if kind is OutputKind.NOTE:
            extra = _note(render, info, part, faces, cancel)
        elif kind is OutputKind.STICKER:
            extra = _sticker(render, info, part, cancel)
        else:
            extra = _gif(render, info, part, cancel)
        _stopped(cancel)
        made = probe(part, cancel)
        size = part.stat().st_size
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    result = ConvertResult(path=out, kind=kind, width=made.width, height=made.height, duration=made.duration,
                           fps=made.fps, bytes=size, has_audio=made.audio_codec is not None,
                           seconds=time.monotonic() - started, **extra)
    log.info("converted %s to a %s: %dx%d, %.2f s, %d bytes, %d encode(s), %.1f s", render.name, kind,
             result.width, result.height, result.duration, result.bytes, result.encodes, result.seconds)
    return result


def _note(render: Path, info: VideoInfo, part: Path, faces: Sequence[Box] | None,
          cancel: CancelToken | None) -> dict:
    crop = note_crop(faces, info.width, info.height)
    # Renders carry AAC already: copied, not re-encoded; anything else becomes AAC.
    codec = ["-c:a", "copy"] if info.audio_codec == "aac" else ["-c:a", "aac", "-b:a", "128k"]
    audio = ["-map", "0:a:0?", *codec]
    args = ["-v", "error", "-nostdin", "-y", "-i", str(render), "-map", "0:v:0", *audio, "-sn", "-dn",
            "-t", f"{NOTE_CUT_S:.3f}",
            "-vf", _note_filter(crop, info.width, info.height),
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", "-f", "mp4", str(part)]
    run_ffmpeg(args, f"note {render.name}", _time_limit(min(info.duration, NOTE_MAX_S)), cancel)
    return {"encodes": 1, "crop": crop}


def _sticker_size(info: VideoInfo) -> tuple[int, int]:
    if info.width >= info.height:
        return STICKER_SIDE, max(2, _even(info.height * STICKER_SIDE / info.width))
    return max(2, _even(info.width * STICKER_SIDE / info.height)), STICKER_SIDE


def _sticker(render: Path, info: VideoInfo, part: Path, cancel: CancelToken | None) -> dict:
    # The sticker's frame grid: the render's own rate (capped at 30), also for the analysis, so a
    # frame index there is a frame of the sticker.
    rate = capped_rate(info.fps or STICKER_MAX_FPS, STICKER_MAX_FPS)
    frames = _analysis_frames(render, info, rate, cancel)
    first, count = best_loop(frames, float(rate))
    start = first / float(rate)
    seconds = count / float(rate)
    width, height = _sticker_size(info)
    budget_kbps = sticker_first_kbps(seconds)
    kbps, level = budget_kbps, 0
    tries: list[StickerTry] = []
    tried: list[tuple[int, int]] = []  # (kbps, bytes) at the current level
    while True:
        _stopped(cancel)
        detail, step = STICKER_LEVELS[level]
        size = _encode_vp9(render, part, start, rate / step, count // step, width, height, detail, kbps,
                           info.duration, cancel)
        tries.append(StickerTry(kbps, detail, step, size))
        log.debug("sticker %s: %s", render.name, tries[-1])
        if size <= STICKER_MAX_BYTES:
            return {"encodes": len(tries), "start": round(start, 3), "bitrate_kbps": kbps, "tries": tuple(tries)}
        tried.append((kbps, size))
        nxt = _next_try(tried, last_level=level + 1 == len(STICKER_LEVELS))
        if nxt is None or len(tries) >= STICKER_MAX_ENCODES:
            break
        drop_detail, kbps = nxt
        kbps = min(kbps, budget_kbps)
        if drop_detail:
            level, tried = level + 1, []
    raise OutputTooLarge(f"cannot fit a sticker of {render.name} in {STICKER_MAX_BYTES // 1000} KB "
                         f"after {len(tries)} encodes")


def _next_try(tried: Sequence[tuple[int, int]], last_level: bool) -> tuple[bool, int] | None:
    """After an encode over the budget: (drop detail?, the next target kbps), or None when nothing
    is left. `tried`: the (kbps, bytes) of the encodes at the current detail, oldest first.

    A file's size is about a fixed part (the key frame) plus the rate times the duration: the first
    step is proportional (10% under), later ones follow the line through the last two tries (5%
    under). Once the line says even STICKER_MIN_KBPS would not fit (or the size stopped following
    the rate: the quantiser is at its coarsest), the next detail level is tried instead.
    """
    kbps, size = tried[-1]
    proportional = kbps * STICKER_MAX_BYTES * 0.9 / size
    if len(tried) >= 2 and tried[-2][0] > kbps:
        slope = (tried[-2][1] - size) / (tried[-2][0] - kbps)  # bytes per kbps
        target = kbps - (size - 0.95 * STICKER_MAX_BYTES) / slope if slope > 0 else 0.0
        at_floor = size - (kbps - STICKER_MIN_KBPS) * slope if slope > 0 else float(size)
    else:
        target, at_floor = proportional, size * STICKER_MIN_KBPS / kbps
    if target >= STICKER_MIN_KBPS:
        return False, int(target)
    if at_floor <= STICKER_MAX_BYTES and kbps > STICKER_MIN_KBPS:
        return False, STICKER_MIN_KBPS
    if last_level:
        return None
    return True, max(STICKER_MIN_KBPS, int(proportional))


def _encode_vp9(render: Path, part: Path, start: float, rate: Fraction, frames: int, width: int, height: int,
                detail: int, kbps: int, duration: float, cancel: CancelToken | None) -> int:
    # Input seeking decodes from the key frame before `start` and drops the frames before it; half
    # a frame of margin keeps frame `first` and drops `first - 1` whatever the timestamps' rounding.
    # The kept frames are then rebased to 0, so the fps filter's grid starts on frame `first`.
    seek = max(0.0, start - 0.5 / float(rate))
    scale = f"scale={width}:{height}:out_range=tv"
    if detail > 1:
        scale = f"scale={max(2, _even(width / detail))}:{max(2, _even(height / detail))}:flags=area,{scale}"
    # Realtime VP9 at cpu-used 8: on 蚂蚁呀嘿's sticker window at 787 kbps, SSIM 0.964 in 0.7 s, where
    # two-pass "good" (cpu-used 4) scores 0.965 in 5.4 s (benchmarks/bench_convert.py --modes).
    # Constant bitrate (min = max = target) keeps a 3 s clip near its target, where realtime VBR
    # overshoots 2-4x on detailed video (its key frame; a buffer longer than the clip).
    args = ["-v", "error", "-nostdin", "-y", "-ss", f"{seek:.4f}", "-i", str(render), "-map", "0:v:0",
            "-an", "-sn", "-dn", "-map_metadata", "-1",
            "-vf", f"setpts=PTS-STARTPTS,fps={rate},{scale},setsar=1",
            "-frames:v", str(max(1, frames)), "-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p",
            "-b:v", f"{kbps}k", "-minrate", f"{kbps}k", "-maxrate", f"{kbps}k",
            "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", "-threads", _threads(),
            "-g", str(max(1, frames) + 1), "-f", "webm", str(part)]
    run_ffmpeg(args, f"sticker {render.name}", _time_limit(STICKER_MAX_S + min(start, duration)), cancel)
    return part.stat().st_size


def _copyable(info: VideoInfo) -> bool:
    """Whether the render's video can go into the GIF as it is: H.264 yuv420p, even sides, upright."""
    return (info.video_codec == "h264" and info.pix_fmt == "yuv420p" and not info.width % 2
            and not info.height % 2 and info.rotation % 360 == 0)


def _gif(render: Path, info: VideoInfo, part: Path, cancel: CancelToken | None) -> dict:
    head = ["-v", "error", "-nostdin", "-y", "-i", str(render), "-map", "0:v:0", "-an", "-sn", "-dn"]
    tail = ["-movflags", "+faststart", "-f", "mp4", str(part)]
    encodes = 0
    # A render is H.264 yuv420p already: its video track copied as it is (no quality lost, ~0.1 s).
    if _copyable(info):
        run_ffmpeg([*head, "-c:v", "copy", *tail], f"gif {render.name}", _time_limit(1.0), cancel)
        if part.stat().st_size <= GIF_MAX_BYTES:
            return {"encodes": encodes}
    # Otherwise H.264 at a CRF, its rate capped so that the whole clip stays under 50 MB.
    cap = int(GIF_MAX_BYTES * 8 * 0.9 / max(info.duration, 1.0) / 1000)
    run_ffmpeg([*head, "-vf", "crop=trunc(iw/2)*2:trunc(ih/2)*2,scale=out_range=tv",
                "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-maxrate", f"{cap}k", "-bufsize", f"{cap}k",
                "-pix_fmt", "yuv420p", *tail],
               f"gif {render.name}", _time_limit(info.duration), cancel)
    encodes += 1
    if part.stat().st_size > GIF_MAX_BYTES:
        raise OutputTooLarge(f"cannot fit {render.name} as a GIF in {GIF_MAX_BYTES // (1024 * 1024)} MB")
    return {"encodes": encodes}
