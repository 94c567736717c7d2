"""Roll alignment: a tilted face is cut upright for FOMM and its animation is turned back at
paste-back, touching nothing outside its (turned) ellipse."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from engine.face_crop import ROLL_MIN_DEGREES, SIZE, aligned_region, crop_face, face_region, paste_face
from engine.faces import Face, detect_faces
from tests.conftest import shared

# Pupil centres picked by hand on enlarged crops, in each image's own pixels.
_PUPILS = {"astronaut": ((203.1, 101.3), (246.3, 102.8)),
           "face.png": ((111.3, 105.0), (220.0, 106.3)),
           "fom_source_image.png": ((95.0, 112.9), (148.6, 109.3))}


def _sources() -> list[tuple[str, np.ndarray]]:
    import skimage.data

    out = [("astronaut", skimage.data.astronaut())]
    for name in ("face.png", "fom_source_image.png"):
        path = shared(name)
        if path is not None:
            out.append((name, cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)))
    return out


def _turned(rgb: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """The image turned counter-clockwise (as seen) on a canvas that holds it, and the 2x3 map."""
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(w * c + h * s), int(w * s + h * c)
    m[:, 2] += (nw / 2 - w / 2, nh / 2 - h / 2)
    out = cv2.warpAffine(rgb, m, (nw, nh), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return out, m


def _eye_line_in_crop(region, eyes: np.ndarray) -> float:
    """Angle (degrees) of the line through two photo points, as it lies in the model's crop."""
    pts = eyes - (region.x0 + 0.5, region.y0 + 0.5)  # pixel indices of the region's square
    if region.turn is not None:
        pts = pts @ region.turn[:, :2].T + region.turn[:, 2]
    (lx, ly), (rx, ry) = pts
    return math.degrees(math.atan2(ry - ly, rx - lx))


@pytest.mark.parametrize("degrees", [20, -20, 12])
def test_crop_of_a_tilted_face_is_upright(degrees):
    for name, rgb in _sources():
        eyes = np.array(_PUPILS[name])
        turned, m = _turned(rgb, degrees)
        true_eyes = eyes @ m[:, :2].T + m[:, 2]
        (lx, ly), (rx, ry) = true_eyes
        assert abs(math.degrees(math.atan2(ry - ly, rx - lx))) > 8, name  # tilted in the photo
        face = detect_faces(turned)[0]
        region = aligned_region(turned, face)
        assert region.turn is not None, name
        assert abs(_eye_line_in_crop(region, true_eyes)) < 4, name  # the photo's tilt if not turned
        # The face is in the middle of the crop, as an upright face would be.
        centre = true_eyes.mean(axis=0) - (region.x0 + 0.5, region.y0 + 0.5)
        cx, cy = region.turn[:, :2] @ centre + region.turn[:, 2]
        assert abs(cx - region.crop_side / 2) < 0.1 * region.crop_side, name
        crop = crop_face(turned, region)
        assert crop.shape == (3, SIZE, SIZE)


def _tilted_face(cx: float, cy: float, size: float, degrees: float) -> Face:
    """A synthetic face whose eye line is at `degrees` (positive: the right eye lower)."""
    r = math.radians(degrees)
    dx, dy = 0.2 * size * math.cos(r), 0.2 * size * math.sin(r)
    eyes = ((cx - dx, cy - dy), (cx + dx, cy + dy))
    return Face(cx - size / 2, cy - size / 2, size, size, 0.9,
                eyes + ((cx, cy), (cx - dx, cy + 0.3 * size), (cx + dx, cy + 0.3 * size)))


def test_a_small_tilt_is_left_alone():
    region = face_region(_tilted_face(200, 150, 100, ROLL_MIN_DEGREES - 1))
    assert region.turn is None and region.side == region.crop_side == 200
    assert face_region(_tilted_face(200, 150, 100, ROLL_MIN_DEGREES + 2)).turn is not None


def test_turned_paste_touches_only_its_turned_ellipse():
    photo = np.full((400, 500, 3), 100, np.uint8)
    region = face_region(_tilted_face(250, 200, 100, 25))
    assert region.turn is not None and region.side > region.crop_side
    frame = photo.copy()
    paste_face(frame, region, np.ones((3, SIZE, SIZE), np.float32))
    x0, y0, x1, y1 = region.clip(400, 500)
    alpha = np.zeros((400, 500), np.float32)
    alpha[y0:y1, x0:x1] = region.alpha[y0 - region.y0:y1 - region.y0, x0 - region.x0:x1 - region.x0, 0]
    assert (frame[alpha == 0] == 100).all()  # the background, corners of the square included
    assert (frame[alpha > 0.999] == 255).all()
    # The ellipse is turned with the face: its long axis leans 25 deg from the vertical.
    mu = cv2.moments((alpha > 0.5).astype(np.uint8), binaryImage=True)
    axis = 0.5 * math.degrees(math.atan2(2 * mu["mu11"], mu["mu20"] - mu["mu02"]))
    assert abs(abs(axis) - (90 - 25)) < 3


def test_crop_then_paste_gives_the_photo_back():
    # Pasting the crop itself (a model that does not move) must return the photo: the turn back
    # is the exact inverse of the turn in.
    import skimage.data

    turned, _ = _turned(skimage.data.astronaut(), 20)
    region = aligned_region(turned, detect_faces(turned)[0])
    assert region.turn is not None
    frame = turned.copy()
    paste_face(frame, region, crop_face(turned, region))
    x0, y0, x1, y1 = region.clip(*turned.shape[:2])
    core = region.alpha[y0 - region.y0:y1 - region.y0, x0 - region.x0:x1 - region.x0, 0] > 0.95
    diff = np.abs(frame[y0:y1, x0:x1].astype(int) - turned[y0:y1, x0:x1].astype(int))
    assert diff[core].mean() < 4.0
