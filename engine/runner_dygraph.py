"""The reference runner: ppgan's networks in paddle's dynamic graph, fp32, eval mode, no grad."""

from __future__ import annotations

import numpy as np

from .networks import Networks
from .paddle_compat import import_paddle
from .runner_types import Keypoints


class DygraphRunner:
    name = "dygraph-fp32"
    precision = "fp32"

    def __init__(self, networks: Networks, fallback_reason: str | None = None) -> None:
        self._paddle = import_paddle()
        self.networks = networks
        # where paddle.set_device put the tensors ("gpu:0" -> "gpu")
        self.device = "gpu" if self._paddle.get_device().startswith("gpu") else "cpu"
        # None when the dynamic graph was asked for (the reference); else why it stands in for the
        # compiled runner, one line, for the log and /healthz
        self.fallback_reason = fallback_reason
        networks.kp_detector.eval()
        networks.generator.eval()

    def keypoints(self, frames: np.ndarray) -> Keypoints:
        paddle = self._paddle
        with paddle.no_grad():
            out = self.networks.kp_detector(paddle.to_tensor(np.ascontiguousarray(frames, np.float32)))
        return out["value"].numpy(), out["jacobian"].numpy()

    def generate(self, source: np.ndarray, kp_source: Keypoints, kp_driving: Keypoints) -> np.ndarray:
        paddle = self._paddle

        def kp(k: Keypoints) -> dict:
            return {"value": paddle.to_tensor(np.ascontiguousarray(k[0], np.float32)),
                    "jacobian": paddle.to_tensor(np.ascontiguousarray(k[1], np.float32))}

        with paddle.no_grad():
            out = self.networks.generator(paddle.to_tensor(np.ascontiguousarray(source, np.float32)),
                                          kp_driving=kp(kp_driving), kp_source=kp(kp_source))
        return out["prediction"].numpy()
