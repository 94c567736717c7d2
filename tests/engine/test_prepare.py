"""Ready before the first user: `prepare` exports the model and computes every template's motion
once (cold), a new process then finds both in the cache (warm); `python -m engine prepare`. On the
small random checkpoint (engine.networks.SMALL): the export and the cache are the full size's."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine import CheckpointMissing, Engine, load_template
from engine.cpu_features import has_fast_bf16
from engine.tools.prepare import prepare

# One worker makes this module's expensive module-scoped fixtures once (README "Tests").
pytestmark = pytest.mark.xdist_group("prepare")

REPO = Path(__file__).resolve().parents[2]
# OpenVINO where its export can run (paddle2onnx has no wheel for Python 3.13), else Paddle Inference.
_FAMILY = "openvino" if importlib.util.find_spec("paddle2onnx") is not None else "inference"
EXPECTED_RUNNER = f"{_FAMILY}-cpu-bf16" if has_fast_bf16() else f"{_FAMILY}-cpu-fp32"


@pytest.fixture(scope="module")
def broken_templates(tmp_path_factory, templates_root) -> Path:
    """The short template next to one whose "video" is not a video."""
    root = tmp_path_factory.mktemp("templates-with-a-broken-one")
    shutil.copytree(templates_root / "short", root / "short")
    (root / "broken").mkdir()
    (root / "broken" / "video.mp4").write_bytes(b"this is not a video")
    (root / "broken" / "template.toml").write_text('title = "x"\nvideo = "video.mp4"\n')
    return root


TELEMETRY: list[tuple[str, tuple]] = []  # what the cold start asked OpenVINO's telemetry to send


@pytest.fixture(scope="module")
def cold(tmp_path_factory, small_checkpoint, broken_templates):
    """A first start: an empty cache, so the model is exported and the motion computed. As on an
    operator's host: no CI variable and no OpenVINO telemetry opt-out in the home folder, which
    would both keep OpenVINO's model converter quiet."""
    import openvino_telemetry

    cache = tmp_path_factory.mktemp("prepare-cache")
    engine = Engine(small_checkpoint, cache, device="cpu", batch_size=4)
    calls: list[tuple[str, float]] = []
    templates = [load_template("broken", broken_templates), load_template("short", broken_templates)]
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CI", raising=False)
        mp.setenv("HOME", str(tmp_path_factory.mktemp("home")))
        for name in ("start_session", "send_event", "end_session", "send_error"):
            mp.setattr(openvino_telemetry.Telemetry, name,
                       lambda self, *args, _name=name, **kwargs: TELEMETRY.append((_name, args)))
        report = prepare(engine, templates, progress=lambda what, f: calls.append((what, f)))
    return cache, engine, report, calls


def test_a_cold_start_exports_the_model_and_computes_every_motion(cold):
    cache, engine, report, calls = cold
    assert engine.loaded
    assert (report.runner, report.precision, report.device) == (
        EXPECTED_RUNNER, EXPECTED_RUNNER.rsplit("-", 1)[1], "cpu")
    assert report.fallback_reason is None
    assert report.exported and not report.warm and not report.cancelled
    assert [t.id for t in report.templates] == ["broken", "short"]
    broken, short = report.templates
    assert short.computed and short.error is None
    assert not broken.computed and "video.mp4" in broken.error  # one bad template, reported
    assert "\n" not in broken.error
    assert report.failed == (broken,)
    assert len(list((cache / "driving").glob("*.npz"))) == 1
    assert report.seconds >= report.model_seconds > 0
    # progress: from 0 to 1, never backwards, naming each step
    fractions = [f for _, f in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert [what for what, _ in calls] == [
        "loading the model", f"model ready: {EXPECTED_RUNNER}", "preparing template broken",
        "preparing template short", "ready"]
    # The export and its OpenVINO conversion send no usage telemetry (ovc.convert_model would).
    assert TELEMETRY == []


def test_a_restart_with_the_cache_is_warm(cold, small_checkpoint, broken_templates):
    cache, _, _, _ = cold
    exports = {p: p.stat().st_mtime_ns for p in (cache / "inference").glob("*/*")}
    restarted = Engine(small_checkpoint, cache, device="cpu", batch_size=4)  # as a new process
    report = prepare(restarted, [load_template("short", broken_templates)])
    assert report.warm and not report.exported
    assert [(t.id, t.computed, t.error) for t in report.templates] == [("short", False, None)]
    assert report.runner == EXPECTED_RUNNER
    assert {p: p.stat().st_mtime_ns for p in (cache / "inference").glob("*/*")} == exports


def test_cancelled_before_the_load_loads_nothing(small_checkpoint, tmp_path, short_template):
    engine = Engine(small_checkpoint, tmp_path, device="cpu")
    report = prepare(engine, [short_template], cancelled=lambda: True)
    assert report.cancelled and report.templates == () and report.runner == ""
    assert not engine.loaded and not (tmp_path / "inference").exists()


def test_a_missing_checkpoint_stops_preparation(tmp_path, short_template):
    engine = Engine(tmp_path / "absent.pdparams", tmp_path / "cache", device="cpu")
    with pytest.raises(CheckpointMissing, match="weights fetch"):
        prepare(engine, [short_template])


def _config(path: Path, checkpoint: Path, cache: Path, templates: Path) -> Path:
    path.write_text(f'[engine]\ncheckpoint = "{checkpoint}"\ncache_dir = "{cache}"\n'
                    f'device = "cpu"\n\n[templates]\ndir = "{templates}"\n', encoding="utf-8")
    return path


def test_cli_prepare_on_a_warm_cache(cold, small_checkpoint, templates_root, tmp_path):
    cache, _, _, _ = cold
    config = _config(tmp_path / "config.toml", small_checkpoint, cache, templates_root)
    res = subprocess.run([sys.executable, "-m", "engine", "prepare", "--config", str(config)],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    lines = res.stdout.splitlines()
    assert f"model: {EXPECTED_RUNNER} ({EXPECTED_RUNNER.rsplit('-', 1)[1]} on cpu), from the cache," \
        in "\n".join(lines)
    assert any(ln.startswith("template short: motion from the cache, ") for ln in lines)
    assert any(ln.startswith("ready: warm start in ") for ln in lines)


def test_cli_prepare_without_the_checkpoint_names_the_fix(tmp_path, templates_root):
    config = _config(tmp_path / "config.toml", tmp_path / "absent.pdparams", tmp_path / "cache",
                     templates_root)
    res = subprocess.run([sys.executable, "-m", "engine", "prepare", "--config", str(config)],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert [ln for ln in res.stderr.splitlines() if ln.startswith("error:")] == [
        f"error: checkpoint not found at {tmp_path / 'absent.pdparams'}: run "
        f"`python -m engine weights fetch`"]
