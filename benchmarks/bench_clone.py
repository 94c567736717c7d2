"""`make bench` / `python -m engine bench`: bench_vs_ppgan.py on inputs that any clone or image has.

bench_vs_ppgan.py needs a photo and a driving video; a fresh clone (and the image) has neither.
This fills in whatever is not given and runs it:

- photo: scikit-image's astronaut (a pinned dependency: one real face, 512x512);
- video: the fetched 蚂蚁呀嘿 template when `[templates].dir` has it, otherwise a generated clip of
  the astronaut's head nodding (256x256, 25 fps, a sine as its sound);
- weights: [engine].checkpoint when fetched, otherwise bench_vs_ppgan.py makes random full-size
  ones (same size and cost; it says so).

Every other argument goes to bench_vs_ppgan.py unchanged. `--frames` defaults to 20 here, so the
three runs (PaddleGAN, engine cold, engine warm) take a few minutes on 2 cores; `--frames 0` times
the whole template. Usage:

    python benchmarks/bench_clone.py [--photo P] [--video V] [--frames N] [--config PATH] [...]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_FRAMES = 20
CLIP_FRAMES = 60  # the generated clip: longer than any default --frames


def _astronaut_rgb():
    import skimage.data

    return skimage.data.astronaut()  # RGB 512x512, one face


def _write_photo(path: Path) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(_astronaut_rgb(), cv2.COLOR_RGB2BGR))
    return path


def _write_clip(path: Path, frames: int) -> Path:
    """The astronaut's head nodding and turning a little, as a vox-256 driving video, with sound."""
    from engine.video_io import VideoWriter, ffmpeg_exe

    head = cv2.resize(_astronaut_rgb()[0:250, 100:350], (256, 256), interpolation=cv2.INTER_AREA)
    silent = path.with_name("silent.mp4")
    writer = VideoWriter(silent, 256, 256, 25.0)
    for i in range(frames):
        phase = 2 * math.pi * i / 25
        m = cv2.getRotationMatrix2D((128, 128), 6.0 * math.sin(phase), 1.0 + 0.03 * math.sin(phase / 2))
        m[1, 2] += 6.0 * math.sin(2 * phase)
        writer.write(cv2.warpAffine(head, m, (256, 256), borderMode=cv2.BORDER_REFLECT))
    writer.close()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(silent), "-f", "lavfi",
                    "-i", f"sine=frequency=440:duration={frames / 25:.2f}", "-c:v", "copy", "-c:a", "aac",
                    "-shortest", str(path)], check=True)
    silent.unlink()
    return path


def _fetched(config: Path | None) -> tuple[Path | None, Path | None]:
    """The configured 蚂蚁呀嘿 video and checkpoint, each None where it was not fetched."""
    from engine.templates import load_template
    from settings import load_settings

    settings = load_settings(config)
    try:
        video = load_template("yahey", settings.templates.dir).video
    except Exception:  # not fetched (or no such template): the generated clip stands in
        video = None
    video = video if video is not None and video.is_file() else None
    checkpoint = settings.engine.checkpoint
    return video, checkpoint if checkpoint.is_file() else None


def main() -> int:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--photo", type=Path)
    ap.add_argument("--video", type=Path)
    ap.add_argument("--frames", type=int, default=DEFAULT_FRAMES)
    ap.add_argument("--config", type=Path, help="where to look for a fetched template (config.toml)")
    args, rest = ap.parse_known_args()
    if "-h" in rest or "--help" in rest:
        print(__doc__)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-inputs-") as tmp_s:
        tmp = Path(tmp_s)
        photo = args.photo or _write_photo(tmp / "astronaut.png")
        fetched_video, checkpoint = _fetched(args.config)
        video = args.video or fetched_video
        if checkpoint is not None and not any(a.startswith("--checkpoint") for a in rest):
            rest += ["--checkpoint", str(checkpoint)]
        if video is None:
            video = _write_clip(tmp / "nodding-head.mp4", max(CLIP_FRAMES, args.frames))
            if args.frames == 0:
                print(f"(no fetched template: --frames 0 times the whole generated clip, {CLIP_FRAMES} frames)")
        print(f"photo: {photo if args.photo else 'generated (scikit-image astronaut)'}; video: "
              f"{video if args.video or video.parent != tmp else 'generated nodding head (no fetched template)'}",
              flush=True)
        cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_vs_ppgan.py"), "--photo", str(photo),
               "--video", str(video), "--frames", str(args.frames), *rest]
        return subprocess.call(cmd, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
