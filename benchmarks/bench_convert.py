"""Benchmark: seconds per conversion of a kept render into a video note, a sticker and a GIF.

The renders are the 蚂蚁呀嘿 template's 222 frames with its song, written as the engine writes a
render (engine.video_io.VideoWriter: H.264 veryfast CRF 20 yuv420p + AAC, +faststart) at 512x512
and at 960x1280 (a 3:4 phone photo at [engine].max_side 1280); without
../shared/media/mayiyahei.MP4, a generated shaking head of the same length. Each conversion runs
--runs times; the median and the best are printed with the sticker's search (encodes, bitrate) and
the time its loop analysis takes. Usage:

    python benchmarks/bench_convert.py [--video mayiyahei.MP4] [--runs 3] [--hard] [--modes]

--hard adds the worst case for the sticker's search: 3.5 s of full-resolution grey noise.
--modes times the VP9 settings that were considered for the sticker on the chosen 3 s window at the
first bitrate (seconds, bytes, SSIM against the window): the engine's realtime constant-bitrate
encode, realtime VBR, "good" one-pass and "good" two-pass.
Timings depend on what else runs: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from engine.convert import OutputKind, best_loop, convert, sticker_first_kbps  # noqa: E402
from engine.convert.sticker import analysis_frames  # noqa: E402
from engine.cpu_features import cpu_model  # noqa: E402
from engine.ffmpeg_process import run_ffmpeg  # noqa: E402
from engine.video_io import VideoWriter, probe, read_frames  # noqa: E402


def _renders(video: Path | None, work: Path) -> list[tuple[str, Path]]:
    """The same frames written as the engine writes a render: RGB frames into VideoWriter, with the
    template's song muxed in the same pass."""
    import cv2

    if video is not None and video.is_file():
        song: Path | None = video
        square = list(read_frames(video, size=960))
        fps = probe(video).fps
    else:
        import skimage.data

        song = work / "song.m4a"
        run_ffmpeg(["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=7.42",
                    "-c:a", "aac", str(song)], "song", 60)
        head = cv2.resize(skimage.data.astronaut()[0:250, 100:350], (960, 960))
        square = [cv2.warpAffine(head, cv2.getRotationMatrix2D((480, 480), 10 * np.sin(2 * np.pi * i / 16), 1.0),
                                 (960, 960), borderMode=cv2.BORDER_REFLECT) for i in range(222)]
        fps = 29.91
    out = []
    for name, (w, h) in (("512x512", (512, 512)), ("960x1280", (960, 1280))):
        path = work / f"render-{name}.mp4"
        writer = VideoWriter(path, w, h, fps, audio=song, duration=len(square) / fps)
        canvas = np.full((h, w, 3), 128, np.uint8)
        for frame in square:
            if w == 512:
                writer.write(cv2.resize(frame, (512, 512), interpolation=cv2.INTER_AREA))
            else:
                canvas[160:1120] = frame  # a 3:4 photo: the face in the middle
                writer.write(canvas)
        writer.close()
        out.append((name, path))
    return out


def _noise(work: Path) -> Path:
    rng = np.random.default_rng(3)
    path = work / "noise.mp4"
    writer = VideoWriter(path, 512, 512, 30.0, crf=14)
    for _ in range(105):
        writer.write(np.repeat(rng.integers(0, 256, (512, 512, 1), dtype=np.uint8), 3, axis=2))
    writer.close()
    return path


def _time(render: Path, kind: OutputKind, out: Path, runs: int):
    seconds, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = convert(render, kind, out)
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), min(seconds), result


def _analysis_seconds(render: Path, runs: int) -> float:
    info = probe(render)
    rate = Fraction(min(info.fps, 30.0)).limit_denominator(1001)
    seconds = []
    for _ in range(runs):
        t0 = time.perf_counter()
        best_loop(analysis_frames(render, info, rate, None), float(rate))
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds)


