"""Where a face is cut out of the photo for FOMM and where its animation is pasted back.

The crop uses PaddleGAN's margins around the detector's box (1.0x the box size above and below the
centre, 0.8x left and right) but is made square by widening it to 1.0x on every side instead of
squashing a 1.6:2 rectangle into 256x256. Where the square leaves the photo it is padded by
reflection. The animated crop is pasted back through a feathered ellipse, so no seam shows and
every pixel outside the ellipses stays the photo's.

FOMM was trained on upright faces: when a face's eye line tilts by more than ROLL_MIN_DEGREES the
square is turned with it, so the crop the model sees is upright, and the animated crop is turned
back at paste-back (the ellipse turns with it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .faces import Box, Face, align_face

SIZE = 256
_FEATHER = 0.12  # blur width as a fraction of the crop side
ROLL_MIN_DEGREES = 5.0  # smaller tilts are left alone: turning costs a resampling each way


@dataclass(frozen=True)
class FaceRegion:
    """A square region of the photo (may extend past its edges) and its blending mask.

    For a tilted face, the square cut for the model (crop_side, turned by `angle`) lies inside
    this axis-aligned one, and `alpha` is its turned ellipse; `turn` maps this square's pixels to
    the upright crop's."""

    x0: int
    y0: int
    side: int
    alpha: np.ndarray  # float32 [side, side, 1], 1 inside the ellipse, feathered to 0
    angle: float = 0.0  # the face's roll in degrees (0: not turned)
    crop_side: int = 0  # side of the square that becomes the model's crop (0: `side`)
    turn: np.ndarray | None = None  # 2x3 affine: this square's pixels -> upright crop pixels

    def clip(self, h: int, w: int) -> tuple[int, int, int, int]:
        """Photo coordinates (x0, y0, x1, y1) of the part of the region inside the photo."""
        return max(0, self.x0), max(0, self.y0), min(w, self.x0 + self.side), min(h, self.y0 + self.side)


def _ellipse_alpha(side: int) -> np.ndarray:
    # PaddleGAN's rectangle is 0.8 x 1.0 (half-width x half-height) of the face size m = side/2.
    m = side / 2
    feather = max(1.0, _FEATHER * side)
    mask: np.ndarray = np.zeros((side, side), np.float32)
    axes = (max(1, int(0.8 * m - feather)), max(1, int(m - feather)))
    cv2.ellipse(mask, (side // 2, side // 2), axes, 0, 0, 360, 1.0, -1)
    k = int(feather) * 2 + 1
    mask = cv2.GaussianBlur(mask, (k, k), feather / 2)
    return mask[..., None]


def face_region(box: Box) -> FaceRegion:
    """The region for a face box; a Face whose eye line tilts past ROLL_MIN_DEGREES is turned."""
    m = max(box.w, box.h)
    crop_side = max(8, int(round(2 * m)))
    angle = box.roll if isinstance(box, Face) else 0.0
    if abs(angle) <= ROLL_MIN_DEGREES:
        x0 = int(round(box.cx - crop_side / 2))
        y0 = int(round(box.cy - crop_side / 2))
        return FaceRegion(x0=x0, y0=y0, side=crop_side, alpha=_ellipse_alpha(crop_side),
                          crop_side=crop_side)
    rad = math.radians(angle)
    side = int(math.ceil(crop_side * (abs(math.cos(rad)) + abs(math.sin(rad))))) + 2
    x0 = int(round(box.cx - side / 2))
    y0 = int(round(box.cy - side / 2))
    # Pixel centres: the face's centre is at (cx - x0 - 0.5) in this square's pixel indices.
    px, py = box.cx - x0 - 0.5, box.cy - y0 - 0.5
    turn = cv2.getRotationMatrix2D((px, py), angle, 1.0)
    turn[:, 2] += np.array(((crop_side - 1) / 2 - px, (crop_side - 1) / 2 - py))
    alpha = cv2.warpAffine(_ellipse_alpha(crop_side), turn, (side, side),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return FaceRegion(x0=x0, y0=y0, side=side, alpha=alpha[..., None], angle=angle,
                      crop_side=crop_side, turn=turn)


def aligned_region(photo: np.ndarray, box: Box) -> FaceRegion:
    """The region a render uses: a Face's tilt is re-measured on the photo first (the detector's
    own landmarks understate it), so only the animated faces pay for that."""
    return face_region(align_face(photo, box) if isinstance(box, Face) else box)


def crop_face(photo: np.ndarray, region: FaceRegion) -> np.ndarray:
    """The region as float32 [3, 256, 256] RGB 0..1 (FOMM's input layout)."""
    h, w = photo.shape[:2]
    x0, y0, x1, y1 = region.clip(h, w)
    patch = photo[y0:y1, x0:x1]
    pad = (y0 - region.y0, region.y0 + region.side - y1, x0 - region.x0, region.x0 + region.side - x1)
    if any(pad):
        border = cv2.BORDER_REFLECT_101 if min(patch.shape[:2]) > max(pad) else cv2.BORDER_REPLICATE
        patch = cv2.copyMakeBorder(patch, *pad, border)
    crop_side = region.crop_side or region.side
    if region.turn is not None:
        patch = cv2.warpAffine(patch, region.turn, (crop_side, crop_side), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REFLECT_101)
    interp = cv2.INTER_AREA if crop_side > SIZE else cv2.INTER_CUBIC
    patch = cv2.resize(patch, (SIZE, SIZE), interpolation=interp)
    return (patch.astype(np.float32) / 255.0).transpose(2, 0, 1)


def paste_face(frame: np.ndarray, region: FaceRegion, prediction: np.ndarray) -> None:
    """Blend one animated crop (float32 [3, 256, 256] 0..1) into `frame` (uint8 HxWx3) in place."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = region.clip(h, w)
    if x1 <= x0 or y1 <= y0:
        return
    pred: np.ndarray = (prediction.transpose(1, 2, 0) * 255.0).clip(0, 255).astype(np.uint8)
    crop_side = region.crop_side or region.side
    interp = cv2.INTER_CUBIC if crop_side > SIZE else cv2.INTER_AREA
    pred = cv2.resize(pred, (crop_side, crop_side), interpolation=interp)
    if region.turn is not None:  # back to the face's tilt; outside the turned ellipse alpha is 0
        pred = cv2.warpAffine(pred, region.turn, (region.side, region.side),
                              flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
    sy, sx = y0 - region.y0, x0 - region.x0
    pred = pred[sy:sy + (y1 - y0), sx:sx + (x1 - x0)].astype(np.float32)
    a = region.alpha[sy:sy + (y1 - y0), sx:sx + (x1 - x0)]
    dst = frame[y0:y1, x0:x1]
    dst[:] = (dst * (1.0 - a) + pred * a + 0.5).astype(np.uint8)
