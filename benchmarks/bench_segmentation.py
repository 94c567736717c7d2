"""Clean-background cost per photo, in-process with paddle loaded as in the bot: ms at 640, 1280
and 4000 px (long side) for
  mask     the segmenter alone on the photo (the model's resize included)
  clean    engine.background.clean_background: mask, close-up passes for small faces, anchoring,
           feathering, face protection and the composition at the photo's size
for the bundled selfie model on a one-person photo (scikit-image's astronaut) and a group
(../shared/media/t1.jpg when present), and for the PP-HumanSeg path on a STAND-IN model
(tests/engine/humanseg_standin.py: a 1x1-conv network in PaddleSeg's format; it times the plumbing
of paddle.inference, not PP-HumanSegV2's network). Face detection is not included (the render has
done it already). Median (and best) of --repeat calls after a warm-up.

    .venv/bin/python benchmarks/bench_segmentation.py [--repeat 9] [--photo PATH]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

SIDES = (640, 1280, 4000)
GROUP = ROOT.parent / "shared" / "media" / "t1.jpg"


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times), min(times)


def at_side(rgb: np.ndarray, side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = side / max(h, w)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=interp)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--photo", type=Path, help="a group photo (default: ../shared/media/t1.jpg)")
    args = ap.parse_args()

    from engine.background import clean_background
    from engine.cpu_features import describe_cpu
    from engine.faces import detect_faces
    from engine.model.paddle_compat import import_paddle
    from engine.segmentation import HumanSegSegmenter, SelfieSegmenter
    from tests.engine.humanseg_standin import export_standin

    paddle = import_paddle()  # as in the bot: paddle's threads set, its runtime loaded
    print(f"CPU: {describe_cpu()}; paddle {paddle.__version__}, OpenCV {cv2.__version__} "
          f"({cv2.getNumThreads()} threads)")
    import skimage.data

    photos = {"one person (astronaut)": skimage.data.astronaut()}
    group = args.photo or (GROUP if GROUP.is_file() else None)
    if group is not None:
        photos[f"group ({group.name})"] = cv2.cvtColor(cv2.imread(str(group)), cv2.COLOR_BGR2RGB)
    with tempfile.TemporaryDirectory() as tmp:
        segmenters = {"selfie": SelfieSegmenter(),
                      "humanseg STAND-IN": HumanSegSegmenter(export_standin(Path(tmp) / "hs"))}
        print(f"{'model':<18} {'photo':<26} {'side':>5} {'faces':>5} {'mask ms':>14} {'clean ms':>14}")
        for seg_name, seg in segmenters.items():
            for photo_name, photo in photos.items():
                for side in SIDES:
                    rgb = at_side(photo, side)
                    faces = detect_faces(rgb)
                    mask_ms = timed(functools.partial(seg.mask, rgb), args.repeat)
                    clean_ms = timed(functools.partial(clean_background, rgb, faces, seg), args.repeat)
                    print(f"{seg_name:<18} {photo_name:<26} {side:>5} {len(faces):>5} "
                          f"{mask_ms[0]:>7.1f} ({mask_ms[1]:>4.1f}) {clean_ms[0]:>7.1f} ({clean_ms[1]:>4.1f})",
                          flush=True)


if __name__ == "__main__":
    main()
