"""A kept render -> a round video note, a video sticker or a "GIF" (Telegram's sound-less MP4).

ffmpeg (and, for a sticker, the bundled person segmentation: engine/sticker_cut.py): each is a
re-encode (or, for a GIF, a stream copy) of the render, written to `OUT.part` and renamed at the
end, so a conversion killed half-way leaves no output and a rerun starts clean. Every ffmpeg goes through engine/ffmpeg_process.py with a time limit and the caller's
CancelToken.

Telegram's rules (Bot API, core.telegram.org/stickers):
- video note: square H.264 MP4, at most a minute, side below 640 (we use 384-512);
- video sticker: WEBM with VP9, one side exactly 512 and the other at most 512, at most 3 s and
  30 fps, at most 256 KB, no audio stream; it loops; ours has an alpha plane (the faces cut out);
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
from .cpu_features import usable_cpus
from .errors import EngineError, RenderCancelled
from .ffmpeg_process import FfmpegProcess, run_ffmpeg
from .frame_rate import capped_rate
from .video_io import VideoInfo, probe

if TYPE_CHECKING:  # only the attributes x, y, w, h are used; faces.py would pull in cv2
    from .faces import Box
    from .sticker_cut import StickerCut

log = logging.getLogger(__name__)

__all__ = ["CONVERTIBLE", "BadRender", "ConvertResult", "NoteCrop", "OutputKind", "OutputTooLarge",
           "StickerTry", "best_loop", "convert", "note_crop", "sticker_first_kbps"]

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
STICKER_ALPHA_SHARE = 0.5  # of a cut-out sticker's bytes, its alpha plane's (~40% on a face photo's)
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


# --- the note's square ---------------------------------------------------------------------------

def _even(v: float) -> int:
    return int(math.floor(v / 2)) * 2


_Rect = tuple[float, float, float, float]  # x0, y0, x1, y1


def note_crop(faces: Sequence[Box] | None, width: int, height: int) -> NoteCrop:
    """The square a round video note is cut from, for a width x height render.

    Never larger than the frame's short side and never outside the frame (no black bars). It holds
    as many faces as fit: a face is held when its box lies within the round mask (the square's
    inscribed circle); of the placements holding the most faces, the one holding the largest wins
    (_Placements). Around the faces held: NOTE_FACE_MARGIN of the largest face to spare, at least
    384 px where the frame allows (so the note is not upscaled), centred on those faces and pushed
    back inside the frame, grown until the circle holds them whole (or, where the frame's edge is
    in the way, the searched placement nearest that). When no circle can hold any face (one cut by
    the frame's edge), the square is centred on the largest. Without faces: the largest centred
    square.
    """
    if width < 2 or height < 2:
        raise ValueError(f"frame {width}x{height} too small")
    short = min(width, height)
    boxes: list[_Rect] = []
    for f in faces or ():  # clipped to the frame: boxes from a slightly different decode stay usable
        x0, y0 = max(0.0, f.x), max(0.0, f.y)
        x1, y1 = min(float(width), f.x + f.w), min(float(height), f.y + f.h)
        if x1 > x0 and y1 > y0:
            boxes.append((x0, y0, x1, y1))
    if not boxes:
        side = _even(short)
        return NoteCrop(_even((width - side) / 2), _even((height - side) / 2), side, _note_side(side))
    search = _Placements(boxes, width, height)
    chosen = search.most_faces()
    held = [boxes[i] for i in chosen] or [max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))]
    ux0, uy0 = min(b[0] for b in held), min(b[1] for b in held)
    ux1, uy1 = max(b[2] for b in held), max(b[3] for b in held)
    cx, cy = (ux0 + ux1) / 2, (uy0 + uy1) / 2
    margin = NOTE_FACE_MARGIN * max(max(b[2] - b[0], b[3] - b[1]) for b in held)

    def place(centre: float, side: int, size: int) -> int:
        return _even(min(max(centre - side / 2, 0), size - side))

    roomy = math.hypot(ux1 - ux0 + 2 * margin, uy1 - uy0 + 2 * margin)
    wanted = max(2, _even(min(max(roomy, min(short, NOTE_MIN_SIDE)), short)))
    side = wanted
    while True:
        x, y = place(cx, side, width), place(cy, side, height)
        if not chosen or _holds(held, x, y, side) or side >= _even(short):
            break
        side = min(_even(short), side + max(2, _even(short / 32)))
    if chosen and not _holds(held, x, y, side):  # the frame's edge in the way: the search's placement
        x, y, side = search.place(chosen, wanted, cx, cy)
    return NoteCrop(x, y, side, _note_side(side), sum(_holds([b], x, y, side) for b in boxes))


_NOTE_GRID = 4  # px: the sides and the tops the note's placement search tries


class _Placements:
    """Every square inside the frame whose side and top are multiples of _NOTE_GRID (and the short
    side itself), and, for each face, the exact range of the square's centre x (a continuous
    value) at which its circle holds the face's box: the four corners within the radius, i.e. the
    farther row of corners sqrt(r² - dy²) or less from the centre in x. A face cannot fit in a
    circle smaller than its diagonal, so sides start there."""

    def __init__(self, boxes: Sequence[_Rect], width: int, height: int) -> None:
        b = np.array(boxes, np.float64)
        self.area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        top_side = _even(min(width, height))
        smallest = float(np.hypot(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]).min())
        first = min(top_side, max(_NOTE_GRID, int(smallest // _NOTE_GRID) * _NOTE_GRID))
        sides = sorted({*range(first, top_side + 1, _NOTE_GRID), top_side})
        rows = [(s, t) for s in sides for t in range(0, height - s + 1, _NOTE_GRID)]
        self.side = np.array([s for s, _ in rows], np.float64)
        self.top = np.array([t for _, t in rows], np.int64)
        r = self.side[:, None] / 2
        centre_y = self.top[:, None] + r
        dy = np.maximum(np.abs(b[None, :, 1] - centre_y), np.abs(b[None, :, 3] - centre_y))
        half = np.sqrt(np.clip(r * r - dy * dy, 0.0, None))
        self.lo = np.maximum(b[None, :, 2] - half, r)
        self.hi = np.minimum(b[None, :, 0] + half, width - r)
        self.ok = (dy <= r) & (self.lo <= self.hi)  # (rows, faces)
        self.width = width

    def most_faces(self) -> list[int]:
        """The faces of the placement holding the most, then the largest faces ([] if none fits):
        in a row, some face's lowest centre x is a best one, so those are the candidates."""
        if not self.ok.any():
            return []
        x = self.lo[:, :, None]  # candidate centre x: each face's lowest (rows, candidates, faces)
        holds = self.ok[:, None, :] & (self.lo[:, None, :] <= x) & (x <= self.hi[:, None, :])
        holds &= self.ok[:, :, None]
        score = holds.sum(axis=2) * (self.area.sum() + 1.0) + (holds * self.area).sum(axis=2)
        row, cand = np.unravel_index(int(np.argmax(score)), score.shape)
        return [int(i) for i in np.flatnonzero(holds[row, cand])]

    def place(self, chosen: Sequence[int], wanted: int, cx: float, cy: float) -> tuple[int, int, int]:
        """(x, y, side) holding every chosen face: the side nearest `wanted` (larger first), then
        the top nearest the faces' middle, then the centre x nearest it."""
        idx = list(chosen)
        lo, hi = self.lo[:, idx].max(axis=1), self.hi[:, idx].min(axis=1)
        ok = self.ok[:, idx].all(axis=1) & (lo <= hi)
        rows = np.flatnonzero(ok)
        key = [(s < wanted, abs(s - wanted), abs(t + s / 2 - cy)) for s, t in zip(self.side[rows], self.top[rows])]
        k = int(rows[min(range(len(rows)), key=key.__getitem__)])
        side = int(self.side[k])
        x = _even(min(max(min(max(cx, lo[k]), hi[k]) - side / 2, 0), self.width - side))
        return x, int(self.top[k]), side


