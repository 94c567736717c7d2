"""Benchmark: where a warm `python -m engine render` process spends its time, phase by phase.

Prepares a cache once (`python -m engine prepare`: export/convert, template motion), then runs
`python -m engine render` (its `main`, timed from outside) as its own process `--runs` times and
prints, for each: the interpreter's start, the imports before the CLI runs, the model load (on its
own thread, beside reading the template and the photo and finding its faces) and how long the
render then waited for it, **start-up** (process start -> the first generator forward), ms per
frame of the animation loop, encode (last forward -> MP4 closed), the whole process's wall time,
CPU time (user + system: steadier than wall time on a shared machine) and peak RSS; then the best
and the median. Usage:

    python benchmarks/bench_render_phases.py [--frames 90] [--runs 5] [--checkpoint C]
                                             [--photo P] [--video V] [--max-fps F]

Without --checkpoint it uses full-size random vox-256 weights (the same shapes and cost).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "media"


def _since_process_start() -> float:
    """Seconds since this process started (the kernel's start time, so the interpreter's own
    start-up is counted too)."""
    ticks = os.sysconf("SC_CLK_TCK")
    start = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]) / ticks
    return float(Path("/proc/uptime").read_text().split()[0]) - start


class _TimedRunner:
    """The engine's runner with each generator forward's (start, end, frames) recorded."""

    def __init__(self, runner: Any, forwards: list[tuple[float, float, int]]) -> None:
        self._runner, self._forwards = runner, forwards
        self.start_cpu = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runner, name)

    def generate(self, source: Any, kp_source: Any, kp_driving: Any) -> Any:
        start = time.monotonic()
        if not self._forwards:  # CPU time of the whole process (every thread) before the first frame
            usage = resource.getrusage(resource.RUSAGE_SELF)
            self.start_cpu = usage.ru_utime + usage.ru_stime
        result = self._runner.generate(source, kp_source, kp_driving)
        self._forwards.append((start, time.monotonic(), len(source)))
        return result


def child(config: Path, photo: Path, out: Path) -> None:
    """`python -m engine render` itself (engine.tools.cli.main), its phases timed from outside."""
    t_python = _since_process_start()
    t0 = time.monotonic() - t_python  # the process's start on the monotonic clock
    sys.path.insert(0, str(ROOT))
    import engine.engine as engine_module
    try:
        from engine.tools.cli import main as cli_main
    except ImportError:  # before engine/ was laid out by role (a baseline run of an older tree)
        from engine.cli import main as cli_main  # type: ignore[no-redef]  # the same function, older path

    marks = {"imports": time.monotonic()}
    forwards: list[tuple[float, float, int]] = []
    loads: dict[str, tuple[float, float]] = {}  # thread -> its first load() call
    names: list[str] = []
    real_animate, real_load = engine_module.animate, engine_module.Engine.load

    timed: list[_TimedRunner] = []

    def animate(image: Any, boxes: Any, runner: Any, *rest: Any, **kw: Any) -> Any:
        names.append(runner.name)
        timed.append(_TimedRunner(runner, forwards))
        return real_animate(image, boxes, timed[-1], *rest, **kw)

    def load(self: Any) -> None:
        start = time.monotonic()
        real_load(self)
        loads.setdefault(threading.current_thread().name, (start, time.monotonic()))

    engine_module.animate = animate  # type: ignore[assignment]  # timing only
    engine_module.Engine.load = load  # type: ignore[method-assign]  # timing only
    argv = ["render", str(photo), "--template", "bench", "--config", str(config), "--out", str(out),
            "--max-faces", "1"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = cli_main(argv)
    done = time.monotonic()
    if code != 0:
        sys.exit(f"render exited {code}")
    first_start = forwards[0][0]
    frames = sum(n for _, _, n in forwards)
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "runner": names[0], "frames": frames, "python": t_python,
        "imports": marks["imports"] - t0 - t_python,
        # the model's load (on its own thread where the CLI starts it early), and how long the
        # render then waited for it
        "model": next((end - start for name, (start, end) in loads.items() if name == "engine-load"),
                      loads.get("MainThread", (0.0, 0.0))[1] - loads.get("MainThread", (0.0, 0.0))[0]),
        "model_wait": loads.get("MainThread", (0.0, 0.0))[1] - loads.get("MainThread", (0.0, 0.0))[0],
        "start_up": first_start - t0, "start_cpu": timed[0].start_cpu,
        "ms_per_frame": 1000 * (forwards[-1][1] - first_start) / frames,
        "encode": done - forwards[-1][1], "cpu": cpu.ru_utime + cpu.ru_stime}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=3, metavar=("CONFIG", "PHOTO", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--photo", type=Path, default=SHARED / "fom_source_image.png")
    ap.add_argument("--video", type=Path, default=SHARED / "mayiyahei.MP4")
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--max-fps", type=float, default=0.0)
    ap.add_argument("--workdir", type=Path,
                    help="keep the checkpoint, template and cache here (default: a temporary folder), so "
                         "that another run, say of an older tree, loads the same files")
    args = ap.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), Path(args.child[2]))
        return 0
    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_vs_ppgan import _checkpoint, _cpu_model, _make_template

    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-phases-")))
        else:
            tmp = args.workdir
            tmp.mkdir(parents=True, exist_ok=True)
        checkpoint = _checkpoint(args.checkpoint, tmp)
        shutil.rmtree(tmp / "templates" / "bench", ignore_errors=True)
        _, n = _make_template(args.video, args.frames, tmp / "templates" / "bench")
        config = tmp / "config.toml"
        config.write_text(f'[engine]\ncheckpoint = "{checkpoint}"\ncache_dir = "{tmp / "cache"}"\n\n'
                          f'[render]\nmax_fps = {args.max_fps}\n\n[templates]\ndir = "{tmp / "templates"}"\n',
                          encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        t = time.monotonic()
        # the bot's own start-up preparation (export, convert, motion; no int8 calibration)
        script = ("from pathlib import Path\n"
                  "from settings import load_settings\n"
                  "from engine import load_template\n"
                  "from engine.from_settings import make_engine\n"
                  "try:\n    from engine.tools.prepare import prepare\n"
                  "except ImportError:  # an older tree (a baseline run)\n    from engine.prepare import prepare\n"
                  f"s = load_settings(Path({str(config)!r}))\n"
                  "prepare(make_engine(s), [load_template('bench', s.templates.dir)])\n")
        subprocess.run([sys.executable, "-c", script],
                       cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"prepare (cold: export, convert, motion): {time.monotonic() - t:.1f} s")
        rows = []
        for i in range(args.runs):
            cmd = [sys.executable, __file__, "--child", str(config), str(args.photo),
                   str(tmp / f"out{i}.mp4")]
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
    keys = ["python", "imports", "model", "model_wait", "start_up", "start_cpu", "ms_per_frame", "encode", "wall",
            "cpu", "peak_gib"]
    print(" ".join(f"{k:>12}" for k in ["run", *keys]))
    for i, r in enumerate(rows, 1):
        print(" ".join([f"{i:>12}", *(f"{r[k]:12.3f}" for k in keys)]))
    for name, pick in (("best", min), ("median", statistics.median)):
        print(" ".join([f"{name:>12}", *(f"{pick(r[k] for r in rows):12.3f}" for k in keys)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
