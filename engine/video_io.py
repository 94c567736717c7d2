"""Video in and out through imageio-ffmpeg's own ffmpeg binary (there is no system ffmpeg).

Reading streams raw frames from an ffmpeg pipe; writing streams raw frames into ONE ffmpeg that
also takes the audio as a second input, so the video is encoded once and the sound muxed in the
same pass. Neither keeps more than one frame per call in memory. Every run goes through
engine/ffmpeg_process.py (stderr drained, time limits, killed on cancel).

Sizes are the *displayed* ones: a phone video stored 1920x1080 with a 90° display matrix is
1080x1920 here, which is also what ffmpeg decodes it to (it applies the rotation by default).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .cancel import CancelToken
from .errors import EngineError
from .ffmpeg_process import FfmpegProcess, ffmpeg_exe, run_ffmpeg

__all__ = ["Crop", "VideoInfo", "VideoWriter", "ffmpeg_exe", "probe", "read_frames", "read_sample_frames"]

PROBE_TIMEOUT_S = 30.0
SAMPLE_TIMEOUT_S = 30.0  # one frame decoded after a seek
_PROBE_TEXT = 64 * 1024  # ffmpeg's description of a file is a few KB; damaged files print more


@dataclass(frozen=True)
class VideoInfo:
    duration: float  # container duration, seconds
    width: int
    height: int
    fps: float
    video_codec: str | None
    audio_codec: str | None
    pix_fmt: str | None = None  # the video stream's, e.g. "yuv420p"
    rotation: float = 0.0  # the display matrix's rotation, degrees as ffmpeg prints it (0: none)

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+.*?: Video: (\w+)[^\n]*?, (\d{2,5})x(\d{2,5})")
_FPS = re.compile(r"Stream #\S+.*?: Video: [^\n]*?([\d.]+) fps")
_TBR = re.compile(r"Stream #\S+.*?: Video: [^\n]*?([\d.]+)k? tbr")
_AUDIO = re.compile(r"Stream #\S+.*?: Audio: (\w+)")
_PIX_FMT = re.compile(r"Video: \w+[^,\n]*, (\w+)")  # the first field after the codec's
_ROTATION = re.compile(r"display ?matrix: rotation of (-?[\d.]+) degrees", re.IGNORECASE)


def probe(path: Path, cancel: CancelToken | None = None) -> VideoInfo:
    """Parse `ffmpeg -i` (ffprobe is not bundled). Raises EngineError if ffmpeg cannot open it."""
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"no such file: {path}")
    # `ffmpeg -i FILE` with no output exits 1 by design; the description is on stderr.
    run = run_ffmpeg(["-hide_banner", "-nostdin", "-i", str(path)], f"probe {path.name}", PROBE_TIMEOUT_S,
                     cancel=cancel, check=False, keep_stderr=_PROBE_TEXT)
    text = run.stderr_head
    dur = _DURATION.search(text)
    video = _VIDEO.search(text)
    audio = _AUDIO.search(text)
    if dur is None and video is None and audio is None:
        raise EngineError(f"ffmpeg cannot read {path.name}")
    duration = 0.0
    if dur:
        h, m, s = dur.groups()
        duration = int(h) * 3600 + int(m) * 60 + float(s)
    fps_m = _FPS.search(text) or _TBR.search(text)
    width, height = (int(video.group(2)), int(video.group(3))) if video else (0, 0)
    rot = _ROTATION.search(text)
    rotation = float(rot.group(1)) if rot else 0.0
    if round(rotation / 90) % 2:  # 90 or 270, normalised: the displayed frame is turned
        width, height = height, width
    pix_fmt = _PIX_FMT.search(video.group(0)) if video else None
    return VideoInfo(
        duration=duration,
        width=width,
        height=height,
        fps=float(fps_m.group(1)) if fps_m else 0.0,
        video_codec=video.group(1) if video else None,
        audio_codec=audio.group(1) if audio else None,
        pix_fmt=pix_fmt.group(1) if pix_fmt else None,
        rotation=rotation,
    )


@dataclass(frozen=True)
class Crop:
    """A square (x, y, side) in a video's pixels."""

    x: int
    y: int
    side: int