def _modes(render: Path, work: Path) -> None:
    info = probe(render)
    rate = Fraction(min(info.fps, 30.0)).limit_denominator(1001)
    first, count = best_loop(analysis_frames(render, info, rate, None), float(rate))
    kbps = sticker_first_kbps(count / float(rate))
    window = work / "window.nut"  # the sticker's frames, lossless, so every mode reads the same input
    run_ffmpeg(["-v", "error", "-nostdin", "-y", "-ss", f"{max(0.0, (first - 0.5) / float(rate)):.4f}",
                "-i", str(render), "-an", "-vf", f"setpts=PTS-STARTPTS,fps={rate},scale=512:-2",
                "-frames:v", str(count), "-c:v", "ffv1", str(window)], "window", 120)
    base = ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-b:v", f"{kbps}k", "-row-mt", "1", "-threads", "2"]
    modes = {
        "realtime cpu-used 8, CBR (the engine's)": [["-minrate", f"{kbps}k", "-maxrate", f"{kbps}k",
                                                     "-deadline", "realtime", "-cpu-used", "8"]],
        "realtime cpu-used 8, VBR": [["-deadline", "realtime", "-cpu-used", "8"]],
        "good cpu-used 4, one pass": [["-deadline", "good", "-cpu-used", "4"]],
        "good cpu-used 4, two passes": [["-deadline", "good", "-cpu-used", "4", "-pass", "1"],
                                        ["-deadline", "good", "-cpu-used", "4", "-pass", "2"]],
    }
    print(f"\nVP9 modes on the sticker window of {render.name} ({count} frames at {float(rate):.2f} fps, "
          f"target {kbps} kbps):")
    for name, passes in modes.items():
        out = work / "mode.webm"
        t0 = time.perf_counter()
        for i, extra in enumerate(passes):
            last = i == len(passes) - 1
            target = ["-f", "webm", str(out)] if last else ["-f", "null", "-"]
            log = ["-passlogfile", str(work / "pass")] if len(passes) > 1 else []
            run_ffmpeg(["-v", "error", "-nostdin", "-y", "-i", str(window), *base, *extra, *log, *target],
                       "mode", 600)
        seconds = time.perf_counter() - t0
        ssim = run_ffmpeg(["-nostdin", "-hide_banner", "-i", str(out), "-i", str(window), "-lavfi", "ssim",
                           "-f", "null", "-"], "ssim", 120)
        m = re.search(r"All:([\d.]+)", ssim.stderr_tail)
        print(f"  {name:<42} {seconds:6.2f} s  {out.stat().st_size / 1000:7.1f} KB  SSIM {m.group(1) if m else '?'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=ROOT.parent / "shared" / "media" / "mayiyahei.MP4")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--hard", action="store_true", help="also the sticker of 3.5 s of full-resolution noise")
    ap.add_argument("--modes", action="store_true", help="also time the VP9 settings considered")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-convert-") as tmp:
        work = Path(tmp)
        renders = _renders(args.video, work)
        source = args.video.name if args.video.is_file() else "a generated shaking head"
        print(f"CPU: {cpu_model()}, {os.cpu_count()} vCPU; load average {os.getloadavg()[0]:.1f}; "
              f"renders: {source}, 222 frames, {args.runs} run(s) each, median (best)")
        cases = [(name, path, kind) for name, path in renders
                 for kind in (OutputKind.NOTE, OutputKind.STICKER, OutputKind.GIF)]  # a PACK encodes as a STICKER
        if args.hard:
            cases.append(("noise 512x512 3.5 s", _noise(work), OutputKind.STICKER))
        for name, path, kind in cases:
            ext = "webm" if kind is OutputKind.STICKER else "mp4"
            median, best, r = _time(path, kind, work / f"out.{ext}", args.runs)
            line = (f"{name:<20} {kind:<8} {median:6.2f} s ({best:5.2f})  {r.width}x{r.height} {r.duration:5.2f} s "
                    f"{r.bytes / 1000:8.1f} KB  encodes {r.encodes}")
            if kind is OutputKind.STICKER:
                tries = ", ".join(f"{t.kbps}k/{t.detail}:{t.bytes // 1000}KB" for t in r.tries)
                line += (f"  from {r.start:.2f} s; loop analysis {_analysis_seconds(path, args.runs):.2f} s; "
                         f"tries {tries}")
            print(line, flush=True)
        if args.modes:
            _modes(renders[0][1], work)
        print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
