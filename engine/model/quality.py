"""How close a frame is to its reference: PSNR in dB for frames in [0, 1], the figure every accuracy
gate of the runners (Paddle Inference, OpenVINO, int8) and `doctor` compare."""

from __future__ import annotations

import numpy as np

IDENTICAL_DB = 200.0  # what identical frames score (PSNR is infinite there)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """0 for frames of another shape or with NaN/inf (a broken model), IDENTICAL_DB when equal."""
    if a.shape != b.shape or not np.isfinite(a).all():
        return 0.0
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return IDENTICAL_DB if mse == 0 else float(10 * np.log10(1.0 / mse))
