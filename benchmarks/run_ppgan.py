"""Child process for bench_vs_ppgan.py: PaddleGAN's own FirstOrderPredictor, as its users run it.

Only two things are changed so it runs offline: `paddle.fluid` is shimmed for ppgan 2.1.0 on
paddle >= 2.6, and `extract_bbox` returns a fixed face box (its S3FD detector downloads weights).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.model.paddle_compat import install_fluid_shim  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photo", required=True)
    ap.add_argument("--video", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--box", required=True, help="x1,y1,x2,y2 in photo pixels")
    args = ap.parse_args()

    import paddle  # noqa: F401  (threads: whatever OMP_NUM_THREADS the parent gave, as for users)

    install_fluid_shim()
    from ppgan.apps.first_order_predictor import FirstOrderPredictor

    x1, y1, x2, y2 = (int(v) for v in args.box.split(","))
    box = np.array([[x1, y1, x2, y2, (x2 - x1) * (y2 - y1)]])
    FirstOrderPredictor.extract_bbox = lambda self, image: box
    out = Path(args.out)
    predictor = FirstOrderPredictor(output=str(out.parent), filename=out.name,
                                    weight_path=args.checkpoint, relative=True, adapt_scale=True)
    predictor.run(args.photo, args.video)


if __name__ == "__main__":
    main()
