"""A render -> a video sticker: WEBM with VP9, one side exactly 512 and the other at most 512, at
most 3 s and 30 fps, at most 256 KB, no audio stream; it loops (the loop chosen by `best_loop`);
ours has an alpha plane (the faces cut out: engine/convert/sticker_cut.py). Telegram's rules:
core.telegram.org/stickers."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..cancel import CancelToken
from ..ffmpeg_process import FfmpegProcess, run_ffmpeg
from ..frame_rate import capped_rate
from ..video_io import VideoInfo
from .core import BadRender, OutputTooLarge, StickerTry, even, stopped, threads, time_limit

if TYPE_CHECKING:
    from ..faces import Box
    from .sticker_cut import StickerCut

log = logging.getLogger(__name__)

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
_ANALYSIS_SIDE = 96  # long side of the frames the sticker's loop is chosen on
_ANALYSIS_MAX_S = 60.0  # a sticker comes from the first minute (renders are at most 30 s)


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


def analysis_frames(render: Path, info: VideoInfo, rate: Fraction, cancel: CancelToken | None) -> np.ndarray:
    """The whole render as small grey frames at `rate` (the sticker's frame grid)."""
    scale = _ANALYSIS_SIDE / max(info.width, info.height)
    w, h = max(2, even(info.width * scale)), max(2, even(info.height * scale))
    # Skipping the deblocking filter speeds decoding ~15% and changes nothing a motion measure sees.
    args = ["-v", "error", "-nostdin", "-skip_loop_filter", "all", "-t", f"{_ANALYSIS_MAX_S:g}",
            "-i", str(render), "-map", "0:v:0",
            "-vf", f"fps={rate},scale={w}:{h}:flags=area,format=gray", "-f", "rawvideo", "-pix_fmt", "gray", "-"]
    run = run_ffmpeg(args, f"analyse {render.name}", time_limit(info.duration), cancel)
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


def _sticker_size(info: VideoInfo) -> tuple[int, int]:
    if info.width >= info.height:
        return STICKER_SIDE, max(2, even(info.height * STICKER_SIDE / info.width))
    return max(2, even(info.width * STICKER_SIDE / info.height)), STICKER_SIDE


def sticker(render: Path, info: VideoInfo, part: Path, faces: Sequence[Box] | None,
             cancel: CancelToken | None) -> dict:
    from .sticker_cut import cut_out, sticker_cut  # cv2 and the segmentation model: stickers only

    # The sticker's frame grid: the render's own rate (capped at 30), also for the analysis, so a
    # frame index there is a frame of the sticker.
    rate = capped_rate(info.fps or STICKER_MAX_FPS, STICKER_MAX_FPS)
    frames = analysis_frames(render, info, rate, cancel)
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
        stopped(cancel)
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
    from ..faces import detect_faces

    args = ["-v", "error", "-nostdin", "-ss", f"{start:.4f}", "-i", str(render), "-map", "0:v:0",
            "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    run = run_ffmpeg(args, f"sticker faces {render.name}", time_limit(min(start, info.duration)), cancel)
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
    run = run_ffmpeg(args, f"sticker frames {render.name}", time_limit(STICKER_MAX_S + min(start, info.duration)),
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
        scale = f"scale={max(2, even(width / detail))}:{max(2, even(height / detail))}:flags=area,{scale}"
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
            "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", "-threads", threads(),
            "-g", str(frames + 1), "-f", "webm", str(part)]
    with FfmpegProcess(args, what, stdin=True, timeout=time_limit(STICKER_MAX_S), cancel=cancel) as proc:
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
