"""A video sticker cut out: the animated faces cropped and laid on transparency.

Two parts, both on plain arrays (convert.py decodes the frames and encodes the WEBM):
- `sticker_cut(faces, width, height)`: the rectangle of the render the sticker shows: the largest
  face with room for hair, chin and the head's sway, plus the faces near it while the group stays
  at most STICKER_GROUP_SPAN times the largest face (so every face keeps ~100 px of the sticker's
  512); scaled so its long side is 512 px.
- `cut_out(frames, faces, segmenter)`: an alpha plane per frame from the person segmentation of
  engine/background.py (the person regions that hold a face, face boxes protected, edges
  feathered), smoothed over time round the loop so the outline does not flicker, faded out at the
  sticker's border, with the colour under the transparent part filled in smoothly from the person
  (cheap to encode, and no fringe of the old background where the chroma is subsampled).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..background import _person_regions
from ..cancel import CancelToken
from ..errors import RenderCancelled
from ..faces import Box
from ..segmentation import PersonSegmenter, SelfieSegmenter

STICKER_SIDE = 512
# Room around a face box (YuNet's box runs from the brows to the chin), in the face's width or
# height: hair above, chin and a little neck below, the ears and the head's sway either side.
SIDE_ROOM, TOP_ROOM, BOTTOM_ROOM = 0.45, 0.6, 0.4
STICKER_GROUP_SPAN = 5.0  # a group's rectangle: at most this times its largest face's long side
MASK_SIDE = 256  # long side the masks are worked out at (the selfie model sees 256 px anyway)
MASK_EVERY = 2  # frames segmented: every other one, those between interpolated (the head moves little)
BORDER_FADE = 0.03  # of the sticker's long side: the alpha fades to 0 towards the border...
BORDER_BAND = 0.012  # ... and is 0 on a band this wide along it


@dataclass(frozen=True)
class StickerCut:
    """The rectangle of the render the sticker shows, and the sticker's size."""

    x: int
    y: int
    w: int
    h: int
    out_w: int
    out_h: int
    faces: tuple[Box, ...]  # the faces shown, in the sticker's pixels

    @property
    def scale(self) -> float:
        return self.out_w / self.w


def _even(v: float) -> int:
    return int(math.floor(v / 2)) * 2


def _room(b: Box) -> tuple[float, float, float, float]:
    return (b.x - SIDE_ROOM * b.w, b.y - TOP_ROOM * b.h, b.x + b.w * (1 + SIDE_ROOM), b.y + b.h * (1 + BOTTOM_ROOM))


def _union(rects: Sequence[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    return (min(r[0] for r in rects), min(r[1] for r in rects), max(r[2] for r in rects), max(r[3] for r in rects))


def sticker_cut(faces: Sequence[Box], width: int, height: int) -> StickerCut | None:
    """What a width x height render's sticker shows, or None without faces (the whole frame).

    The largest face, then the others nearest the group's middle first, each kept while the
    group's rectangle (every face with its room) stays within STICKER_GROUP_SPAN of the largest
    face's long side. The rectangle is clipped to the frame and scaled to 512 px on its long side.
    """
    inside = [f for f in faces if f.w > 0 and f.h > 0 and f.x < width and f.y < height
              and f.x + f.w > 0 and f.y + f.h > 0]
    if not inside or width < 2 or height < 2:
        return None
    largest = max(inside, key=lambda f: f.area)
    span = STICKER_GROUP_SPAN * max(largest.w, largest.h)
    group = [largest]
    rest = [f for f in inside if f is not largest]
    while rest:
        u = _union([_room(f) for f in group])
        mx, my = (u[0] + u[2]) / 2, (u[1] + u[3]) / 2
        nearest = min(rest, key=lambda f: math.hypot(f.cx - mx, f.cy - my))
        rest.remove(nearest)
        grown = _union([u, _room(nearest)])
        if max(grown[2] - grown[0], grown[3] - grown[1]) <= span:
            group.append(nearest)
    x0, y0, x1, y1 = _union([_room(f) for f in group])
    x0, y0 = max(0, math.floor(x0)), max(0, math.floor(y0))
    x1, y1 = min(width, math.ceil(x1)), min(height, math.ceil(y1))
    w, h = max(2, x1 - x0), max(2, y1 - y0)
    if w >= h:
        out_w, out_h = STICKER_SIDE, max(2, _even(h * STICKER_SIDE / w))
    else:
        out_w, out_h = max(2, _even(w * STICKER_SIDE / h)), STICKER_SIDE
    sx, sy = out_w / w, out_h / h
    shown = tuple(Box((f.x - x0) * sx, (f.y - y0) * sy, f.w * sx, f.h * sy) for f in group)
    return StickerCut(x0, y0, w, h, out_w, out_h, shown)


_segmenter: SelfieSegmenter | None = None
_segmenter_lock = threading.Lock()


def default_segmenter() -> PersonSegmenter:
    """The bundled selfie model, loaded once per process (its forward is serialised inside)."""
    global _segmenter
    with _segmenter_lock:
        if _segmenter is None:
            _segmenter = SelfieSegmenter()
        return _segmenter


def _head_ellipses(faces: Sequence[Box], w: int, h: int) -> np.ndarray:
    """Soft ellipses round the faces with their hair: the mask where the segmenter sees no one."""
    alpha = np.zeros((h, w), np.float32)
    for f in faces:
        x0, y0, x1, y1 = _room(f)
        centre = (round((x0 + x1) / 2), round((y0 + y1) / 2 - 0.05 * f.h))
        axes = (max(1, round(0.8 * (x1 - x0) / 2)), max(1, round(0.85 * (y1 - y0) / 2)))
        cv2.ellipse(alpha, centre, axes, 0, 0, 360, 1.0, -1)
    return cv2.GaussianBlur(alpha, (0, 0), max(1.0, 0.02 * max(w, h)))


def _border_fade(w: int, h: int) -> np.ndarray:
    """1 inside, 0 on a band along the border (VP9's lossy alpha rings a little past a plain ramp:
    the band keeps the decoded border transparent), ramping in between."""
    ramp = max(3, round(BORDER_FADE * max(w, h)))
    band = max(2, round(BORDER_BAND * max(w, h)))

    def axis(n: int) -> np.ndarray:
        i = np.arange(n, dtype=np.float32)
        return np.clip((np.minimum(i, n - 1 - i) - band) / ramp, 0.0, 1.0)

    return np.outer(axis(h), axis(w))


def _frame_mask(small: np.ndarray, faces: Sequence[Box], segmenter: PersonSegmenter) -> np.ndarray | None:
    """One frame's alpha at the mask size, or None when no person holds a face. Like
    engine/background.py's mask (the regions that hold a face, a harder edge, feathered), but the
    faces are protected by the ellipse inside their box, not the box: the head moves in the
    render, and a box would carry the old background along as a rectangle."""
    prob = segmenter.mask(small)
    keep = _person_regions(prob, faces)
    if not keep.any():
        return None
    side = max(small.shape[:2])
    grow = max(1, round(0.02 * side))
    keep = cv2.dilate(keep.astype(np.uint8), cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))).astype(np.float32)
    t = np.clip((prob - 0.25) / 0.5, 0.0, 1.0)
    alpha = t * t * (3.0 - 2.0 * t) * keep
    inner = np.zeros_like(alpha)
    for f in faces:
        cv2.ellipse(inner, (round(f.cx), round(f.cy)), (max(1, round(0.42 * f.w)), max(1, round(0.45 * f.h))),
                    0, 0, 360, 1.0, -1)
    np.maximum(alpha, inner, out=alpha)
    return cv2.GaussianBlur(alpha, (0, 0), max(1.0, 0.006 * side))


