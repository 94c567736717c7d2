"""Benchmark: how long until the bot is ready to render, cold (empty cache) and warm (a restart).

Runs `python -m engine prepare` (what the bot does at start-up before its first render) as its own
process, first on an empty cache_dir (it exports the compiled model and computes the template's
motion), then again on that cache (a restart), and prints the wall time of each whole process
(imports included), what `prepare` itself reported, and the peak RSS. Usage:

    python benchmarks/bench_start.py [--checkpoint vox-cpk.pdparams] [--video mayiyahei.MP4]
                                     [--warm-runs 3] [--device auto|cpu|gpu] [--threads N]

Without --checkpoint it uses full-size random vox-256 weights (the same shapes, so the same
timings); without --video the 蚂蚁呀嘿 template from ../shared/media or templates/yahey.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.cpu_features import describe_cpu  # noqa: E402


def _video(given: Path | None) -> Path:
    for candidate in (given, ROOT.parent / "shared" / "media" / "mayiyahei.MP4",
                      ROOT / "templates" / "yahey" / "mayiyahei.MP4"):
        if candidate is not None and candidate.is_file():
            return candidate
    sys.exit("no template video: pass --video or run `python -m engine templates fetch`")


def _checkpoint(given: Path | None, work: Path) -> Path:
    if given is not None:
        return given
    from engine.model.networks import build_networks, save_checkpoint
    from engine.model.paddle_compat import import_paddle

    import_paddle().seed(0)
    path = work / "vox-cpk.pdparams"
    save_checkpoint(build_networks(), path)
    return path


def _run(config: Path) -> tuple[float, int, str]:
    """(wall seconds, peak RSS bytes, prepare's output) of one `python -m engine prepare`."""
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "engine", "prepare", "--config", str(config)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"prepare failed:\n{out[-3000:]}")
    return seconds, usage.ru_maxrss * 1024, out


def _field(out: str, pattern: str) -> str:
    m = re.search(pattern, out, re.M)
    return m.group(1) if m else "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, help="real checkpoint (default: random full-size)")
    ap.add_argument("--video", type=Path, help="template video (default: 蚂蚁呀嘿)")
    ap.add_argument("--warm-runs", type=int, default=3)
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"))
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-start-") as tmp:
        work = Path(tmp)
        video = _video(args.video)
        template = work / "templates" / "yahey"
        template.mkdir(parents=True)
        shutil.copyfile(video, template / video.name)
        (template / "template.toml").write_text(f'title = "蚂蚁呀嘿"\nvideo = "{video.name}"\n',
                                                encoding="utf-8")
        checkpoint = _checkpoint(args.checkpoint, work)
        config = work / "config.toml"
        config.write_text(f'[engine]\ncheckpoint = "{checkpoint}"\ncache_dir = "{work / "cache"}"\n'
                          f'device = "{args.device}"\nthreads = {args.threads}\n\n'
                          f'[templates]\ndir = "{work / "templates"}"\n', encoding="utf-8")

        import paddle  # after the checkpoint was written; only for its version

        print(f"CPU: {describe_cpu()}; paddle {paddle.__version__}; device {args.device}; "
              f"threads {args.threads or 'all'}; weights {'real' if args.checkpoint else 'random'}; "
              f"template {video.name}")
        runs = [("cold (empty cache)", *_run(config))]
        runs += [(f"warm #{i + 1} (restart)", *_run(config)) for i in range(args.warm_runs)]
        print(f"{'start':22s} {'process s':>9s} {'prepare s':>9s} {'model s':>8s} "
              f"{'motion s':>8s} {'peak RSS GiB':>12s}  runner")
        for name, seconds, rss, out in runs:
            ready = _field(out, r"^ready: \w+ start in ([\d.]+) s")
            model = _field(out, r"^model: .*, ([\d.]+) s$")
            motion = _field(out, r"^template yahey: motion .*, ([\d.]+) s$")
            runner = _field(out, r"^model: (\S+)")
            print(f"{name:22s} {seconds:9.1f} {ready:>9s} {model:>8s} {motion:>8s} "
                  f"{rss / 1024 ** 3:12.2f}  {runner}")
        print(f"load average after: {os.getloadavg()[0]:.2f} (on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
