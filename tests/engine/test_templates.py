"""Template folders (template.toml contract), import validation, face-track crop of driving videos."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine import (
    BadTemplateVideo,
    TemplateMissing,
    delete_template,
    import_template,
    list_templates,
    load_template,
    load_template_dir,
)
from engine.driving import face_track_crop
from engine.video_io import VideoWriter, probe
from tests.conftest import _astronaut

REPO_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = VideoWriter(path, w, h, fps)
    for f in frames:
        writer.write(f)
    writer.close()
    return path


def test_shipped_yahey_template_keeps_its_keys():
    import tomllib

    data = tomllib.loads((REPO_TEMPLATES / "yahey" / "template.toml").read_text(encoding="utf-8"))
    assert data["title"] == "蚂蚁呀嘿" and data["video"] == "mayiyahei.MP4"
    assert data["title_en"] == "Ant Yahey"


def test_load_list_and_titles(short_template, templates_root, tmp_path):
    assert short_template.id == "short" and short_template.video.is_file()
    assert short_template.title_for("zh-hans") == "短" and short_template.title_for("en") == "Short"
    by_dir = load_template_dir(short_template.dir)
    assert by_dir == short_template
    # list: only templates whose video exists, sorted by id
    root = tmp_path / "root"
    shutil.copytree(short_template.dir, root / "b")
    shutil.copytree(short_template.dir, root / "a")
    (root / "c").mkdir()
    (root / "c" / "template.toml").write_text('title = "c"\nvideo = "gone.mp4"\n')
    (root / "d").mkdir()
    assert [t.id for t in list_templates(root)] == ["a", "b"]
    assert list_templates(tmp_path / "nowhere") == []


@pytest.mark.parametrize("toml", [None, 'title = "x"\n', "not toml [", 'title = "x"\nvideo = "v.mp4"\n'])
def test_missing_or_broken_templates(tmp_path, toml):
    folder = tmp_path / "t"
    folder.mkdir()
    if toml is not None:
        (folder / "template.toml").write_text(toml)
    with pytest.raises(TemplateMissing):
        load_template("t", tmp_path)
    with pytest.raises(TemplateMissing):
        load_template("no-such-template", tmp_path)


def test_import_template_validates_and_copies(short_template, tmp_path):
    root = tmp_path / "templates"
    t = import_template(short_template.video, "My Dance!", root, min_seconds=0.1, max_seconds=5)
    assert t.id == "my-dance" and t.title == "My Dance!" and t.video.is_file()
    again = import_template(short_template.video, "My Dance!", root, min_seconds=0.1, max_seconds=5)
    assert again.id != t.id and again.id.startswith("my-dance")
    zh = import_template(short_template.video, "蚂蚁", root, min_seconds=0.1, max_seconds=5)
    assert load_template(zh.id, root).title == "蚂蚁"

    with pytest.raises(BadTemplateVideo, match="duration"):
        import_template(short_template.video, "too short", root, min_seconds=1.0, max_seconds=30)
    coffee = cv2.resize(__import__("skimage.data").data.coffee(), (320, 240))
    noface = _video(tmp_path / "noface.mp4", [coffee] * 12)
    with pytest.raises(BadTemplateVideo, match="face"):
        import_template(noface, "no face", root, min_seconds=0.5, max_seconds=5)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"junk" * 100)
    with pytest.raises(BadTemplateVideo):
        import_template(junk, "junk", root)
    assert sorted(p.name for p in root.iterdir()) == sorted([t.id, again.id, zh.id])


def test_face_track_crop(tmp_path, short_template):
    # A wide video with the face off to the left: the crop is a square around it.
    astro = _astronaut()  # face at about x 177-270, y 66-159
    wide = np.zeros((480, 960, 3), np.uint8)
    frames = []
    for dx in (0, 10, 20, 30):
        f = wide.copy()
        f[:, 40 + dx:552 + dx] = astro[:480]
        frames.append(f)
    video = _video(tmp_path / "wide.mp4", frames, fps=4)
    crop = face_track_crop(video, probe(video))
    assert crop is not None and crop.side % 2 == 0
    face_x = 40 + 177 + 46
    assert crop.x < face_x < crop.x + crop.side and crop.y < 110 < crop.y + crop.side
    assert crop.x + crop.side <= 960 and crop.y + crop.side <= 480
    # The short template is already a face-centred square: no crop.
    assert face_track_crop(short_template.video, probe(short_template.video)) is None
    blank = _video(tmp_path / "blank.mp4", [wide] * 4, fps=4)
    with pytest.raises(BadTemplateVideo):
        face_track_crop(blank, probe(blank))


def test_an_id_is_only_ever_a_folder_of_the_templates_dir(short_template, tmp_path, monkeypatch):
    # The working directory has folders named like ids ("engine", "data"): they are not templates.
    work = tmp_path / "work"
    (work / "engine").mkdir(parents=True)
    shutil.copytree(short_template.dir, work / "data")  # even a complete template folder
    monkeypatch.chdir(work)
    root = tmp_path / "templates"
    shutil.copytree(short_template.dir, root / "engine")
    assert load_template("engine", root).dir == root / "engine"
    for outside in ("data", "../work/data", "/etc", ".import-1", "a/b", ""):
        with pytest.raises(TemplateMissing):
            load_template(outside, root)


def test_an_import_is_listed_only_once_complete_and_a_rerun_reuses_it(short_template, tmp_path):
    root = tmp_path / "templates"
    root.mkdir()
    # A run killed while preparing left its staging folder: it is not a template ...
    leftover = root / ".import-job-7"
    shutil.copytree(short_template.dir, leftover)
    assert list_templates(root) == []
    # ... and the rerun of the same import reuses it: one folder in the end.
    t = import_template(short_template.video, "Dance", root, min_seconds=0.1, max_seconds=5, import_id="job-7")
    assert [p.name for p in root.iterdir()] == ["dance"] and t.id == "dance"
    # Run once more (a crash after publishing, before the job was marked done): the same template.
    again = import_template(short_template.video, "Dance", root, min_seconds=0.1, max_seconds=5, import_id="job-7")
    assert again.id == "dance" and [p.name for p in root.iterdir()] == ["dance"]


def test_a_cancelled_import_leaves_nothing(short_template, tmp_path):
    from engine import CancelToken, RenderCancelled

    token = CancelToken()
    token.cancel()
    root = tmp_path / "templates"
    with pytest.raises(RenderCancelled):
        import_template(short_template.video, "Gone", root, min_seconds=0.1, max_seconds=5, cancel=token)
    assert list(root.iterdir()) == [] if root.exists() else True


def test_a_damaged_video_is_refused_as_damaged(damaged_face_video, tmp_path):
    with pytest.raises(BadTemplateVideo, match="damaged"):
        import_template(damaged_face_video, "Glitch", tmp_path / "templates", min_seconds=1, max_seconds=30)


def test_a_rotated_phone_video_imports_with_its_face_track(tmp_path, small_engine):
    import subprocess

    from engine.video_io import ffmpeg_exe

    astro = _astronaut()
    portrait = np.zeros((640, 352, 3), np.uint8)  # shown upright: a tall phone video
    portrait[60:572, :] = cv2.resize(astro, (352, 512))
    upright = _video(tmp_path / "upright.mp4", [portrait] * 12, fps=10)
    stored = tmp_path / "stored.mp4"  # stored sideways with a display matrix, as phones record
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(upright), "-vf", "transpose=2", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(tmp_path / "sideways.mp4")], check=True)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-display_rotation", "90", "-i",
                    str(tmp_path / "sideways.mp4"), "-c", "copy", str(stored)], check=True)
    assert (probe(stored).width, probe(stored).height) == (352, 640)
    t = import_template(stored, "Phone", tmp_path / "templates", engine=small_engine, min_seconds=0.5,
                        max_seconds=5)
    motion = small_engine.motion(t)
    assert motion.crop is not None and motion.crop.side <= 352 and motion.frames == 12


def test_deleting_a_template_removes_it_and_its_cached_motion(short_template, tmp_path, small_engine):
    root = tmp_path / "templates"
    t = import_template(short_template.video, "Doomed", root, engine=small_engine, min_seconds=0.1,
                        max_seconds=5)
    from engine.driving import MotionCache
    from engine.hashing import sha256_file

    prefix = sha256_file(t.video)[:24]
    cache = MotionCache(small_engine.cache_dir)
    assert list(cache.dir.glob(f"{prefix}-*.npz"))
    delete_template(t, small_engine)
    assert list_templates(root) == [] and list(root.iterdir()) == []
    assert not list(cache.dir.glob(f"{prefix}-*.npz"))


def test_an_import_into_a_named_folder_is_done_once_and_one_face_refuses_two(short_template, two_face_photo,
                                                                                tmp_path):
    from engine import TemplateSeveralFaces, TemplateTooLong

    root = tmp_path / "user-templates"
    first = import_template(short_template.video, "x", root, min_seconds=0.1, max_seconds=5, folder_name="abc123",
                            one_face=True)
    assert first.id == "abc123" and first.video.is_file()
    again = import_template(short_template.video, "y", root, min_seconds=0.1, max_seconds=5, folder_name="abc123",
                            import_id="another")
    assert again.dir == first.dir and [p.name for p in root.iterdir()] == ["abc123"]  # the same clip: one folder

    pair = cv2.cvtColor(cv2.imread(str(two_face_photo)), cv2.COLOR_BGR2RGB)
    frames = [np.roll(pair, 4 * i, axis=1) for i in range(10)]  # both faces, the same size, all along
    two = _video(tmp_path / "two.mp4", frames)
    import_template(two, "two", tmp_path / "public", min_seconds=0.5, max_seconds=5)  # admins' imports take it
    with pytest.raises(TemplateSeveralFaces):
        import_template(two, "two", root, min_seconds=0.5, max_seconds=5, folder_name="two", one_face=True)
    with pytest.raises(TemplateTooLong):
        import_template(two, "two", root, min_seconds=0.5, max_seconds=0.8, folder_name="two", one_face=True)
    assert [p.name for p in root.iterdir()] == ["abc123"]
