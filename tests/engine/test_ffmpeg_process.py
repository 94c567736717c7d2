"""ffmpeg runs that cannot hang the bot: stderr drained as it goes, time limits, kills on cancel and
shutdown, rotated phone videos read at their displayed size."""

from __future__ import annotations

import logging
import subprocess
import threading

import pytest

from engine import CancelToken, FfmpegTimeout, RenderCancelled
from engine.ffmpeg_process import FfmpegProcess, kill_all, live_count, run_ffmpeg
from engine.video_io import VideoWriter, ffmpeg_exe, probe, read_frames

# ffmpeg waiting for frames on stdin that never come: it stays alive and prints nothing.
WAITS_FOR_INPUT = ["-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "16x16", "-i", "-",
                   "-f", "rawvideo", "-"]


def test_a_damaged_video_that_floods_stderr_is_read_to_the_end(damaged_face_video):
    # More than a pipe holds: a reader that only reads stderr at exit blocks here for ever.
    flood = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(damaged_face_video), "-f", "null", "-"],
                           capture_output=True)
    assert len(flood.stderr) > 64 * 1024
    frames = sum(1 for _ in read_frames(damaged_face_video, 64))
    assert frames > 100
    run = run_ffmpeg(["-v", "error", "-i", str(damaged_face_video), "-f", "null", "-"], "check", timeout=120,
                     check=False)
    assert run.error_lines > 1000 and len(run.stderr_tail) < 5000  # counted, only the last lines kept


def test_a_stuck_read_is_killed_after_its_stall_limit():
    with FfmpegProcess(WAITS_FOR_INPUT, "stuck", stdin=True, stdout=True) as proc:
        with proc.stalled(0.3):
            data = proc.stdout.read(16 * 16 * 3)  # returns only because the watchdog killed ffmpeg
        assert data == b"" and proc.timed_out
        with pytest.raises(FfmpegTimeout):
            proc.finish(5)


def test_a_one_shot_run_over_its_time_limit_raises_and_logs_its_last_lines(caplog):
    caplog.set_level(logging.WARNING, logger="engine.ffmpeg_process")
    with pytest.raises(FfmpegTimeout, match="timed out"):
        run_ffmpeg(["-v", "error", "-re", "-f", "lavfi", "-i", "testsrc=duration=60", "-f", "null", "-"],
                   "endless", timeout=0.5)
    assert "endless timed out" in caplog.text
    with pytest.raises(Exception, match="ffmpeg failed: .*No such file"):
        run_ffmpeg(["-v", "error", "-i", "/nowhere/at/all.mp4", "-f", "null", "-"], "missing", timeout=30)


def test_cancel_kills_an_encoder_stuck_in_a_write(tmp_path):
    token = CancelToken()
    writer = VideoWriter(tmp_path / "out.mp4", 16, 16, 10.0, cancel=token)
    before = live_count()
    timer = threading.Timer(0.2, token.cancel, kwargs={"reason": "owner"})
    timer.start()
    try:
        with pytest.raises(RenderCancelled):
            for _ in range(100_000):  # far more than the pipe and the encoder buffer
                writer.write(__import__("numpy").zeros((16, 16, 3), "uint8"))
            writer.close()
    finally:
        timer.cancel()
    writer.abort()
    assert not (tmp_path / "out.mp4").exists() and live_count() < before


def test_kill_all_stops_every_running_ffmpeg():
    procs = [FfmpegProcess(WAITS_FOR_INPUT, f"idle {n}", stdin=True, stdout=True) for n in range(3)]
    try:
        assert kill_all() >= 3
        for proc in procs:
            assert proc.wait(10) != 0 and proc.killed
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_a_rotated_phone_video_is_probed_and_decoded_at_its_displayed_size(tmp_path):
    plain = tmp_path / "plain.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=1",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(plain)], check=True)
    rotated = tmp_path / "portrait.mp4"  # stored 320x240, shown 240x320 (a phone held upright)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-display_rotation", "90", "-i", str(plain), "-c", "copy",
                    str(rotated)], check=True)
    info = probe(rotated)
    assert (info.width, info.height) == (240, 320)
    frames = list(read_frames(rotated))
    assert len(frames) == 10 and frames[0].shape == (320, 240, 3)
