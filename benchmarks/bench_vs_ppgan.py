"""Benchmark: PaddleGAN's FirstOrderPredictor vs this engine, same photo, template and checkpoint.

Each side runs as its own process; the figures are for the whole process (imports, model load,
face detection, animation, sound where there is any, MP4). Usage:

    python benchmarks/bench_vs_ppgan.py [--frames 30 | --frames 0 (all)] [--photo P] [--video V]
                                        [--checkpoint C] [--ppgan-threads N]

The engine runs twice: "cold" with an empty cache_dir (exports its model and computes the
template's driving keypoints) and "warm" (what every render after the first one costs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "media"
sys.path.insert(0, str(ROOT))


@dataclass
class Run:
    name: str
    seconds: float
    peak_rss: int  # bytes
    frames: int
    ok: bool
    note: str = ""
    cpu_seconds: float = 0.0  # user + system: on a shared machine the steadier figure


def _run(name: str, cmd: list[str], env: dict[str, str], frames: int) -> Run:
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - t0
    ok = os.waitstatus_to_exitcode(status) == 0
    if not ok:
        print(f"--- {name} failed ---\n{out[-3000:]}", file=sys.stderr)
    return Run(name, seconds, usage.ru_maxrss * 1024, frames, ok,
               cpu_seconds=usage.ru_utime + usage.ru_stime)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _make_template(video: Path, frames: int, folder: Path) -> tuple[Path, int]:
    from engine.video_io import ffmpeg_exe, probe, read_frames

    folder.mkdir(parents=True, exist_ok=True)
    if frames > 0:
        fps = probe(video).fps
        clip = folder / "video.mp4"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(video), "-frames:v", str(frames),
                        "-t", f"{frames / fps:.4f}", "-c:v", "libx264", "-crf", "16",
                        "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)], check=True)
    else:
        clip = folder / video.name
        clip.symlink_to(video)
    (folder / "template.toml").write_text(f'title = "bench"\nvideo = "{clip.name}"\n', encoding="utf-8")
    return clip, sum(1 for _ in read_frames(clip, 32))


def _ppgan_box(photo: Path) -> str:
    """PaddleGAN's own crop rule (extract_bbox) around our detector's largest face."""
    from engine.faces import detect_faces
    from engine.images import load_photo

    image = load_photo(photo, max_side=100_000)
    faces = detect_faces(image, max_faces=1)
    if not faces:
        sys.exit("no face in the benchmark photo")
    f = faces[0]
    h, w = image.shape[:2]
    m = max(f.w, f.h)
    x1, y1 = max(0, int(f.cx - 0.8 * m)), max(0, int(f.cy - m))
    x2, y2 = min(w, int(f.cx + 0.8 * m)), min(h, int(f.cy + m))
    return f"{x1},{y1},{x2},{y2}"


def _checkpoint(arg: Path | None, tmp: Path) -> Path:
    if arg is not None:
        return arg
    from settings import load_settings

    configured = load_settings().engine.checkpoint
    if configured.is_file():
        return configured
    from engine.model.networks import build_networks, save_checkpoint

    path = tmp / "random-vox-cpk.pdparams"  # same size and cost as the real weights
    print(f"(no checkpoint at {configured}: using random full-size weights)")
    save_checkpoint(build_networks(), path)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=30, help="template length (0: the whole video)")
    ap.add_argument("--photo", type=Path, default=SHARED / "fom_source_image.png")
    ap.add_argument("--video", type=Path, default=SHARED / "mayiyahei.MP4")
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--ppgan-threads", type=int, default=0,
                    help="OMP_NUM_THREADS for PaddleGAN (0: unset, as its users run it: paddle uses 1)")
    ap.add_argument("--engine-threads", type=int, default=0, help="[engine].threads (0: every core)")
    ap.add_argument("--warm-runs", type=int, default=3, help="warm renders; the best is shown")
    ap.add_argument("--ppgan-json", type=Path,
                    help="PaddleGAN's figures: read from this file when it holds a run of the same "
                         "frames on this CPU, else measured and written there (it takes minutes)")
    args = ap.parse_args()
    for p in (args.photo, args.video):
        if not p.is_file():
            sys.exit(f"missing {p} (pass --photo / --video)")

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp_s:
        tmp = Path(tmp_s)
        checkpoint = _checkpoint(args.checkpoint, tmp)
        clip, n = _make_template(args.video, args.frames, tmp / "templates" / "bench")
        box = _ppgan_box(args.photo)
        config = tmp / "config.toml"
        config.write_text(f'[engine]\ncheckpoint = "{checkpoint}"\ncache_dir = "{tmp / "cache"}"\n'
                          f'threads = {args.engine_threads}\n\n[templates]\ndir = "{tmp / "templates"}"\n',
                          encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        ppgan_env = dict(env, **({"OMP_NUM_THREADS": str(args.ppgan_threads)} if args.ppgan_threads else {}))
        py = sys.executable
        ppgan_key = {"cpu": _cpu_model(), "cpus": os.cpu_count(), "frames": n,
                     "video": args.video.name, "photo": args.photo.name}
        known = None
        if args.ppgan_json and args.ppgan_json.is_file():
            saved = json.loads(args.ppgan_json.read_text())
            if saved.get("key") == ppgan_key:
                known = Run(**saved["run"])
                print(f"(PaddleGAN's figures from {args.ppgan_json}, measured {saved['when']})")
        if known is None:
            known = _run("PaddleGAN FirstOrderPredictor", [py, "benchmarks/run_ppgan.py", "--photo",
                         str(args.photo), "--video", str(clip), "--checkpoint", str(checkpoint),
                         "--out", str(tmp / "ppgan.mp4"), "--box", box], ppgan_env, n)
            if args.ppgan_json and known.ok:
                args.ppgan_json.write_text(json.dumps({"key": ppgan_key, "run": known.__dict__,
                                                       "when": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                             time.gmtime())}))
        runs = [known]
        engine_cmd = [py, "-m", "engine", "render", str(args.photo), "--template", "bench",
                      "--config", str(config), "--max-faces", "1"]
        runs.append(_run("engine (cold cache)", engine_cmd + ["--out", str(tmp / "cold.mp4")], env, n))
        warm = [_run("engine (warm cache)", engine_cmd + ["--out", str(tmp / f"warm{i}.mp4")], env, n)
                for i in range(args.warm_runs)]
        runs.append(min(warm, key=lambda r: r.seconds))  # the least disturbed of the warm runs

    print(f"\nCPU: {_cpu_model()} x{os.cpu_count()}; template: {n} frames of {args.video.name}; "
          f"photo: {args.photo.name}; PaddleGAN OMP_NUM_THREADS="
          f"{args.ppgan_threads or 'unset (1)'}")
    print(f"{'':32} {'wall s':>8} {'CPU s':>8} {'frames/s':>9} {'s/frame':>8} {'peak RSS GiB':>13}")
    for r in runs:
        status = "" if r.ok else "  FAILED"
        print(f"{r.name:32} {r.seconds:8.1f} {r.cpu_seconds:8.1f} {r.frames / r.seconds:9.2f} "
              f"{r.seconds / r.frames:8.2f} {r.peak_rss / 2**30:13.2f}{status}")
    base = runs[0]
    for r in runs[1:]:
        cpu = (f", CPU time {base.cpu_seconds / r.cpu_seconds:.1f}x less"
               if base.cpu_seconds and r.cpu_seconds else "")
        print(f"speed-up {r.name}: {base.seconds / r.seconds:.1f}x wall{cpu}; peak memory "
              f"{r.peak_rss / base.peak_rss:.2f}x of PaddleGAN's")
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
