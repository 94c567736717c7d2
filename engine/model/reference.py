"""The reference frame every export is checked against: a test input and the fp32 dynamic graph's
output for it, saved beside the export (`reference.npz`) and copied into the OpenVINO conversion.
A silently wrong model (an optimisation pass that miscompiles an op, an fp16 overflow) must not
reach users, and this is its only check."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .networks import IMAGE_SIZE, Networks
from .quality import psnr
from .runner_dygraph import DygraphRunner
from .runner_types import ModelRunner

REFERENCE = "reference.npz"


def write_reference(directory: Path, networks: Networks) -> None:
    """Save a test input and the dynamic graph's fp32 output in `directory`."""
    import cv2

    rng = np.random.default_rng(0)
    # a smooth random image and a small head motion: a plausible input, cheap to make
    source = cv2.resize(rng.random((8, 8, 3)).astype(np.float32), (IMAGE_SIZE, IMAGE_SIZE),
                        interpolation=cv2.INTER_CUBIC).clip(0, 1).transpose(2, 0, 1)[None]
    source = np.ascontiguousarray(source)
    reference = DygraphRunner(networks)
    ks_value, ks_jacobian = reference.keypoints(source)
    kd_value = ks_value + rng.uniform(-0.05, 0.05, ks_value.shape).astype(np.float32)
    expected = reference.generate(source, (ks_value, ks_jacobian), (kd_value, ks_jacobian))
    np.savez(directory / REFERENCE, source=source, ks_value=ks_value, ks_jacobian=ks_jacobian,
             kd_value=kd_value, kd_jacobian=ks_jacobian, expected=expected)


def load_reference(directory: Path) -> dict[str, np.ndarray]:
    """The export's test input and the dynamic graph's output for it: source [1,3,256,256],
    ks_value/ks_jacobian, kd_value/kd_jacobian, expected [1,3,256,256]."""
    with np.load(directory / REFERENCE) as ref:
        return {k: ref[k] for k in ref.files}


def reference_frame(runner: ModelRunner, reference: dict[str, np.ndarray]) -> np.ndarray:
    """The runner's frame for the reference input."""
    return runner.generate(reference["source"], (reference["ks_value"], reference["ks_jacobian"]),
                           (reference["kd_value"], reference["kd_jacobian"]))


def reference_psnr(runner: ModelRunner, reference: dict[str, np.ndarray]) -> float:
    """PSNR (dB) of any runner's frame against the reference frame (200 when identical)."""
    return psnr(reference_frame(runner, reference), reference["expected"])
