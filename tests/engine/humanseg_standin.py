"""A stand-in for a PaddleSeg PP-HumanSegV2 inference model, for tests and the benchmark.

PP-HumanSeg's real weights cannot be downloaded where the tests run, so this writes a tiny network
in the same format and with the same interface: the Paddle-2 program files `model.pdmodel` +
`model.pdiparams` that PaddleSeg's tools/export.py writes (paddle.jit.save with the legacy IR),
its deploy.yaml (Resize to 256x144, Normalize mean/std 0.5), input `x` NCHW float32 of any size,
output softmax [N, 2, H, W] at the input's size, channel 1 = person.

Its "person" is a fixed colour rule, so a test can predict every pixel: after PaddleSeg's
normalisation n = (v / 255 - 0.5) / 0.5 per channel, the person logit minus the background logit is
GAIN * (nR + nG - nB). The network pools 2x2, applies that as a 1x1 conv and resizes back
bilinearly, like a segmentation head.

    python tests/engine/humanseg_standin.py FOLDER     # what export_standin runs
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

GAIN = 4.0
SIZE = (256, 144)  # deploy.yaml's Resize target_size: width, height (the portrait V2-Lite's)
FILES = ("model.pdmodel", "model.pdiparams", "deploy.yaml")


def export_standin(folder: Path, size: tuple[int, int] = SIZE) -> Path:
    """Write the stand-in into `folder` (created) and return it. Runs in a child process: the
    legacy program format needs FLAGS_enable_pir_api=0 before paddle is imported, and the
    calling process (a test session) has paddle loaded with PIR already."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "FLAGS_enable_pir_api": "0", "GLOG_minloglevel": "2"}
    proc = subprocess.run([sys.executable, __file__, str(folder), str(size[0]), str(size[1])],
                          env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"stand-in export failed: {proc.stderr.strip()[-2000:]}")
    missing = [n for n in FILES if not (folder / n).is_file()]
    if missing:
        raise RuntimeError(f"stand-in export wrote no {', '.join(missing)}")
    return folder


def expected_probability(rgb: np.ndarray) -> np.ndarray:
    """The stand-in's person probability for the pixels of a flat-coloured region (float32)."""
    n = (rgb.astype(np.float32) / 255.0 - 0.5) / 0.5
    logit = GAIN * (n[..., 0] + n[..., 1] - n[..., 2])
    return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)


def _export(folder: str, width: int, height: int) -> None:
    import paddle
    import paddle.nn.functional as F
    import yaml

    class StandIn(paddle.nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.head = paddle.nn.Conv2D(3, 2, 1)
            # background logit -GAIN/2 (R + G - B), person logit +GAIN/2 (R + G - B)
            rule = paddle.to_tensor([[-0.5, -0.5, 0.5], [0.5, 0.5, -0.5]], "float32") * GAIN
            self.head.weight.set_value(rule.reshape([2, 3, 1, 1]))
            self.head.bias.set_value(paddle.zeros([2], "float32"))

        def forward(self, x):
            logit = self.head(F.avg_pool2d(x, 2, 2))
            logit = F.interpolate(logit, paddle.shape(x)[2:], mode="bilinear", align_corners=False)
            return F.softmax(logit, axis=1)

    net = StandIn()
    net.eval()
    spec = [paddle.static.InputSpec([None, 3, None, None], "float32", "x")]
    paddle.jit.save(paddle.jit.to_static(net, input_spec=spec), os.path.join(folder, "model"))
    deploy = {"Deploy": {"model": "model.pdmodel", "params": "model.pdiparams",
                         "transforms": [{"type": "Resize", "target_size": [width, height]},
                                        {"type": "Normalize", "mean": [0.5, 0.5, 0.5],
                                         "std": [0.5, 0.5, 0.5]}],
                         "input_shape": [-1, 3, -1, -1], "output_op": "softmax",
                         "output_dtype": "float32"}}
    with open(os.path.join(folder, "deploy.yaml"), "w") as f:
        yaml.dump(deploy, f)


if __name__ == "__main__":
    if os.environ.get("FLAGS_enable_pir_api") != "0":
        sys.exit("run with FLAGS_enable_pir_api=0 (or call export_standin)")
    _export(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else SIZE[0],
            int(sys.argv[3]) if len(sys.argv) > 3 else SIZE[1])