def read_frames(path: Path, size: int | None = None, crop: Crop | None = None,
                max_frames: int | None = None, cancel: CancelToken | None = None) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames one at a time: cropped, then scaled to size x size by ffmpeg
    (size None: the crop's or the video's own size)."""
    filters = []
    if crop is not None:
        filters.append(f"crop={crop.side}:{crop.side}:{crop.x}:{crop.y}")
    if size is not None:
        filters.append(f"scale={size}:{size}:flags=area")
        width = height = size
    elif crop is not None:
        width = height = crop.side
    else:
        info = probe(path, cancel)
        width, height = info.width, info.height
    args = ["-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    if filters:
        args += ["-vf", ",".join(filters)]
    if max_frames is not None:
        args += ["-frames:v", str(max_frames)]
    args.append("-")
    nbytes = width * height * 3
    with FfmpegProcess(args, f"decode {Path(path).name}", stdout=True, cancel=cancel) as proc:
        while True:
            with proc.stalled():
                buf = proc.stdout.read(nbytes)
            if len(buf) < nbytes:
                break
            yield np.frombuffer(buf, np.uint8).reshape(height, width, 3)
        proc.finish(PROBE_TIMEOUT_S)


def read_sample_frames(path: Path, times: list[float], max_side: int = 640,
                       cancel: CancelToken | None = None, info: VideoInfo | None = None) -> list[np.ndarray]:
    """Decode single RGB frames at the given times (seconds), long side scaled to <= max_side.
    A time ffmpeg cannot decode is skipped; a stuck decode raises FfmpegTimeout. `info`: the
    video's probe when the caller has it already."""
    out = []
    info = info if info is not None else probe(path, cancel)
    scale = min(1.0, max_side / max(info.width, info.height, 1))
    w, h = max(2, int(info.width * scale)) // 2 * 2, max(2, int(info.height * scale)) // 2 * 2
    for t in times:
        args = ["-v", "error", "-nostdin", "-ss", f"{t:.3f}", "-i", str(path), "-map", "0:v:0", "-frames:v", "1",
                "-vf", f"scale={w}:{h}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        run = run_ffmpeg(args, f"sample {Path(path).name}", SAMPLE_TIMEOUT_S, cancel=cancel, check=False)
        if run.code == 0 and len(run.stdout) == w * h * 3:
            out.append(np.frombuffer(run.stdout, np.uint8).reshape(h, w, 3))
    return out


class VideoWriter:
    """H.264 yuv420p + AAC MP4 (+faststart) from raw RGB frames piped to one ffmpeg process.

    `audio` is a file whose first audio stream is muxed in the same pass (optional). With
    `duration` (frames / fps) the sound is padded with silence and everything cut at that time, so
    the file is exactly as long as the frames: `-shortest` alone drops the last frames when the
    sound ends first, and overshoots by up to a second on very short clips.
    """

    def __init__(self, out_path: Path, width: int, height: int, fps: float,
                 audio: Path | None = None, duration: float | None = None, crf: int = 20,
                 preset: str = "veryfast", cancel: CancelToken | None = None) -> None:
        if width % 2 or height % 2:
            raise ValueError("yuv420p needs even dimensions")
        self.out_path = Path(out_path)
        self.width, self.height = width, height
        rate = Fraction(fps).limit_denominator(1001)
        args = ["-v", "error", "-nostdin", "-y",
                "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                "-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "-"]
        if audio is not None:
            args += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0?", "-c:a", "aac", "-b:a", "128k"]
            args += ["-af", "apad", "-t", f"{duration:.6f}"] if duration else ["-shortest"]
        args += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
                 "-movflags", "+faststart", "-f", "mp4", str(self.out_path)]
        self._proc = FfmpegProcess(args, f"encode {self.out_path.name}", stdin=True, cancel=cancel)
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame {frame.shape} {frame.dtype} != {(self.height, self.width, 3)} uint8")
        try:
            with self._proc.stalled():
                self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except (BrokenPipeError, ValueError):  # ValueError: stdin closed after a kill
            self._fail()
        self.frames += 1

    def close(self) -> None:
        """Finish the file; raises EngineError if ffmpeg failed. What is left after the last frame
        (flushing the encoder, +faststart's rewrite) is bounded by the number of frames."""
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self._proc.finish(timeout=60.0 + 0.2 * self.frames)
        except EngineError:
            self.out_path.unlink(missing_ok=True)
            raise

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial file."""
        self._proc.kill()
        self._proc.wait()
        self.out_path.unlink(missing_ok=True)

    def _fail(self) -> None:
        self._proc.wait(PROBE_TIMEOUT_S)
        self.out_path.unlink(missing_ok=True)
        raise self._proc.error()
