"""ffmpeg plumbing: probing, streaming decode (HEVC included), one-pass H.264 + AAC encode."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from engine.errors import EngineError
from engine.video_io import Crop, VideoWriter, ffmpeg_exe, probe, read_frames
from tests.conftest import shared


def _sine(path, seconds=1.0):
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency=300:duration={seconds}", "-c:a", "aac", str(path)], check=True)
    return path


def test_writer_encodes_once_with_sound_cut_to_the_frames(tmp_path):
    song = _sine(tmp_path / "song.m4a", 2.0)
    out = tmp_path / "out.mp4"
    writer = VideoWriter(out, 64, 48, 10.0, audio=song, duration=0.8)
    for i in range(8):
        writer.write(np.full((48, 64, 3), i * 30, np.uint8))
    writer.close()
    info = probe(out)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.width, info.height) == (64, 48)
    assert info.duration == pytest.approx(0.8, abs=0.05)
    frames = list(read_frames(out))
    assert len(frames) == 8
    assert abs(int(frames[5].mean()) - 150) <= 3


def test_writer_pads_short_sound_and_rejects_odd_sizes(tmp_path):
    song = _sine(tmp_path / "short.m4a", 0.3)
    out = tmp_path / "padded.mp4"
    writer = VideoWriter(out, 32, 32, 10.0, audio=song, duration=1.0)
    for _ in range(10):
        writer.write(np.zeros((32, 32, 3), np.uint8))
    writer.close()
    assert len(list(read_frames(out))) == 10
    assert probe(out).duration == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError):
        VideoWriter(tmp_path / "odd.mp4", 33, 32, 10.0)


def test_abort_removes_the_partial_file(tmp_path):
    out = tmp_path / "partial.mp4"
    writer = VideoWriter(out, 32, 32, 10.0)
    writer.write(np.zeros((32, 32, 3), np.uint8))
    writer.abort()
    assert not out.exists()


def test_read_frames_crops_and_scales(tmp_path):
    out = tmp_path / "src.mp4"
    writer = VideoWriter(out, 128, 64, 10.0)
    frame = np.zeros((64, 128, 3), np.uint8)
    frame[:, 64:] = 255
    for _ in range(3):
        writer.write(frame)
    writer.close()
    right = list(read_frames(out, 32, Crop(64, 0, 64)))
    assert len(right) == 3 and right[0].shape == (32, 32, 3) and right[0].mean() > 240
    assert len(list(read_frames(out, 16, max_frames=2))) == 2


def test_probe_and_decode_errors(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(EngineError):
        probe(junk)
    with pytest.raises(EngineError):
        list(read_frames(junk, 16))
    with pytest.raises(EngineError):
        probe(tmp_path / "missing.mp4")


@pytest.mark.skipif(shared("mayiyahei.MP4") is None, reason="shared media absent")
def test_bundled_ffmpeg_decodes_the_hevc_template():
    video = shared("mayiyahei.MP4")
    info = probe(video)
    assert info.video_codec == "hevc" and info.audio_codec == "aac"
    assert (info.width, info.height) == (462, 462)
    assert sum(1 for _ in read_frames(video, 64)) == 222
