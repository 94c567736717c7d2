"""Clean background: the people in a photo kept, everything else replaced by a plain background
before animation, so FOMM moves a head over a plain colour instead of warping a bookshelf, and
every frame stays clean.

One plain function on one image and its faces (the grid path calls it per tile). The mask is
worked out on a copy whose long side is at most WORK_SIDE (the models see 256 px anyway):
1. the segmenter's person probability for the whole photo;
2. for faces small in the photo (a group), another pass on each face's upper-body box (boxes of
   neighbours merged), where the people fill the model's input as it was trained for, merged
   into the first by maximum;
3. only the person regions that hold a face are kept: the selfie model also "finds" people in
   cats and cups (19% of scikit-image's coffee, 91% of its cat), so faces anchor it, and
   a photo without faces has no person to keep;
4. edges feathered; each face's box plus a margin forced to "person", so the mask's errors never
   cut into a face (its pixels stay the photo's);
5. composed over a colour (DEFAULT_BACKGROUND) or over a blurred copy of the photo's background.
When the segmenter finds no person around a face, the photo is returned unchanged with a note.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import cv2
import numpy as np

from .errors import EngineError
from .faces import Box
from .options import RenderOptions
from .segmentation import PersonSegmenter

DEFAULT_BACKGROUND = RenderOptions.background  # one default, kept in engine/options.py
BLUR = "blur"
WORK_SIDE = 512
NO_PERSON_NOTE = "no person found: kept the photo's own background"
_CLOSEUP_FRACTION = 0.12  # faces smaller than this part of the long side get their own pass
_MERGE_SIDE = 1.5  # merged upper-body boxes: at most this times each one's width and height
_MIN_SUPPORT = 0.35  # mean person probability inside a face box for the face to be a person's
_NAMED = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128),
          "gray": (128, 128, 128), "green": (0, 177, 64), "blue": (0, 71, 187)}
_HEX = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


class BadBackground(EngineError):
    """The background is neither a colour nor "blur" (one line)."""


def parse_background(text: str) -> tuple[int, int, int] | None:
    """"#rrggbb", "#rgb", a few names (white, black, grey, green, blue) -> RGB; "blur" -> None."""
    value = text.strip().lower()
    if value == BLUR:
        return None
    if value in _NAMED:
        return _NAMED[value]
    m = _HEX.fullmatch(value)
    if m is None:
        raise BadBackground(f"background must be a colour like #f2f2f2 or 'blur', not {text!r}")
    digits = m.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def clean_background(image: np.ndarray, faces: Sequence[Box], segmenter: PersonSegmenter,
                     background: str = DEFAULT_BACKGROUND) -> tuple[np.ndarray, str | None]:
    """The photo (RGB uint8) with everything but its people replaced by `background`; faces are
    the boxes in the photo's pixels that will be animated, and a person is the segmented region
    around a face. Returns (image, None), or the photo itself and a note when no face is given or
    the segmenter finds no person around a face."""
    colour = parse_background(background)  # a bad value fails before any work
    alpha_small, small, note = _alpha(image, faces, segmenter)
    if note is not None:
        return image, note
    h, w = image.shape[:2]
    alpha = cv2.resize(alpha_small, (w, h), interpolation=cv2.INTER_LINEAR)
    if colour is None:
        plain = cv2.resize(_blurred_background(small, alpha_small), (w, h),
                           interpolation=cv2.INTER_LINEAR)
    else:
        # per channel: numpy's broadcast of an RGB triple over the image is ~30x slower
        plain = cv2.merge([np.full((h, w), c, np.uint8) for c in colour])
    out = cv2.blendLinear(np.ascontiguousarray(image), plain, alpha, 1.0 - alpha)
    return out, None


def person_mask(image: np.ndarray, faces: Sequence[Box], segmenter: PersonSegmenter) -> np.ndarray:
    """The blending mask clean_background uses, at the photo's size: float32 HxW, 1 = person
    (face boxes protected, edges feathered). All zeros when no person was found."""
    alpha_small, _, note = _alpha(image, faces, segmenter)
    h, w = image.shape[:2]
    if note is not None:
        return np.zeros((h, w), np.float32)
    return cv2.resize(alpha_small, (w, h), interpolation=cv2.INTER_LINEAR)


def _alpha(image: np.ndarray, faces: Sequence[Box],
           segmenter: PersonSegmenter) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(alpha at the working size, the photo at that size, a note when no person was found)."""
    h, w = image.shape[:2]
    if not faces:  # people are found by their faces: the model alone sees people in cats and cups
        return np.zeros((1, 1), np.float32), image, NO_PERSON_NOTE
    scale = min(1.0, WORK_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if scale < 1 else image
    boxes = [b.scaled(scale) if scale != 1 else b for b in faces]
    prob = segmenter.mask(small)
    for rect in _closeup_rects(boxes, *small.shape[:2]):
        _closeup_pass(small, rect, segmenter, prob)
    supports = [float(inside.mean()) if (inside := _inside(prob, b)).size else 0.0 for b in boxes]
    lacking = sum(s < _MIN_SUPPORT for s in supports)
    if lacking == len(boxes):
        return prob, small, NO_PERSON_NOTE
    if lacking:
        return prob, small, (f"no person found around {lacking} of {len(boxes)} faces: "
                             f"kept the photo's own background")
    keep = _person_regions(prob, boxes)
    if not keep.any():
        return prob, small, NO_PERSON_NOTE
    side = max(small.shape[:2])
    grow = max(1, round(0.02 * side))  # a region's soft edge lies just outside its 0.5 outline
    keep = cv2.dilate(keep.astype(np.uint8), cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))).astype(np.float32)
    # Harder than the model's own ramp (less background showing through at the edges), then
    # feathered by ~0.6% of the side so the outline is soft at any output size.
    t = np.clip((prob - 0.25) / 0.5, 0.0, 1.0)
    alpha = t * t * (3.0 - 2.0 * t) * keep
    sigma = max(1.0, 0.006 * side)
    alpha = cv2.GaussianBlur(alpha, (0, 0), sigma)
    for box in boxes:
        _protect_face(alpha, box)
    return alpha, small, None


