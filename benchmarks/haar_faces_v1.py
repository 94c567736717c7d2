"""The engine's face detector before YuNet (engine/faces.py up to 2026-11), kept for
benchmarks/bench_faces.py to compare against; nothing in the engine uses it.

Face detection with OpenCV's Haar cascades, whose weights ship inside opencv-python (no download).

Two frontal cascades at three scales vote (the default one finds more faces, alt2 is more precise;
true faces are found in several passes, texture mostly in one). Detections that sit on an already
accepted, larger face's head or body are dropped: they are the default cascade's false positives
(collars, chests), and a second crop there would fight the first one's paste-back anyway.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.faces import Box  # noqa: E402  (the same box type as the engine's detector)

_CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml")
_DETECT_SIDE = 1280  # detect on a copy whose long side is at most this (speed)
_SCALES = (1.0, 0.7, 0.5)  # each cascade runs at these scales; true faces are found at several


@cache
def _cascade(name: str) -> cv2.CascadeClassifier:
    c = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    if c.empty():  # pragma: no cover - only if the opencv wheel is broken
        raise RuntimeError(f"OpenCV cascade {name} missing")
    return c


def _iou(a: Box, b: Box) -> float:
    x1, y1 = max(a.x, b.x), max(a.y, b.y)
    x2, y2 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / (a.area + b.area - inter) if inter else 0.0


def _on_person(small: Box, big: Box) -> bool:
    """True if `small`'s centre lies on `big`'s head (with margin) or body below it."""
    m = max(big.w, big.h)
    return (abs(small.cx - big.cx) <= 0.8 * m
            and big.cy - 1.0 * m <= small.cy <= big.cy + 2.5 * m)


def _raw_detections(gray: np.ndarray, min_face: float) -> list[Box]:
    h, w = gray.shape
    found: list[Box] = []
    for s in _SCALES:
        min_side = int(min_face * s)
        if min_side < 20:  # the cascades' own window is 20-24 px
            continue
        g = gray if s == 1.0 else cv2.resize(gray, (round(w * s), round(h * s)),
                                             interpolation=cv2.INTER_AREA)
        g = cv2.equalizeHist(g)
        for name in _CASCADES:
            rects = _cascade(name).detectMultiScale(g, scaleFactor=1.1, minNeighbors=3,
                                                    minSize=(min_side, min_side))
            found += [Box(*map(float, r)).scaled(1 / s) for r in rects]
    return found


def _vote(found: list[Box]) -> list[tuple[Box, int]]:
    """Cluster overlapping detections; a face is a cluster's median box with its vote count."""
    clusters: list[list[Box]] = []
    # OpenCV returns detections in a thread-dependent order: sort fully so results are repeatable.
    for box in sorted(found, key=lambda b: (-b.area, b.x, b.y)):
        for c in clusters:
            if _iou(box, c[0]) > 0.3:
                c.append(box)
                break
        else:
            clusters.append([box])
    faces = [(Box(*map(float, np.median([[b.x, b.y, b.w, b.h] for b in c], axis=0))), len(c))
             for c in clusters if len(c) >= 2]
    return sorted(faces, key=lambda t: (-round(t[0].area), t[0].x, t[0].y))


def detect_faces(rgb: np.ndarray, max_faces: int | None = None) -> list[Box]:
    """Faces in an RGB uint8 image, largest first.

    Detections are pooled over both cascades and three scales; a face needs 2 votes, or 3 when it
    is less than half the size of the largest face (small single-scale hits are mostly texture).
    """
    h, w = rgb.shape[:2]
    scale = min(1.0, _DETECT_SIDE / max(h, w))
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        gray = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    min_face = max(32.0, min(gray.shape) / 20)  # smaller faces are too small to animate anyway
    kept: list[Box] = []
    for box, votes in _vote(_raw_detections(gray, min_face)):
        if votes < 3 and kept and box.w < 0.5 * kept[0].w:
            continue
        if any(_iou(box, k) > 0.3 or _on_person(box, k) for k in kept):
            continue
        kept.append(box)
    kept = [b.scaled(1 / scale) for b in kept]
    return kept[:max_faces] if max_faces else kept
