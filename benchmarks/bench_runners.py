"""Micro-benchmark of the model runners: ms/frame of the generator and keypoint detector, and PSNR
against the fp32 dynamic graph, for every precision this machine runs.

    .venv/bin/python benchmarks/bench_runners.py [--checkpoint vox-cpk.pdparams] [--batch 4]

Without --checkpoint it uses full-size random vox-256 weights "tamed" (final conv x0.1) so output
pixels are mid-range: on raw random weights the sigmoid saturates and flatters lossy paths.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from engine.model.paddle_compat import import_paddle  # noqa: E402

# threads as the engine sets them (before paddle loads); OMP_NUM_THREADS=1 measures one core
paddle = import_paddle(int(os.environ.get("OMP_NUM_THREADS") or 0))

from engine.cpu_features import cpu_model, has_fast_bf16  # noqa: E402
from engine.model.choose import load_inference_runner  # noqa: E402
from engine.model.networks import IMAGE_SIZE, build_networks, load_networks, save_checkpoint  # noqa: E402
from engine.model.runner_dygraph import DygraphRunner  # noqa: E402


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def inputs(frames: int, batch: int):
    import cv2
    from skimage import data

    face = cv2.resize(data.astronaut()[:300, 100:400], (IMAGE_SIZE, IMAGE_SIZE),
                      interpolation=cv2.INTER_AREA)
    source = face.astype(np.float32).transpose(2, 0, 1)[None] / 255.0
    shifts = np.linspace(-16, 16, frames).round().astype(int)
    driving = np.concatenate([np.roll(source, int(s), axis=3) for s in shifts])
    return np.repeat(source, batch, axis=0), driving


def run_interleaved(runners: dict, source, driving, batch: int, kp_source, frames_for: dict):
    """Time every runner batch by batch in turn, so load from other processes hits them alike.
    Returns {name: (generate ms/frame, keypoints ms/frame, frames)}."""
    for runner in runners.values():  # warm-up: oneDNN builds its kernels on the first run
        runner.generate(source[:batch], kp_source, kp_source)
        runner.keypoints(driving[:batch])
    stats = {name: [0.0, 0.0, [], 0.0] for name in runners}
    for i in range(0, len(driving), batch):
        chunk = driving[i:i + batch]
        n = len(chunk)
        ks = (kp_source[0][:n], kp_source[1][:n])
        for name, runner in runners.items():
            if i >= frames_for.get(name, len(driving)):
                continue
            t = time.perf_counter()
            kp = runner.keypoints(chunk)
            t1, c1 = time.perf_counter(), time.process_time()
            stats[name][2].append(runner.generate(source[:n], ks, kp))
            stats[name][0] += time.perf_counter() - t1
            stats[name][3] += time.process_time() - c1
            stats[name][1] += t1 - t
    out = {}
    for name, (gen, kp, frames, cpu) in stats.items():
        count = sum(len(f) for f in frames)
        out[name] = (1000 * gen / count, 1000 * kp / count, np.concatenate(frames),
                     1000 * cpu / count)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, help="real checkpoint (default: tamed random)")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--dygraph-frames", type=int, default=2, help="frames for the slow reference")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-runners-") as tmp:
        run(args, Path(tmp))


def run(args: argparse.Namespace, work: Path) -> None:
    if args.checkpoint:
        nets, checkpoint = load_networks(args.checkpoint), args.checkpoint
    else:
        paddle.seed(0)
        nets = build_networks()
        with paddle.no_grad():
            nets.generator.final.weight.set_value(nets.generator.final.weight * 0.1)
            nets.generator.final.bias.set_value(nets.generator.final.bias * 0.1)
        checkpoint = work / "tamed.pdparams"
        save_checkpoint(nets, checkpoint)

    print(f"CPU: {cpu_model()}; threads {os.environ['OMP_NUM_THREADS']}; paddle {paddle.__version__}; "
          f"batch {args.batch}; weights {'real' if args.checkpoint else 'tamed random'}")
    source, driving = inputs(args.frames, args.batch)
    reference = DygraphRunner(nets)
    kp_source = reference.keypoints(source)
    runners, load_s = {reference.name: reference}, {reference.name: 0.0}
    cache = work / "cache"
    t = time.perf_counter()
    load_inference_runner(nets, checkpoint, cache, "cpu", "fp32")
    export_s = time.perf_counter() - t
    for precision in ["fp32"] + (["bf16"] if has_fast_bf16() else []):
        t = time.perf_counter()
        runner = load_inference_runner(nets, checkpoint, cache, "cpu", precision)  # from the cache
        load_s[runner.name] = time.perf_counter() - t
        runners[runner.name] = runner
    n_ref = min(args.dygraph_frames, args.frames)
    stats = run_interleaved(runners, source, driving, args.batch, kp_source,
                            {reference.name: n_ref})
    ref_frames = stats[reference.name][2]
    print(f"first export + load: {export_s:.1f} s; dygraph measured on {n_ref} frames, "
          f"the others on {args.frames}")
    print("gen: wall ms per frame of generate(); cpu: process CPU ms per frame during it (all "
          "threads; ~gen x threads when the cores are free); kp: keypoint detector wall ms/frame")
    print(f"{'runner':24s} {'load s':>7s} {'gen ms':>8s} {'cpu ms':>8s} {'kp ms':>7s} "
          f"{'PSNR dB':>8s} {'x dygraph':>9s}")
    base = stats[reference.name][0]
    for name, (gen, kp, frames, cpu) in stats.items():
        quality = "ref" if name == reference.name else f"{psnr(frames[:n_ref], ref_frames):.1f}"
        print(f"{name:24s} {load_s[name]:7.1f} {gen:8.0f} {cpu:8.0f} {kp:7.1f} {quality:>8s} "
              f"{base / gen:9.1f}")
    print(f"load average while measuring: {os.getloadavg()[0]:.2f} (on {os.cpu_count()} CPUs)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    print(f"peak RSS of this process: {peak:.2f} GiB")


if __name__ == "__main__":
    main()