def _holds(boxes: Sequence[_Rect], x: float, y: float, side: float) -> bool:
    """Whether the circle inscribed in the square (x, y, side) holds every box whole (1 px spare)."""
    r = side / 2
    return all(math.hypot(px - x - r, py - y - r) <= r + 1
               for b in boxes for px in (b[0], b[2]) for py in (b[1], b[3]))


def _note_side(side: int) -> int:
    return _even(max(NOTE_MIN_SIDE, min(NOTE_MAX_SIDE, side)))


def _note_filter(crop: NoteCrop) -> str:
    flags = "area" if crop.out_side < crop.side else "bicubic"
    return (f"crop={crop.side}:{crop.side}:{crop.x}:{crop.y},"
            f"scale={crop.out_side}:{crop.out_side}:flags={flags}:out_range=tv,setsar=1")


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


def sticker_first_kbps(seconds: float, alpha: bool = False) -> int:
    """The first VP9 target: 90% of the byte budget over the clip (the rest: key frame overshoot
    and the WEBM container); with an alpha plane, STICKER_ALPHA_SHARE less (libvpx encodes the
    alpha as a second stream at the same target)."""
    share = 1.0 - STICKER_ALPHA_SHARE if alpha else 1.0
    return int(STICKER_MAX_BYTES * 8 * 0.9 * share / max(seconds, 0.1) / 1000)


