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
        # Where the weights are, whatever paddle's current device: networks loaded for the export
        # stay on the CPU (engine/model/device.py on_cpu) while the engine's device is a GPU.
        self._place = next(iter(networks.generator.parameters())).place
        self.device = "gpu" if self._place.is_gpu_place() else "cpu"
        # None when the dynamic graph was asked for (the reference); else why it stands in for the
        # compiled runner, one line, for the log and /healthz
        self.fallback_reason = fallback_reason
        networks.kp_detector.eval()
        networks.generator.eval()

    def _tensor(self, array: np.ndarray):
        return self._paddle.to_tensor(np.ascontiguousarray(array, np.float32), place=self._place)

    def keypoints(self, frames: np.ndarray) -> Keypoints:
        paddle = self._paddle
        with paddle.no_grad():
            out = self.networks.kp_detector(self._tensor(frames))
        return out["value"].numpy(), out["jacobian"].numpy()

    def generate(self, source: np.ndarray, kp_source: Keypoints, kp_driving: Keypoints) -> np.ndarray:
        paddle = self._paddle

        def kp(k: Keypoints) -> dict:
            return {"value": self._tensor(k[0]), "jacobian": self._tensor(k[1])}

        with paddle.no_grad():
            out = self.networks.generator(self._tensor(source),
                                          kp_driving=kp(kp_driving), kp_source=kp(kp_source))
        return out["prediction"].numpy()
