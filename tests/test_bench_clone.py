"""`make bench` on a fresh clone (benchmarks/bench_clone.py): the inputs it makes are what the
benchmark needs, and the options it passes are ones bench_vs_ppgan.py takes (the old `make bench`
passed one it did not). The benchmark itself is timed in benchmarks/, not here."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent


def _bench_clone():
    spec = importlib.util.spec_from_file_location("bench_clone", ROOT / "benchmarks" / "bench_clone.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_options_it_passes_are_the_benchmarks():
    shown = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_vs_ppgan.py"), "--help"],
                           capture_output=True, text=True, check=True, cwd=ROOT).stdout
    for option in ("--photo", "--video", "--frames", "--checkpoint"):
        assert option in shown


def test_its_generated_photo_has_a_face_and_its_clip_is_a_driving_video_with_sound(tmp_path):
    from engine.faces import detect_faces
    from engine.images import load_photo
    from engine.video_io import probe, read_frames

    bench = _bench_clone()
    photo = bench._write_photo(tmp_path / "photo.png")
    assert len(detect_faces(load_photo(photo, max_side=1280))) == 1
    clip = bench._write_clip(tmp_path / "clip.mp4", 30)
    info = probe(clip)
    assert (info.width, info.height) == (256, 256) and info.audio_codec == "aac"
    frames = list(read_frames(clip))
    assert len(frames) == 30
    assert max(cv2.absdiff(frames[0], f).mean() for f in frames) > 1  # the head moves
