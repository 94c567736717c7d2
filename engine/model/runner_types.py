"""The seam between the animation loop and whatever runs the two FOMM networks.

A runner only does network forwards on numpy batches; keypoint normalisation, cropping, decoding and
encoding live outside it. This module holds only the types, so the runners and the code choosing
among them (engine/model/choose.py) import it without importing each other in a circle.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

Keypoints = tuple[np.ndarray, np.ndarray]  # (value [B,10,2], jacobian [B,10,2,2]) float32


class ModelRunner(Protocol):
    name: str  # e.g. "inference-cpu-bf16", "dygraph-fp32"
    precision: str  # "fp32", "bf16" or "fp16": what the forwards run in now
    device: str  # "cpu" or "gpu"
    # None on the fast path; one line saying why this runs on paddle's dynamic graph otherwise
    fallback_reason: str | None

    def keypoints(self, frames: np.ndarray) -> Keypoints:
        """frames float32 [B,3,256,256] RGB 0..1 -> (value [B,10,2], jacobian [B,10,2,2])."""
        ...

    def generate(self, source: np.ndarray, kp_source: Keypoints, kp_driving: Keypoints) -> np.ndarray:
        """source [B,3,256,256], keypoints batched [B,...] -> prediction [B,3,256,256] float32 0..1."""
        ...
