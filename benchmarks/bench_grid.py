"""Benchmark: a render of 1 photo, and grids of 4 and 9 photos, on the 蚂蚁呀嘿 template (222 frames).

Each size runs in its own process on a loaded engine whose template motion is already cached (what
the bot serves), so the figures are the render alone: faces, tiles, animation, paste-back, encode,
sound. "1" is Engine.render on one face photo (what a single photo costs); 4 and 9 are
Engine.render_grid. The peak RSS is each process's whole (model included). Usage:

    python benchmarks/bench_grid.py [--checkpoint vox-cpk.pdparams] [--video mayiyahei.MP4]
                                    [--frames N] [--sizes 1 4 9] [--cache-dir DIR]
    python benchmarks/bench_grid.py --batching [--faces 4 9] [--precision auto|fp32|bf16]

--batching compares the generator alone, a batch of 4 frames of F faces: one call per face (what
engine/animate.py does) against one call for all F x 4 crops, each mode in its own process
(wall and CPU ms per face-frame, peak RSS), twice in turn.

Without --checkpoint it uses full-size random vox-256 weights (same shapes, same timings); without
--video the 蚂蚁呀嘿 template from ../shared/media or templates/yahey, else a generated 222-frame
one (and says so). --cache-dir keeps the random weights and the compiled model between runs
(exporting it takes ~40 s).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "media"
sys.path.insert(0, str(ROOT))

from engine.cpu_features import describe_cpu  # noqa: E402

FRAMES = 222  # 蚂蚁呀嘿's length


def _video(given: Path | None, work: Path, frames: int) -> tuple[Path, str]:
    for candidate in (given, SHARED / "mayiyahei.MP4", ROOT / "templates" / "yahey" / "mayiyahei.MP4"):
        if candidate is not None and candidate.is_file():
            return candidate, candidate.name
    import cv2
    import numpy as np
    import skimage.data

    from engine.video_io import VideoWriter

    print("no 蚂蚁呀嘿 video (pass --video, or `python -m engine templates fetch`): using a "
          f"generated {frames}-frame nodding astronaut instead, without sound")
    head = cv2.resize(skimage.data.astronaut()[0:250, 100:350], (256, 256), interpolation=cv2.INTER_AREA)
    path = work / "generated.mp4"
    writer = VideoWriter(path, 256, 256, 30.0)
    for i in range(frames):
        m = cv2.getRotationMatrix2D((128, 128), 8.0 * np.sin(i / 6), 1.0 + 0.03 * np.sin(i / 9))
        writer.write(cv2.warpAffine(head, m, (256, 256), borderMode=cv2.BORDER_REFLECT))
    writer.close()
    return path, "generated"


def _photos(work: Path, n: int) -> list[Path]:
    """n face photos: the shared media where present, mirrored copies, the astronaut otherwise."""
    import cv2
    import skimage.data

    base = [p for p in (SHARED / "fom_source_image.png", SHARED / "face.png",
                        SHARED / "fom_source_image_multi_person.jpg", SHARED / "t1.jpg") if p.is_file()]
    if not base:
        base = [work / "astronaut.png"]
        cv2.imwrite(str(base[0]), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    out = list(base[:n])
    while len(out) < n:  # mirrored, then slightly turned, copies: every tile a different crop
        k = len(out) - len(base)
        bgr = cv2.imread(str(base[k % len(base)]))
        if k < len(base):
            bgr = cv2.flip(bgr, 1)
        else:
            h, w = bgr.shape[:2]
            bgr = cv2.warpAffine(bgr, cv2.getRotationMatrix2D((w / 2, h / 2), 8.0, 1.0), (w, h),
                                 borderMode=cv2.BORDER_REFLECT)
        out.append(work / f"photo{len(out)}.png")
        cv2.imwrite(str(out[-1]), bgr)
    return out


def _checkpoint(given: Path | None, folder: Path) -> Path:
    """The given checkpoint, or random full-size weights (seed 0) kept in `folder`."""
    if given is not None:
        return given
    path = folder / "random-vox-cpk.pdparams"
    if path.is_file():  # kept with --cache-dir: its compiled model is there too
        return path
    from engine.model.networks import build_networks, save_checkpoint
    from engine.model.paddle_compat import import_paddle

    import_paddle().seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    save_checkpoint(build_networks(), path)
    return path


def _one(args: argparse.Namespace) -> None:
    """Child process: load, prepare the motion, then time one render; print JSON."""
    from engine import Engine, load_template_dir

    engine = Engine(args.checkpoint, args.cache_dir, device=args.device)
    template = load_template_dir(args.template_dir)
    engine.prepare_template(template)
    photos = [Path(p) for p in args.photos]
    out = args.work / f"out{len(photos)}.mp4"
    t0 = time.monotonic()
    if len(photos) == 1:
        result = engine.render(photos[0], template, out)
    else:
        result = engine.render_grid(photos, template, out, max_tiles=len(photos))
    seconds = time.monotonic() - t0
    print(json.dumps({"seconds": seconds, "frames": result.frames, "faces": result.faces,
                      "size": f"{result.width}x{result.height}", "runner": engine.runner.name,
                      "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "load": os.getloadavg()[0]}))


def _one_batching(args: argparse.Namespace) -> None:
    """Child process: the generator on F faces x 4 frames, per face or all at once; print JSON."""
    import cv2
    import numpy as np
    import skimage.data

    from engine import Engine

    engine = Engine(args.checkpoint, args.cache_dir, device=args.device, precision=args.precision)
    runner = engine.runner
    f, b, reps = args.faces[0], 4, 3
    base = skimage.data.astronaut()
    sources = np.stack([cv2.resize(np.roll(base, 7 * i, axis=1)[:300, 100:400], (256, 256))
                        for i in range(f)]).astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    value, jacobian = runner.keypoints(sources)
    rng = np.random.default_rng(0)
    drv_value = value[:, None] + rng.uniform(-0.05, 0.05, (f, b, 10, 2)).astype(np.float32)
    drv_jacobian = np.ascontiguousarray(np.broadcast_to(jacobian[:, None], (f, b, 10, 2, 2)))

    def once() -> None:
        if args.batching_mode == "per-face":
            for i in range(f):
                runner.generate(np.broadcast_to(sources[i], (b, 3, 256, 256)),
                                (np.broadcast_to(value[i], (b, 10, 2)),
                                 np.broadcast_to(jacobian[i], (b, 10, 2, 2))),
                                (drv_value[i], drv_jacobian[i]))
        else:
            runner.generate(np.repeat(sources, b, axis=0),
                            (np.repeat(value, b, axis=0), np.repeat(jacobian, b, axis=0)),
                            (drv_value.reshape(f * b, 10, 2), drv_jacobian.reshape(f * b, 10, 2, 2)))

    once()  # oneDNN builds its kernels for each shape on the first run
    walls, cpus = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        once()
        walls.append((time.perf_counter() - t0) / (f * b))
        cpus.append((time.process_time() - c0) / (f * b))
    print(json.dumps({"wall": sorted(walls)[reps // 2], "cpu": sorted(cpus)[reps // 2],
                      "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "runner": runner.name, "load": os.getloadavg()[0]}))


def _batching(args: argparse.Namespace, checkpoint: Path, cache: Path) -> None:
    print(f"{'faces':>5s} {'generator calls':>22s} {'wall ms':>7s} {'CPU ms':>6s} "
          f"{'peak RSS GiB':>12s} {'load':>5s}  (per face-frame; batches of 4 frames)")
    for _ in range(2):
        for faces in args.faces:
            for mode, label in (("per-face", f"{faces} x 4 crops"), ("all", f"1 x {faces * 4} crops")):
                cmd = [sys.executable, __file__, "--one-batching", mode, "--faces", str(faces),
                       "--checkpoint", str(checkpoint), "--cache-dir", str(cache),
                       "--device", args.device, "--precision", args.precision]
                res = subprocess.run(cmd, capture_output=True, text=True)
                if res.returncode != 0:
                    sys.exit(f"batching {mode} failed:\n{res.stderr[-3000:]}")
                r = json.loads(res.stdout.strip().splitlines()[-1])
                print(f"{faces:5d} {label:>22s} {1000 * r['wall']:7.0f} {1000 * r['cpu']:6.0f} "
                      f"{r['rss'] / 1024 ** 3:12.2f} {r['load']:5.1f}  {r['runner']}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, help="real checkpoint (default: random full-size)")
    ap.add_argument("--video", type=Path, help="template video (default: 蚂蚁呀嘿)")
    ap.add_argument("--frames", type=int, default=0, help="only the first N frames (default: all)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 9])
    ap.add_argument("--cache-dir", type=Path, help="keep the compiled model here between runs")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"))
    ap.add_argument("--batching", action="store_true",
                    help="compare one generator call per face with one for all faces")
    ap.add_argument("--faces", type=int, nargs="+", default=[4, 9], help="with --batching")
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # the child processes
    ap.add_argument("--one-batching", dest="batching_mode", help=argparse.SUPPRESS)
    ap.add_argument("--template-dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--photos", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        _one(args)
        return
    if args.batching_mode:
        _one_batching(args)
        return

    with tempfile.TemporaryDirectory(prefix="bench-grid-") as tmp:
        work = Path(tmp)
        cache = args.cache_dir or work / "cache"
        checkpoint = _checkpoint(args.checkpoint, cache)
        weights = "real" if args.checkpoint else "random full-size"
        if args.batching:
            print(f"CPU: {describe_cpu()}; device {args.device}; precision {args.precision}; "
                  f"weights {weights}")
            _batching(args, checkpoint, cache)
            return
        video, label = _video(args.video, work, args.frames or FRAMES)
        folder = work / "template"
        folder.mkdir()
        if args.frames:
            from engine.ffmpeg_process import run_ffmpeg

            run_ffmpeg(["-v", "error", "-y", "-i", str(video), "-frames:v", str(args.frames),
                        "-c:v", "libx264", "-c:a", "aac", str(folder / "video.mp4")],
                       "cut the template", 300.0)
        else:
            shutil.copyfile(video, folder / "video.mp4")
        (folder / "template.toml").write_text('title = "蚂蚁呀嘿"\nvideo = "video.mp4"\n',
                                              encoding="utf-8")
        photos = _photos(work, max(args.sizes))

        print(f"CPU: {describe_cpu()}; device {args.device}; weights {weights}; template {label}"
              f"{f' (first {args.frames} frames)' if args.frames else ''}")
        print(f"{'photos':>6s} {'video':>9s} {'frames':>6s} {'wall s':>7s} {'s/frame':>7s} "
              f"{'face-frames/s':>13s} {'peak RSS GiB':>12s} {'load':>5s}  runner")
        for n in args.sizes:
            cmd = [sys.executable, __file__, "--one", "--checkpoint", str(checkpoint), "--cache-dir",
                   str(cache), "--device", args.device, "--template-dir", str(folder), "--work",
                   str(work), "--photos", *map(str, photos[:n])]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                sys.exit(f"{n} photo(s) failed:\n{res.stderr[-3000:]}")
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"{n:6d} {r['size']:>9s} {r['frames']:6d} {r['seconds']:7.1f} "
                  f"{r['seconds'] / r['frames']:7.2f} {r['frames'] * r['faces'] / r['seconds']:13.2f} "
                  f"{r['rss'] / 1024 ** 3:12.2f} {r['load']:5.1f}  {r['runner']}", flush=True)
        print(f"load average after: {os.getloadavg()[0]:.2f} (on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