def _inside(prob: np.ndarray, box: Box) -> np.ndarray:
    h, w = prob.shape
    x0, y0 = max(0, int(box.x)), max(0, int(box.y))
    x1, y1 = min(w, int(np.ceil(box.x + box.w))), min(h, int(np.ceil(box.y + box.h)))
    return prob[y0:y1, x0:x1]


Rect = tuple[int, int, int, int]  # x0, y0, x1, y1


def _closeup_rects(boxes: Sequence[Box], h: int, w: int) -> list[Rect]:
    """The upper-body boxes of the faces small in the photo, neighbours merged while the union
    is at most _MERGE_SIDE times each one's width and height: one model pass then covers several
    people of a group, each still seen at >= 2/3 of the scale it would get alone."""
    merged: list[tuple[Rect, int, int]] = []  # rect, smallest width and height merged into it
    for box in boxes:
        m = max(box.w, box.h)
        if m >= _CLOSEUP_FRACTION * max(h, w):
            continue
        r = (max(0, int(box.cx - 2.5 * m)), max(0, int(box.cy - 1.6 * m)),
             min(w, int(box.cx + 2.5 * m)), min(h, int(box.cy + 3.4 * m)))
        rw, rh = r[2] - r[0], r[3] - r[1]
        if rw < 8 or rh < 8:
            continue
        for i, (c, cw, ch) in enumerate(merged):
            u = (min(c[0], r[0]), min(c[1], r[1]), max(c[2], r[2]), max(c[3], r[3]))
            nw, nh = min(cw, rw), min(ch, rh)
            if u[2] - u[0] <= _MERGE_SIDE * nw and u[3] - u[1] <= _MERGE_SIDE * nh:
                merged[i] = (u, nw, nh)
                break
        else:
            merged.append((r, rw, rh))
    return [r for r, _, _ in merged]