# --- one conversion ------------------------------------------------------------------------------

def _time_limit(duration: float) -> float:
    """A one-shot ffmpeg's time limit: generous for a busy 2-core machine, finite for a stuck one."""
    return 60.0 + 4.0 * duration


def _threads() -> str:
    return str(min(8, usable_cpus()))


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
    """Re-encode `render` (an MP4 the engine made) as `kind` (one of CONVERTIBLE) into `out`.

    `faces`: the animated faces' boxes in the render's pixels (the note centres on them, the sticker
    shows them cut out; None: for a sticker, the faces found in its first frame; []: none, the
    whole frame). Raises BadRender, OutputTooLarge, FfmpegTimeout, RenderCancelled (all
    EngineError, one line each); `out` is then left as it was and no `.part` file remains.
    """
    started = time.monotonic()
    render, out, kind = Path(render), Path(out), OutputKind(kind)
    if kind not in CONVERTIBLE:
        raise ValueError(f"convert: a render is already a {kind}")
    _stopped(cancel)
    info = _check_render(render, cancel)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    try:
        if kind is OutputKind.NOTE:
            extra = _note(render, info, part, faces, cancel)
        elif kind in (OutputKind.STICKER, OutputKind.PACK):
            extra = _sticker(render, info, part, faces, cancel)
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
            "-vf", _note_filter(crop),
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", "-f", "mp4", str(part)]
    run_ffmpeg(args, f"note {render.name}", _time_limit(min(info.duration, NOTE_MAX_S)), cancel)
    return {"encodes": 1, "crop": crop}


def _sticker_size(info: VideoInfo) -> tuple[int, int]:
    if info.width >= info.height:
        return STICKER_SIDE, max(2, _even(info.height * STICKER_SIDE / info.width))
    return max(2, _even(info.width * STICKER_SIDE / info.height)), STICKER_SIDE


def _sticker(render: Path, info: VideoInfo, part: Path, faces: Sequence[Box] | None,
             cancel: CancelToken | None) -> dict:
    from .sticker_cut import cut_out, sticker_cut  # cv2 and the segmentation model: stickers only

    # The sticker's frame grid: the render's own rate (capped at 30), also for the analysis, so a
    # frame index there is a frame of the sticker.
    rate = capped_rate(info.fps or STICKER_MAX_FPS, STICKER_MAX_FPS)
    frames = _analysis_frames(render, info, rate, cancel)
    first, count = best_loop(frames, float(rate))
    start = first / float(rate)
    if faces is None:
        faces = _faces_at(render, info, start, cancel)
    cut = sticker_cut(faces, info.width, info.height)
    width, height = (cut.out_w, cut.out_h) if cut is not None else _sticker_size(info)
    rgb = _loop_frames(render, info, start, rate, count, cut, width, height, cancel)
    count = len(rgb)
    seconds = count / float(rate)
    # Cut out: RGBA, encoded as VP9 with an alpha plane (yuva420p; WEBM keeps it beside the colour
    # as a BlockAdditional, which only libvpx decodes). Without faces: the whole frame, opaque.
    pixels = cut_out(rgb, cut.faces, cancel=cancel) if cut is not None else rgb
    del rgb
    budget_kbps = sticker_first_kbps(seconds, alpha=cut is not None)
    kbps, level = budget_kbps, 0
    tries: list[StickerTry] = []
    tried: list[tuple[int, int]] = []  # (kbps, bytes) at the current level
    while True:
        _stopped(cancel)
        detail, step = STICKER_LEVELS[level]
        size = _encode_vp9(pixels, part, rate, step, detail, kbps, f"sticker {render.name}", cancel)
        tries.append(StickerTry(kbps, detail, step, size))
        log.debug("sticker %s: %s", render.name, tries[-1])
        if size <= STICKER_MAX_BYTES:
            return {"encodes": len(tries), "start": round(start, 3), "bitrate_kbps": kbps, "tries": tuple(tries),
                    "cut": cut}
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


