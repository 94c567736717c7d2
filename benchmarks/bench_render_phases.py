"""Benchmark: where a warm `python -m engine render` process spends its time, phase by phase.

Prepares a cache once (`python -m engine prepare`: export/convert, template motion), then runs a
render as its own process `--runs` times and prints, for each: start-up (process start -> the
first generator forward, split into interpreter + imports, model load, template motion, photo +
face detection), ms per frame of the animation loop, encode (last forward -> MP4 closed), the
whole process's wall time and peak RSS; then the best and the median. Usage:

    python benchmarks/bench_render_phases.py [--frames 90] [--runs 5] [--checkpoint C]
                                             [--photo P] [--video V] [--max-fps F]

Without --checkpoint it uses full-size random vox-256 weights (the same shapes and cost).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "media"


def _since_process_start() -> float:
    """Seconds since this process started (the kernel's start time, so the interpreter's own
    start-up is counted too)."""
    ticks = os.sysconf("SC_CLK_TCK")
    start = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]) / ticks
    return float(Path("/proc/uptime").read_text().split()[0]) - start


def child(config: Path, photo: Path, out: Path, max_fps: float) -> None:
    t_python = _since_process_start()
    t0 = time.monotonic() - t_python  # the process's start on the monotonic clock
    sys.path.insert(0, str(ROOT))
    import dataclasses

    from engine import load_template
    from engine.faces import detect_faces
    from engine.from_settings import make_engine, render_options
    from engine.images import load_photo
    from settings import load_settings

    marks = {"imports": time.monotonic()}
    s = load_settings(config)
    engine = make_engine(s)
    engine.load()
    marks["model"] = time.monotonic()
    template = load_template("bench", s.templates.dir)
    engine.motion(template)
    marks["motion"] = time.monotonic()
    options = dataclasses.replace(render_options(s), max_faces=1, max_fps=max_fps)
    data = photo.read_bytes()
    detect_faces(load_photo(data, options.max_side), max_faces=1)  # what render() does first
    marks["faces"] = time.monotonic()
    runner = engine.runner
    forwards: list[tuple[float, float, int]] = []
    generate = runner.generate

    def timed(source, kp_source, kp_driving):
        start = time.monotonic()
        result = generate(source, kp_source, kp_driving)
        forwards.append((start, time.monotonic(), len(source)))
        return result

    runner.generate = timed
    marks["render_call"] = time.monotonic()
    result = engine.render(data, template, out, options)
    done = time.monotonic()
    first_start = forwards[0][0]
    loop = forwards[-1][1] - first_start
    # the render call repeats the photo decode and face detection timed above: counted once
    start_up = first_start - t0 - (marks["render_call"] - marks["motion"])
    print(json.dumps({
        "runner": runner.name, "frames": result.frames, "python": t_python,
        "imports": marks["imports"] - t0 - t_python, "model": marks["model"] - marks["imports"],
        "motion": marks["motion"] - marks["model"], "faces": marks["faces"] - marks["motion"],
        "start_up": start_up, "ms_per_frame": 1000 * loop / result.frames,
        "encode": done - forwards[-1][1]}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=3, metavar=("CONFIG", "PHOTO", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--photo", type=Path, default=SHARED / "fom_source_image.png")
    ap.add_argument("--video", type=Path, default=SHARED / "mayiyahei.MP4")
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--max-fps", type=float, default=0.0)
    args = ap.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), Path(args.child[2]), args.max_fps)
        return 0
    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_vs_ppgan import _checkpoint, _cpu_model, _make_template

    with tempfile.TemporaryDirectory(prefix="bench-phases-") as tmp_s:
        tmp = Path(tmp_s)
        checkpoint = _checkpoint(args.checkpoint, tmp)
        _, n = _make_template(args.video, args.frames, tmp / "templates" / "bench")
        config = tmp / "config.toml"
        config.write_text(f'[engine]\ncheckpoint = "{checkpoint}"\ncache_dir = "{tmp / "cache"}"\n\n'
                          f'[templates]\ndir = "{tmp / "templates"}"\n', encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        t = time.monotonic()
        # the bot's own start-up preparation (export, convert, motion; no int8 calibration)
        subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                        "from settings import load_settings; from engine import load_template; "
                        "from engine.from_settings import make_engine; from engine.tools.prepare import prepare; "
                        f"s = load_settings(Path({str(config)!r})); "
                        "prepare(make_engine(s), [load_template('bench', s.templates.dir)])"],
                       cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"prepare (cold: export, convert, motion): {time.monotonic() - t:.1f} s")
        rows = []
        for i in range(args.runs):
            cmd = [sys.executable, __file__, "--child", str(config), str(args.photo),
                   str(tmp / f"out{i}.mp4"), "--max-fps", str(args.max_fps)]
            t = time.monotonic()
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            out, err = proc.stdout.read(), proc.stderr.read()
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.monotonic() - t
            if os.waitstatus_to_exitcode(status) != 0:
                sys.exit(f"render failed:\n{err[-3000:]}")
            row = json.loads(out.strip().splitlines()[-1])
            row["wall"], row["peak_gib"] = wall, usage.ru_maxrss / 2**20
            rows.append(row)
    print(f"CPU: {_cpu_model()} x{os.cpu_count()}; {n} frames; runner {rows[0]['runner']}; "
          f"{rows[0]['frames']} frames rendered (max_fps {args.max_fps or 'off'})")
    keys = ["python", "imports", "model", "motion", "faces", "start_up", "ms_per_frame", "encode", "wall",
            "peak_gib"]
    print(" ".join(f"{k:>12}" for k in ["run", *keys]))
    for i, r in enumerate(rows, 1):
        print(" ".join([f"{i:>12}", *(f"{r[k]:12.3f}" for k in keys)]))
    for name, pick in (("best", min), ("median", statistics.median)):
        print(" ".join([f"{name:>12}", *(f"{pick(r[k] for r in rows):12.3f}" for k in keys)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
