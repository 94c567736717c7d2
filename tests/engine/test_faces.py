"""Face detection recall on the test photos, the square padded crop and the feathered paste-back."""

from __future__ import annotations

import numpy as np
import pytest

from engine.face_crop import SIZE, crop_face, face_region, paste_face
from engine.faces import Box, detect_faces
from engine.images import load_photo


@pytest.mark.parametrize("fixture, count", [("face_photo", 1), ("two_face_photo", 2),
                                            ("five_face_photo", 5), ("noface_photo", 0)])
def test_detects_every_face(request, fixture, count):
    photo = load_photo(request.getfixturevalue(fixture), max_side=1280)
    faces = detect_faces(photo)
    assert len(faces) == count
    assert [f.area for f in faces] == sorted((f.area for f in faces), reverse=True)
    assert len(detect_faces(photo, max_faces=1)) == min(1, count)


def test_crop_is_square_padded_not_squashed():
    # A photo whose left half is black and right half white; a face box at the left edge.
    photo = np.zeros((400, 400, 3), np.uint8)
    photo[:, 200:] = 255
    box = Box(x=0, y=150, w=100, h=100)
    region = face_region(box)
    assert region.side == 200 and region.x0 == -50  # square, 1.0x box on each side
    crop = crop_face(photo, region)
    assert crop.shape == (3, SIZE, SIZE) and crop.dtype == np.float32
    assert 0.0 <= crop.min() and crop.max() <= 1.0
    # 1 px of the photo = 1.28 px of the crop in BOTH axes (no squashing): the white edge at
    # x=200 lands at (200 - (-50)) * 1.28 = 320 > 256, i.e. outside; everything here is black.
    assert crop.max() < 0.05


def test_paste_blends_inside_and_leaves_outside_untouched():
    photo = np.full((300, 500, 3), 100, np.uint8)
    region = face_region(Box(x=200, y=100, w=100, h=100))
    frame = photo.copy()
    paste_face(frame, region, np.ones((3, SIZE, SIZE), np.float32))
    centre = frame[150, 250]
    assert (centre == 255).all()
    x0, y0, x1, y1 = region.clip(300, 500)
    outside = np.ones((300, 500), bool)
    outside[y0:y1, x0:x1] = False
    assert (frame[outside] == 100).all()
    # feathered: values between the photo's and the prediction's along the ellipse's edge
    row = frame[150, x0:x1, 0]
    assert ((row > 100) & (row < 255)).any()


def test_paste_clips_a_region_past_the_border():
    photo = np.zeros((120, 120, 3), np.uint8)
    region = face_region(Box(x=-20, y=-10, w=80, h=80))
    paste_face(photo, region, np.ones((3, SIZE, SIZE), np.float32))
    assert photo[20, 20].max() > 200
