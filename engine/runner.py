"""The seam between the animation loop and whatever runs the two FOMM networks.

A runner only does network forwards on numpy batches; keypoint normalisation, cropping, decoding and
encoding live outside it. `make_runner` picks the implementation (the plain dynamic graph is the
fp32 reference path and the fallback).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from .networks import Networks

Keypoints = tuple[np.ndarray, np.ndarray]  # (value [B,10,2], jacobian [B,10,2,2]) float32


class ModelRunner(Protocol):
    name: str

    def keypoints(self, frames: np.ndarray) -> Keypoints:
        """frames float32 [B,3,256,256] RGB 0..1 -> (value [B,10,2], jacobian [B,10,2,2])."""
        ...

    def generate(self, source: np.ndarray, kp_source: Keypoints, kp_driving: Keypoints) -> np.ndarray:
        """source [B,3,256,256], keypoints batched [B,...] -> prediction [B,3,256,256] float32 0..1."""
        ...


def make_runner(networks: "Networks | Callable[[], Networks]", checkpoint: Path, cache_dir: Path, device: str,
                precision: str) -> ModelRunner:
    """Choose the runner for this device/precision; `device` is already resolved ("cpu" or "gpu")."""
    import functools
    import logging

    from .runner_dygraph import DygraphRunner
    from .runner_inference import load_inference_runner, resolve_networks, resolve_precision

    # a wrong setting is an error, not a reason to fall back; "auto" -> what this machine runs best
    precision = resolve_precision(device, precision)
    if callable(networks):
        networks = functools.cache(networks)  # load at most once, export or fallback
    try:
        # Exported once per checkpoint, then loaded from cache_dir: oneDNN fp32/bf16 or GPU fp16.
        # `networks` may also be a loader (called only when the export is not cached yet).
        return load_inference_runner(networks, checkpoint, cache_dir, device, precision)
    except Exception as exc:  # any export/predictor failure: the reference path still renders
        logging.getLogger(__name__).warning(
            "compiled model runner unavailable, using paddle's dynamic graph (slower): %s", exc)
        return DygraphRunner(resolve_networks(networks))
