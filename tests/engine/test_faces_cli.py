"""`python -m engine faces PHOTO`: the faces a render would animate, in the photo's own pixels."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from engine.faces import detect_faces
from engine.images import load_photo

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", "faces", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_json_lists_every_face_in_the_photos_pixels(five_face_photo):
    res = run(str(five_face_photo), "--json", "--max-faces", "3")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    faces = out["faces"]
    assert len(faces) == 5
    assert [f["animated"] for f in faces] == [True, True, True, False, False]
    assert all("max_faces" in f["reason"] for f in faces[3:])
    for f in faces:
        assert set(f) >= {"x", "y", "w", "h", "score", "landmarks", "animated"}
        assert len(f["landmarks"]) == 5 and 0.6 <= f["score"] <= 1.0
    # Same faces as the engine finds on the photo, largest first.
    photo = load_photo(five_face_photo, 4000)
    assert (out["width"], out["height"]) == (photo.shape[1], photo.shape[0])
    engine_faces = detect_faces(photo)
    for f, e in zip(faces, engine_faces, strict=True):
        assert abs(f["x"] + f["w"] / 2 - e.cx) < 4 and abs(f["y"] + f["h"] / 2 - e.cy) < 4


def test_coordinates_are_the_originals_when_the_render_scales_down(tmp_path):
    # A 2400-px photo is analysed at max_side (1280) but reported in its own pixels, and a portrait
    # stored sideways with an EXIF orientation is reported upright, as the render sees it.
    import skimage.data

    big = cv2.resize(skimage.data.astronaut(), (2400, 2400), interpolation=cv2.INTER_CUBIC)
    sideways = np.ascontiguousarray(np.rot90(big))  # turned 90 deg counter-clockwise
    img = Image.fromarray(sideways)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, exif=exif)
    path = tmp_path / "sideways.jpg"
    path.write_bytes(buf.getvalue())
    res = run(str(path), "--json", "--max-side", "1280")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert (out["width"], out["height"]) == (2400, 2400)
    (face,) = out["faces"]
    # The astronaut's face centre is near (222, 118) in the 512-px original.
    assert abs(face["x"] + face["w"] / 2 - 222 * 2400 / 512) < 40
    assert abs(face["y"] + face["h"] / 2 - 118 * 2400 / 512) < 40


def test_text_and_drawing(face_photo, tmp_path):
    out = tmp_path / "boxes.png"
    res = run(str(face_photo), "--draw", str(out))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert "1 face(s), 1 animated" in lines[0]
    assert lines[1].startswith("#1") and lines[1].endswith("animated")
    drawn, photo = cv2.imread(str(out)), cv2.imread(str(face_photo))
    assert drawn.shape == photo.shape
    assert (np.abs(drawn.astype(int) - photo.astype(int)).max(axis=2) > 60).mean() > 0.001


def test_no_face_is_not_an_error(noface_photo):
    res = run(str(noface_photo), "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["faces"] == []


def test_unreadable_photo_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    for path in (bad, tmp_path / "absent.jpg"):
        res = run(str(path))
        assert res.returncode == 2
        assert "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("error:")
