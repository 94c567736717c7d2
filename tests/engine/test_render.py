"""The real engine end to end on a random checkpoint of the small configuration (engine.networks.SMALL:
the code paths are the full size's) and a ~5 frame template."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from engine import CheckpointMissing, Engine, NoFaceFound, RenderCancelled, RenderOptions
from engine.face_crop import aligned_region, face_region
from engine.faces import detect_faces
from engine.images import load_photo
from engine.video_io import ffmpeg_exe, probe, read_frames


def _frames(path: Path) -> list[np.ndarray]:
    return list(read_frames(path))


def _face_masks(photo: np.ndarray, max_faces: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Per face: where its blending mask is ~1; and the union of everything a paste can touch."""
    h, w = photo.shape[:2]
    cores, touched = [], np.zeros((h, w), bool)
    for box in detect_faces(photo, max_faces=max_faces):
        r = aligned_region(photo, box)  # as the render cuts it: tilted faces are turned
        x0, y0, x1, y1 = r.clip(h, w)
        alpha = r.alpha[y0 - r.y0:y1 - r.y0, x0 - r.x0:x1 - r.x0, 0]
        core = np.zeros((h, w), bool)
        core[y0:y1, x0:x1] = alpha > 0.95
        cores.append(core)
        touched[y0:y1, x0:x1] |= alpha > 0
    return cores, touched


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    import cv2

    k = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), k) > 0


def _check_video(result, template, photo_path: Path, expect_faces: int | None = None,
                 min_background: float = 0.0) -> None:
    info = probe(result.path)
    tinfo = probe(template.video)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    header = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(result.path)],
                            capture_output=True, text=True).stderr
    assert "yuv420p" in header
    data = result.path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart
    template_frames = len(list(read_frames(template.video, 64)))
    assert result.frames == template_frames
    assert abs(info.duration - tinfo.duration) <= 1.5 / tinfo.fps + 0.03
    frames = _frames(result.path)
    assert len(frames) == template_frames

    photo = load_photo(photo_path, RenderOptions().max_side)
    assert (info.width, info.height) == (photo.shape[1], photo.shape[0]) == (result.width, result.height)
    assert result.width % 2 == 0 and result.height % 2 == 0
    cores, touched = _face_masks(photo, RenderOptions().max_faces)
    assert result.faces == len(cores)
    if expect_faces is not None:
        assert result.faces == expect_faces
    background = ~_grow(touched, 4)  # H.264's 4:2:0 chroma and blocks smear a few pixels
    assert background.mean() >= min_background
    for frame in frames:
        diff = np.abs(frame.astype(np.int16) - photo.astype(np.int16)).mean(axis=2)
        if background.any():  # a close-up portrait may have no pixel outside its face region
            assert diff[background].mean() < 3.0, "background outside the faces changed"
        for i, core in enumerate(cores):
            assert diff[core].mean() > 8.0, f"face {i} was not animated"


def test_render_one_face_with_sound(small_engine, short_template, face_photo, tmp_path):
    seen: list[float] = []
    result = small_engine.render(face_photo, short_template, tmp_path / "one.mp4",
                                    progress=seen.append)
    _check_video(result, short_template, face_photo, expect_faces=1)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    assert result.seconds > 0


def test_render_two_faces(small_engine, short_template, two_face_photo, tmp_path):
    result = small_engine.render(two_face_photo.read_bytes(), short_template, tmp_path / "two.mp4")
    _check_video(result, short_template, two_face_photo, expect_faces=2, min_background=0.2)


def test_render_five_faces(small_engine, short_template, five_face_photo, tmp_path):
    result = small_engine.render(five_face_photo, short_template, tmp_path / "five.mp4")
    _check_video(result, short_template, five_face_photo, expect_faces=5, min_background=0.4)