def _faces_at(render: Path, info: VideoInfo, start: float, cancel: CancelToken | None) -> list[Box]:
    """The faces in the render's frame at `start` (a sticker made without the job's boxes)."""
    from .faces import detect_faces

    args = ["-v", "error", "-nostdin", "-ss", f"{start:.4f}", "-i", str(render), "-map", "0:v:0",
            "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    run = run_ffmpeg(args, f"sticker faces {render.name}", _time_limit(min(start, info.duration)), cancel)
    size = info.width * info.height * 3
    if len(run.stdout) < size:
        return []
    return list(detect_faces(np.frombuffer(run.stdout, np.uint8, size).reshape(info.height, info.width, 3)))


def _loop_frames(render: Path, info: VideoInfo, start: float, rate: Fraction, count: int, cut: StickerCut | None,
                 width: int, height: int, cancel: CancelToken | None) -> np.ndarray:
    """The sticker's frames as RGB (N, height, width, 3): the loop's, cropped to the cut."""
    # Input seeking decodes from the key frame before `start` and drops the frames before it; half
    # a frame of margin keeps frame `first` and drops `first - 1` whatever the timestamps' rounding.
    # The kept frames are then rebased to 0, so the fps filter's grid starts on frame `first`.
    seek = max(0.0, start - 0.5 / float(rate))
    crop = f"crop={cut.w}:{cut.h}:{cut.x}:{cut.y}," if cut is not None else ""
    source_w, source_h = (cut.w, cut.h) if cut is not None else (info.width, info.height)
    flags = "area" if width < source_w else "bicubic"
    args = ["-v", "error", "-nostdin", "-ss", f"{seek:.4f}", "-i", str(render), "-map", "0:v:0",
            "-vf", f"setpts=PTS-STARTPTS,fps={rate},{crop}scale={width}:{height}:flags={flags}",
            "-frames:v", str(max(1, count)), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    run = run_ffmpeg(args, f"sticker frames {render.name}", _time_limit(STICKER_MAX_S + min(start, info.duration)),
                     cancel)
    n = len(run.stdout) // (width * height * 3)
    if n == 0:
        raise BadRender(f"{render.name} has no video frames")
    return np.frombuffer(run.stdout, np.uint8, n * width * height * 3).reshape(n, height, width, 3)


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


def _encode_vp9(pixels: np.ndarray, part: Path, rate: Fraction, step: int, detail: int, kbps: int, what: str,
                cancel: CancelToken | None) -> int:
    """One VP9 encode of the sticker's frames (N, H, W, 3 or 4: with an alpha plane); its size."""
    n, height, width, channels = pixels.shape
    scale = f"scale={width}:{height}:out_range=tv"
    if detail > 1:
        scale = f"scale={max(2, _even(width / detail))}:{max(2, _even(height / detail))}:flags=area,{scale}"
    frames = max(1, n // step)
    # Realtime VP9 at cpu-used 8: on 蚂蚁呀嘿's sticker window at 787 kbps, SSIM 0.964 in 0.7 s, where
    # two-pass "good" (cpu-used 4) scores 0.965 in 5.4 s (benchmarks/bench_convert.py --modes).
    # Constant bitrate (min = max = target) keeps a 3 s clip near its target, where realtime VBR
    # overshoots 2-4x on detailed video (its key frame; a buffer longer than the clip).
    args = ["-v", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "rgba" if channels == 4 else "rgb24",
            "-s", f"{width}x{height}", "-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "-",
            "-an", "-sn", "-dn", "-map_metadata", "-1",
            "-vf", f"fps={rate / step},{scale},setsar=1",
            "-frames:v", str(frames), "-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p" if channels == 4 else "yuv420p",
            "-b:v", f"{kbps}k", "-minrate", f"{kbps}k", "-maxrate", f"{kbps}k",
            "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", "-threads", _threads(),
            "-g", str(frames + 1), "-f", "webm", str(part)]
    with FfmpegProcess(args, what, stdin=True, timeout=_time_limit(STICKER_MAX_S), cancel=cancel) as proc:
        try:
            for frame in pixels:
                with proc.stalled():
                    proc.stdin.write(frame.tobytes())
            proc.stdin.close()
        except (BrokenPipeError, ValueError):  # ValueError: stdin closed after a kill
            proc.wait()
            raise proc.error() from None
        proc.finish()
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