def _closeup_pass(small: np.ndarray, rect: Rect, segmenter: PersonSegmenter, prob: np.ndarray) -> None:
    """Segment `rect` on its own and merge it into `prob` (in place), tapered towards the rect's
    inner edges so no seam shows where the two passes meet."""
    h, w = prob.shape
    x0, y0, x1, y1 = rect
    local = segmenter.mask(np.ascontiguousarray(small[y0:y1, x0:x1]))

    def taper(n: int, at_start: bool, at_end: bool) -> np.ndarray:
        ramp = max(1, int(0.12 * n))
        t = np.ones(n, np.float32)
        edge = np.linspace(0.0, 1.0, ramp, endpoint=False, dtype=np.float32)
        if not at_start:
            t[:ramp] = edge
        if not at_end:
            t[n - ramp:] = edge[::-1]
        return t

    window = np.outer(taper(y1 - y0, y0 == 0, y1 == h), taper(x1 - x0, x0 == 0, x1 == w))
    np.maximum(prob[y0:y1, x0:x1], local * window, out=prob[y0:y1, x0:x1])


def _person_regions(prob: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
    """bool mask of the connected person regions (probability > 0.5) that hold a face."""
    _, labels = cv2.connectedComponents((prob > 0.5).astype(np.uint8), connectivity=8)
    kept: set[int] = set()
    for box in boxes:
        kept.update(int(v) for v in np.unique(_inside(labels, box)))
    kept.discard(0)
    return np.isin(labels, sorted(kept)) if kept else np.zeros(prob.shape, bool)


def _protect_face(alpha: np.ndarray, box: Box) -> None:
    """Force the face's box plus a margin to 1 (its pixels stay the photo's, whatever the mask
    says; the margin, at least 2 px here, also covers the resize back to the photo's size), and
    fade to 0 outside it, so no hard box edge shows where the mask was wrong."""
    m = max(box.w, box.h)
    margin = max(2.0, 0.05 * m)
    feather = max(1.0, 0.06 * m)
    h, w = alpha.shape
    # blurred, a box grown by one sigma is 0.84 at the margin: a step too small to see, and the
    # fade ends ~3 sigma out (a wider one showed the photo's background as a halo round the head)
    reach = margin + feather
    pad = int(np.ceil(reach + 3 * feather)) + 1
    x0, y0 = max(0, int(box.x) - pad), max(0, int(box.y) - pad)
    x1, y1 = min(w, int(np.ceil(box.x + box.w)) + pad), min(h, int(np.ceil(box.y + box.h)) + pad)
    if x1 <= x0 or y1 <= y0:
        return

    def rect(grow: float) -> np.ndarray:
        r = np.zeros((y1 - y0, x1 - x0), np.float32)
        r[max(0, int(box.y - grow) - y0):int(np.ceil(box.y + box.h + grow)) - y0,
          max(0, int(box.x - grow) - x0):int(np.ceil(box.x + box.w + grow)) - x0] = 1.0
        return r

    soft = cv2.GaussianBlur(rect(reach), (0, 0), feather)
    patch = alpha[y0:y1, x0:x1]
    np.maximum(patch, np.maximum(rect(margin), soft), out=patch)


def _blurred_background(small: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """A heavily blurred copy of the background alone (people cut out and filled in from around
    them by normalised convolution), at the working size."""
    weight = np.clip(1.0 - alpha, 0.0, 1.0)
    sigma = 0.04 * max(small.shape[:2])
    img = small.astype(np.float32)
    weighted = img * weight[..., None]
    num = cv2.GaussianBlur(weighted, (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
    total = float(weight.sum())
    mean = weighted.reshape(-1, 3).sum(0) / total if total > 0 else img.mean((0, 1))
    eps = 0.02  # where no background is near (behind a big person), fade to its mean colour
    return np.asarray(np.clip((num + eps * mean) / (den + eps) + 0.5, 0, 255), np.uint8)