def test_max_faces_caps_largest_first(small_engine, short_template, five_face_photo, tmp_path):
    photo = load_photo(five_face_photo, 1280)
    largest = detect_faces(photo)[0]
    second = detect_faces(photo)[1]
    result = small_engine.render(five_face_photo, short_template, tmp_path / "capped.mp4",
                                    RenderOptions(max_faces=1, best_frame=True, relative=False))
    assert result.faces == 1
    frame = _frames(result.path)[0].astype(np.int16)
    cy, cx = int(largest.cy), int(largest.cx)
    assert np.abs(frame[cy - 5:cy + 5, cx - 5:cx + 5] - photo[cy - 5:cy + 5, cx - 5:cx + 5]).mean() > 8
    # The second largest face was not animated: its region is the photo's (up to the encoder).
    r = face_region(second)
    y0, y1, x0, x1 = max(0, r.y0), r.y0 + r.side, max(0, r.x0), r.x0 + r.side
    assert np.abs(frame[y0:y1, x0:x1] - photo[y0:y1, x0:x1]).mean() < 4


def test_no_face_is_an_error_not_a_still_video(small_engine, short_template, noface_photo, tmp_path):
    out = tmp_path / "none.mp4"
    with pytest.raises(NoFaceFound, match="face"):
        small_engine.render(noface_photo, short_template, out)
    assert not out.exists()


def _cancelled():
    from engine import CancelToken

    token = CancelToken()
    token.cancel()
    return token


def test_cancel_between_batches_leaves_nothing(small_engine, short_template, face_photo, tmp_path):
    out = tmp_path / "cancelled.mp4"
    with pytest.raises(RenderCancelled):
        small_engine.render(face_photo, short_template, out, cancel=_cancelled())
    assert not out.exists()


def test_missing_checkpoint_names_the_fetch_command(tmp_path):
    engine = Engine(tmp_path / "nope.pdparams", tmp_path / "cache")
    with pytest.raises(CheckpointMissing, match="python -m engine weights fetch"):
        engine.load()
    assert not engine.loaded


def test_cached_driving_keypoints_give_identical_frames(small_checkpoint, small_export, short_template,
                                                        face_photo, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    shutil.copytree(small_export, cache)  # the model exported, no template's motion yet
    cold = Engine(small_checkpoint, cache, device="cpu")
    first = cold.render(face_photo, short_template, tmp_path / "cold.mp4")
    assert len(list((cache / "driving").glob("*.npz"))) == 1

    warm = Engine(small_checkpoint, cache, device="cpu")
    warm.load()
    batches: list[int] = []
    original = warm.runner.keypoints

    def spy(frames: np.ndarray):
        batches.append(len(frames))
        return original(frames)

    monkeypatch.setattr(warm.runner, "keypoints", spy)
    second = warm.render(face_photo, short_template, tmp_path / "warm.mp4")
    assert batches == [1]  # only the photo's face; no driving frame went through the detector
    a, b = _frames(first.path), _frames(second.path)
    assert len(a) == len(b) == first.frames
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa, fb)


def test_import_template_prepares_it_with_the_engine(small_engine, short_template, tmp_path):
    from engine import import_template

    t = import_template(short_template.video, "Prepared", tmp_path, engine=small_engine,
                        min_seconds=0.1, max_seconds=5)
    motion = small_engine.motion(t)
    assert motion.frames == len(list(read_frames(t.video, 32)))
    assert motion.value.shape == (motion.frames, 10, 2) and motion.crop is None


def test_unreadable_photo_and_lost_template_video(small_engine, short_template, face_photo,
                                                  tmp_path):
    import dataclasses

    from engine import BadImage, TemplateMissing

    with pytest.raises(BadImage):
        small_engine.render(tmp_path / "absent.jpg", short_template, tmp_path / "x.mp4")
    with pytest.raises(BadImage):
        small_engine.render(b"\x89PNG but not really", short_template, tmp_path / "x.mp4")
    lost = dataclasses.replace(short_template, video=tmp_path / "deleted.mp4")
    with pytest.raises(TemplateMissing):
        small_engine.render(face_photo, lost, tmp_path / "x.mp4")