def masks(frames: np.ndarray, faces: Sequence[Box], segmenter: PersonSegmenter,
          cancel: CancelToken | None = None) -> np.ndarray:
    """float32 alpha in 0..1 for the loop's RGB frames (N, H, W, 3), at the mask size (long side
    MASK_SIDE at most): (N, h, w)."""
    n, h, w = frames.shape[:3]
    s = min(1.0, MASK_SIDE / max(h, w))
    size = (max(1, round(w * s)), max(1, round(h * s)))
    small_faces = [f.scaled(s) for f in faces]
    fallback = _head_ellipses(small_faces, *size)
    out = np.empty((n, size[1], size[0]), np.float32)
    for i in range(0, n, MASK_EVERY):
        frame = frames[i]
        if cancel is not None and cancel.cancelled:
            raise RenderCancelled(f"sticker: {cancel.reason or 'cancelled'}")
        small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA) if s < 1 else frame
        m = _frame_mask(np.ascontiguousarray(small), small_faces, segmenter)
        out[i] = fallback if m is None else m
    for i in range(n):
        if i % MASK_EVERY:  # between two segmented frames; after the last, towards the loop's first
            before, after = i - i % MASK_EVERY, i - i % MASK_EVERY + MASK_EVERY
            t = (i - before) / MASK_EVERY
            out[i] = (1 - t) * out[before] + t * out[after if after < n else 0]
    if n >= 3:  # a loop: its last frame is followed by its first
        out = 0.25 * np.roll(out, 1, axis=0) + 0.5 * out + 0.25 * np.roll(out, -1, axis=0)
    return out


def _fill(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The frame with its transparent part filled in from the person around it (normalised
    convolution, worked out at 1/8 of the size): smooth where nobody sees it, the person's own
    colours at its edge (no fringe of the old background where the chroma is subsampled)."""
    h, w = alpha.shape
    size = (max(1, w // 8), max(1, h // 8))
    person = (alpha > 0.5).astype(np.uint8)
    if not person.any():
        person[:] = 1
    num = cv2.resize(cv2.bitwise_and(rgb, rgb, mask=person), size, interpolation=cv2.INTER_AREA).astype(np.float32)
    den = cv2.resize(person.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    sigma = max(1.0, 0.03 * max(size))
    num, den = cv2.GaussianBlur(num, (0, 0), sigma), cv2.GaussianBlur(den, (0, 0), sigma)
    mean = np.array(cv2.mean(rgb, mask=person)[:3], np.float32)
    eps = 0.02
    plain = np.clip((num + eps * mean) / (den + eps)[..., None] + 0.5, 0, 255).astype(np.uint8)
    plain = cv2.resize(plain, (w, h), interpolation=cv2.INTER_LINEAR)
    keep = np.clip(alpha * 4.0, 0.0, 1.0)  # a visible pixel keeps its own colour
    return cv2.blendLinear(np.ascontiguousarray(rgb), plain, keep, 1.0 - keep)


def cut_out(frames: np.ndarray, faces: Sequence[Box], segmenter: PersonSegmenter | None = None,
            cancel: CancelToken | None = None) -> np.ndarray:
    """RGBA uint8 (N, H, W, 4): the loop's RGB frames (N, H, W, 3) on transparency."""
    small = masks(frames, faces, segmenter or default_segmenter(), cancel)
    n, h, w = frames.shape[:3]
    fade = _border_fade(w, h)
    out = np.empty((n, h, w, 4), np.uint8)
    for i, (frame, m) in enumerate(zip(frames, small)):
        a = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) if m.shape != (h, w) else m
        a = np.clip(a * fade, 0.0, 1.0)
        out[i, ..., :3] = _fill(frame, a)
        out[i, ..., 3] = (a * 255.0 + 0.5).astype(np.uint8)
    return out
