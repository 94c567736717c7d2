"""Keypoint motion transfer (ppgan.utils.animate.normalize_kp on numpy) and best-frame choice.

Runners only run networks; this is the arithmetic between the keypoint detector and the generator.
"""

from __future__ import annotations

import cv2
import numpy as np

from .model.runner_types import Keypoints


def _hull_area(points: np.ndarray) -> float:
    # OpenCV's hull, not scipy's ConvexHull (the same area): scipy.spatial was the slowest import
    # of a render process (~0.4 s of its start-up)
    if len(points) < 3 or not np.isfinite(points).all():
        return 0.0
    hull = cv2.convexHull(np.asarray(points, dtype=np.float32).reshape(-1, 1, 2))
    return float(cv2.contourArea(hull))


def movement_scale(kp_source_value: np.ndarray, kp_initial_value: np.ndarray) -> float:
    """sqrt(area ratio) of the keypoints' convex hulls: source face size / driving face size."""
    src, drv = _hull_area(kp_source_value), _hull_area(kp_initial_value)
    return float(np.sqrt(src) / np.sqrt(drv)) if src > 0 and drv > 0 else 1.0


def normalize_kp(kp_source: Keypoints, kp_driving: Keypoints, kp_initial: Keypoints,
                 relative: bool = True, adapt_scale: bool = True) -> Keypoints:
    """Driving keypoints [N,...] for one source face (kp_source/kp_initial: one frame, [10,...]).

    relative: move the source keypoints by the driving motion since `kp_initial`, rather than
    copying the driving face's absolute pose; adapt_scale rescales that motion by face size.
    """
    value, jacobian = kp_driving
    if not relative:
        return value.astype(np.float32), jacobian.astype(np.float32)
    scale = movement_scale(kp_source[0], kp_initial[0]) if adapt_scale else 1.0
    new_value = (value - kp_initial[0][None]) * scale + kp_source[0][None]
    jac_diff = jacobian @ np.linalg.inv(kp_initial[1])[None]
    new_jacobian = jac_diff @ kp_source[1][None]
    return new_value.astype(np.float32), new_jacobian.astype(np.float32)


def _shape_normalised(value: np.ndarray) -> np.ndarray:
    centred = value - value.mean(axis=-2, keepdims=True)
    area = _hull_area(centred)
    return centred / np.sqrt(area) if area > 0 else centred


def best_frame(kp_source_value: np.ndarray, driving_values: np.ndarray) -> int:
    """Index of the driving frame whose keypoint layout is closest to the source's (FOMM's
    find_best_frame, on FOMM's own keypoints instead of face_alignment landmarks)."""
    src = _shape_normalised(kp_source_value)
    dists = [float(((src - _shape_normalised(v)) ** 2).sum()) for v in driving_values]
    return int(np.argmin(dists))
