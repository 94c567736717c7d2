"""Video in and out through imageio-ffmpeg's own ffmpeg binary (there is no system ffmpeg).

Reading streams raw frames from an ffmpeg pipe; writing streams raw frames into ONE ffmpeg that
also takes the audio as a second input, so the video is encoded once and the sound muxed in the
same pass. Neither keeps more than one frame per call in memory.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import EngineError


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    duration: float  # container duration, seconds
    width: int
    height: int
    fps: float
    video_codec: str | None
    audio_codec: str | None

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+.*?: Video: (\w+)[^\n]*?, (\d{2,5})x(\d{2,5})")
_FPS = re.compile(r"Stream #\S+.*?: Video: [^\n]*?([\d.]+) fps")
_TBR = re.compile(r"Stream #\S+.*?: Video: [^\n]*?([\d.]+)k? tbr")
_AUDIO = re.compile(r"Stream #\S+.*?: Audio: (\w+)")


def probe(path: Path) -> VideoInfo:
    """Parse `ffmpeg -i` (ffprobe is not bundled). Raises EngineError if ffmpeg cannot open it."""
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"no such file: {path}")
    res = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                         capture_output=True, text=True, errors="replace")
    text = res.stderr
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
    return VideoInfo(
        duration=duration,
        width=int(video.group(2)) if video else 0,
        height=int(video.group(3)) if video else 0,
        fps=float(fps_m.group(1)) if fps_m else 0.0,
        video_codec=video.group(1) if video else None,
        audio_codec=audio.group(1) if audio else None,
    )


@dataclass(frozen=True)
class Crop:
    """A square (x, y, side) in a video's pixels."""

    x: int
    y: int
    side: int


def read_frames(path: Path, size: int | None = None, crop: Crop | None = None,
                max_frames: int | None = None) -> Iterator[np.ndarray]:
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
        info = probe(path)
        width, height = info.width, info.height
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0",
           "-f", "rawvideo", "-pix_fmt", "rgb24"]
    if filters:
        cmd += ["-vf", ",".join(filters)]
    if max_frames is not None:
        cmd += ["-frames:v", str(max_frames)]
    cmd.append("-")
    nbytes = width * height * 3
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        while True:
            buf = proc.stdout.read(nbytes)
            if len(buf) < nbytes:
                break
            yield np.frombuffer(buf, np.uint8).reshape(height, width, 3)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.wait() != 0:
            raise EngineError(f"ffmpeg could not decode {Path(path).name}: {err.strip()[-200:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def read_sample_frames(path: Path, times: list[float], max_side: int = 640) -> list[np.ndarray]:
    """Decode single RGB frames at the given times (seconds), long side scaled to <= max_side."""
    out = []
    info = probe(path)
    scale = min(1.0, max_side / max(info.width, info.height, 1))
    w, h = max(2, int(info.width * scale)) // 2 * 2, max(2, int(info.height * scale)) // 2 * 2
    for t in times:
        cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-ss", f"{t:.3f}", "-i", str(path),
               "-map", "0:v:0", "-frames:v", "1", "-vf", f"scale={w}:{h}",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        res = subprocess.run(cmd, capture_output=True)
        if res.returncode == 0 and len(res.stdout) == w * h * 3:
            out.append(np.frombuffer(res.stdout, np.uint8).reshape(h, w, 3))
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
                 preset: str = "veryfast") -> None:
        if width % 2 or height % 2:
            raise ValueError("yuv420p needs even dimensions")
        self.out_path = Path(out_path)
        self.width, self.height = width, height
        rate = Fraction(fps).limit_denominator(1001)
        cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
               "-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "-"]
        if audio is not None:
            cmd += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0?", "-c:a", "aac", "-b:a", "128k"]
            cmd += ["-af", "apad", "-t", f"{duration:.6f}"] if duration else ["-shortest"]
        cmd += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
                "-movflags", "+faststart", "-f", "mp4", str(self.out_path)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame {frame.shape} {frame.dtype} != {(self.height, self.width, 3)} uint8")
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:
            self._fail()
        self.frames += 1

    def close(self) -> None:
        """Finish the file; raises EngineError if ffmpeg failed."""
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        if self._proc.wait() != 0:
            self._fail()
        if self._proc.stderr:
            self._proc.stderr.close()

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial file."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except BrokenPipeError:
                pass
        self.out_path.unlink(missing_ok=True)

    def _fail(self) -> None:
        self._proc.wait()
        err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
        self.out_path.unlink(missing_ok=True)
        raise EngineError(f"ffmpeg failed to encode: {err.strip()[-300:]}")
