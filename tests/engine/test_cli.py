"""`python -m engine`: one real render, and one-line exit-2 errors for what a user can get wrong."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from engine.video_io import probe

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config(tmp_path_factory, small_checkpoint, small_engine, templates_root, short_template) -> Path:
    # The template's motion cached first, as after any earlier render on this worker: a CLI that stops
    # at a user error while it still computes the motion dies of SIGSEGV/SIGABRT (an engine bug of its
    # own), whichever tests ran before on this worker.
    small_engine.motion(short_template)
    path = tmp_path_factory.mktemp("cli") / "config.toml"
    path.write_text(  # the small engine's cache: its export is there already
        f'[engine]\ncheckpoint = "{small_checkpoint}"\ncache_dir = "{small_engine.cache_dir}"\n'
        f'batch_size = 4\n\n[templates]\ndir = "{templates_root}"\n', encoding="utf-8")
    return path


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)


def _one_line_error(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    return errors[0]


def test_render_succeeds(config, face_photo, tmp_path):
    out = tmp_path / "cli.mp4"
    res = run("render", str(face_photo), "--template", "short", "--out", str(out),
              "--config", str(config), "--best-frame")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    info = probe(out)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert str(out) in res.stdout


def test_templates_list(config):
    res = run("templates", "list", "--config", str(config))
    assert res.returncode == 0
    assert res.stdout.split("\t")[0] == "short"


def test_no_face(config, noface_photo, tmp_path):
    res = run("render", str(noface_photo), "--template", "short", "--out", str(tmp_path / "x.mp4"),
              "--config", str(config))
    assert "face" in _one_line_error(res)
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("case", ["unreadable", "missing-photo", "checkpoint", "template", "config"])
def test_user_errors_exit_2(config, face_photo, tmp_path, case):
    photo, extra = str(face_photo), []
    template = "short"
    if case == "unreadable":
        bad = tmp_path / "bad.jpg"
        bad.write_bytes(b"this is not a jpeg")
        photo = str(bad)
    elif case == "missing-photo":
        photo = str(tmp_path / "nope.jpg")
    elif case == "checkpoint":
        extra = ["--checkpoint", str(tmp_path / "absent.pdparams")]
    elif case == "template":
        template = "no-such-template"
    cfg = str(config)
    if case == "config":
        broken = tmp_path / "broken.toml"
        broken.write_text("[engine]\nno_such_key = 1\n")
        cfg = str(broken)
    res = run("render", photo, "--template", template, "--out", str(tmp_path / "o.mp4"),
              "--config", cfg, *extra)
    line = _one_line_error(res)
    expected = {"unreadable": "image", "missing-photo": "nope.jpg", "config": "config",
                "checkpoint": "python -m engine weights fetch", "template": "no-such-template"}
    assert expected[case] in line


def test_fetch_without_network_exits_2(config, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x"
    line = _one_line_error(run("weights", "fetch", "--config", str(config), "--url", url,
                               "--checkpoint", str(tmp_path / "w.pdparams")))
    assert "cannot reach" in line
    line = _one_line_error(run("templates", "fetch", "--config", str(config), "--url", url))
    assert "cannot reach" in line
