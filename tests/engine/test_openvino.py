"""The OpenVINO CPU runner: converted from the Paddle export and checked against its reference,
renders (CLI and worker) that never import Paddle, int8 kept only behind its quality gate, and the
`[render].max_fps` cap (frame rate, duration and song checked with PyAV)."""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest

from engine.frame_rate import capped_rate, kept_frames
from engine.model import precision as model_precision
from engine.model import runner_openvino as rov

REPO = Path(__file__).resolve().parents[2]
# On the worker that exports the full size (test_networks.py shares it): once a run, not once a worker.
pytestmark = pytest.mark.xdist_group("full_size")
# The export to OpenVINO needs paddle2onnx, which has no wheel for every Python (none for 3.13:
# requirements-cpu.txt); there Paddle Inference is the CPU runner and these tests have no subject.
NEEDS_EXPORT = pytest.mark.skipif(importlib.util.find_spec("paddle2onnx") is None,
                                  reason="no paddle2onnx for this Python: no OpenVINO export here")


@pytest.fixture(scope="module")
def ov_runner(small_engine):
    runner = small_engine.runner
    assert runner.name.startswith("openvino-cpu-"), runner.name  # the CPU's first choice
    return runner


@pytest.fixture(scope="module")
def full_ov_runner(full_engine):
    runner = full_engine.runner
    assert runner.name.startswith("openvino-cpu-"), runner.name  # the CPU's first choice
    return runner


@NEEDS_EXPORT
def test_fp32_matches_the_reference_and_the_chosen_precision_passes(full_ov_runner):
    """On the FULL-SIZE vox-256 networks (the run's one full-size export and conversion): the real
    shapes export, convert and meet the quality bars."""
    ov_runner = full_ov_runner
    fp32 = rov.OpenVinoRunner(ov_runner.directory, "fp32")
    assert rov.check(fp32, strict=True) > 60  # strict: keypoints and frame within 2e-3
    assert rov.checked_quality(ov_runner) >= model_precision.MIN_PSNR_DB
    precision, why = model_precision.explain_openvino_precision("auto", ov_runner.directory)
    assert ov_runner.precision == precision and why


@pytest.fixture(scope="module")
def config(tmp_path_factory, small_checkpoint, engine_cache_dir, templates_root, small_engine):
    path = tmp_path_factory.mktemp("ov") / "config.toml"
    path.write_text(
        f'[engine]\ncheckpoint = "{small_checkpoint}"\ncache_dir = "{engine_cache_dir}"\n'
        f'device = "cpu"\nbatch_size = 4\n\n[templates]\ndir = "{templates_root}"\n', encoding="utf-8")
    return path


def _no_paddle(script: str) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


@NEEDS_EXPORT
def test_cli_render_does_not_import_paddle(config, face_photo, tmp_path):
    out = tmp_path / "cli.mp4"
    res = _no_paddle(f"""
        import sys
        from engine.tools.cli import main
        assert main(["render", "{face_photo}", "--template", "short", "--out", "{out}",
                     "--config", "{config}"]) == 0
        print("PADDLE", sorted(m for m in sys.modules if m.split(".")[0] in ("paddle", "ppgan")))
    """)
    assert out.is_file()
    assert "PADDLE []" in res.stdout, res.stdout


@NEEDS_EXPORT
def test_worker_render_does_not_import_paddle(config, face_photo, tmp_path):
    """The worker's own modules and start-up decision (needs_paddle), its start-up preparation (the
    render stage's `prepare`: the model and every template's motion), then its engine renders."""
    out = tmp_path / "worker.mp4"
    res = _no_paddle(f"""
        import sys
        from pathlib import Path
        import worker.__main__, worker.runtime, worker.tasks
        from engine.from_settings import make_engine, render_options
        from engine.model.choose import needs_paddle
        from engine.templates import list_templates, load_template
        from engine.tools.prepare import prepare
        from settings import load_settings
        s = load_settings(Path("{config}"))
        assert not needs_paddle(s.engine.device, s.engine.checkpoint, s.engine.cache_dir,
                                s.engine.batch_size)
        engine = make_engine(s)
        report = prepare(engine, list_templates(s.templates.dir))
        assert not [t for t in report.templates if t.error], report
        engine.render(Path("{face_photo}"), load_template("short", s.templates.dir), Path("{out}"),
                      render_options(s))
        print("RUNNER", engine.runner.name)
        print("PADDLE", sorted(m for m in sys.modules if m.split(".")[0] in ("paddle", "ppgan")))
    """)
    assert "RUNNER openvino-cpu-" in res.stdout
    assert "PADDLE []" in res.stdout, res.stdout


def _samples(engine, template):
    from engine.face_crop import SIZE
    from engine.model.int8_gate import Sample
    from engine.video_io import read_frames

    motion = engine.motion(template)
    first = next(read_frames(template.video, SIZE, motion.crop, max_frames=1))
    return [Sample(template.id, (first.astype(np.float32) / 255).transpose(2, 0, 1),
                   (motion.value[0], motion.jacobian[0]), (motion.value, motion.jacobian))]


@NEEDS_EXPORT
def test_an_openvino_failure_mid_render_falls_back_to_paddle_inference(small_checkpoint, engine_cache_dir,
                                                                      short_template, face_photo, tmp_path,
                                                                      caplog):
    """The generator's compiled model fails after its first batch (as a broken blob or an OpenVINO
    bug would): the render goes on with Paddle Inference, the engine says it is degraded and why."""
    from engine import Engine, EngineState

    engine = Engine(small_checkpoint, engine_cache_dir, device="cpu", threads=0, batch_size=4)
    engine.load()
    runner = engine.runner
    assert runner.name.startswith("openvino-cpu-")
    compiled = runner._generator
    calls = []

    def fails_after_one_batch(**arrays):
        calls.append(len(arrays["source"]))
        if len(calls) > 1:
            raise RuntimeError("Exception from src/inference/src/cpp/infer_request.cpp:223:\n[CPU] broken blob")
        return compiled(**arrays)

    runner._generator = fails_after_one_batch
    out = tmp_path / "fallback.mp4"
    with caplog.at_level("WARNING"):
        result = engine.render(face_photo, short_template, out)
    assert len(calls) == 2  # the first batch on OpenVINO, the second failed and went to Paddle
    assert out.is_file() and result.frames == short_template_frames(short_template)
    assert runner.name.startswith("inference-cpu-") and engine.runner is runner
    assert runner.fallback_reason.startswith("OpenVINO failed mid-run (RuntimeError: Exception from "
                                             "src/inference/src/cpp/infer_request.cpp:223:): using inference-cpu-")
    status = engine.status
    assert status.state is EngineState.DEGRADED and status.runner == runner.name
    assert "OpenVINO failed mid-run" in caplog.text
    # later forwards go straight to Paddle Inference
    source = np.zeros((1, 3, 256, 256), np.float32)
    assert runner.keypoints(source)[0].shape == (1, 10, 2) and len(calls) == 2


def short_template_frames(template) -> int:
    with av.open(str(template.video)) as container:
        return sum(1 for _ in container.decode(video=0))


@NEEDS_EXPORT
def test_int8_gate_refuses_a_model_below_its_threshold(small_engine, ov_runner, short_template):
    from engine.model import int8_gate

    fp32 = rov.OpenVinoRunner(ov_runner.directory, "fp32")
    calibration, held_out = int8_gate.split(fp32, _samples(small_engine, short_template))
    try:
        int8_gate.quantize(fp32, calibration)
        # a threshold any model meets: int8 is kept and becomes "auto"'s choice
        accepted = int8_gate.judge(fp32, held_out, ["short"], threshold=0.0)
        assert accepted["used"] and accepted["psnr"] > 0
        assert model_precision.explain_openvino_precision("auto", fp32.directory)[0] == "int8"
        int8 = rov.OpenVinoRunner(fp32.directory, "int8")
        frames = int8.generate_features(held_out[0])
        assert frames.shape == (fp32.batch, 3, 256, 256) and np.isfinite(frames).all()
        # a threshold no int8 model meets (fp32 against itself is 200 dB): refused and deleted
        refused = int8_gate.judge(fp32, held_out, ["short"], threshold=1000.0)
        assert not refused["used"] and refused["psnr"] == accepted["psnr"]
        assert not (fp32.directory / model_precision.INT8_DIR / "generator.xml").exists()
        assert model_precision.explain_openvino_precision("auto", fp32.directory)[0] in ("fp32", "bf16")
        assert model_precision.explain_openvino_precision("int8", fp32.directory)[0] in ("fp32", "bf16")
        assert model_precision.read_int8_gate(fp32.directory)["used"] is False
    finally:  # the session's other engines must not meet an int8 model
        shutil.rmtree(fp32.directory / model_precision.INT8_DIR, ignore_errors=True)


def test_kept_frames_drop_evenly_and_keep_the_duration():
    assert list(kept_frames(10, 30.0, 30.0)) == list(range(10))
    for count, fps, rate in [(90, 29.97, 10.0), (222, 30.0, 12.0), (7, 25.0, 8.0), (1, 30.0, 5.0)]:
        keep = kept_frames(count, fps, rate)
        assert np.all(np.diff(keep) > 0) and keep[0] == 0 and keep[-1] < count
        # within half a frame of the new rate (a clip shorter than that keeps its one frame)
        assert abs(len(keep) / rate - count / fps) <= 1 / rate / 2 + 1e-9 or len(keep) == 1
        gaps = np.diff(keep)
        if len(gaps):
            assert gaps.max() - gaps.min() <= 1  # evenly: never two drops where one would do
    assert float(capped_rate(29.97, 10)) == 10 and float(capped_rate(8.0, 10)) == 8.0
    assert abs(float(capped_rate(29.97, 0)) - 29.97) < 1e-3


def _audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        last = 0.0
        for packet in container.demux(stream):
            if packet.pts is not None and packet.duration:
                last = max(last, float((packet.pts + packet.duration) * stream.time_base))
        return last


def test_max_fps_caps_the_rate_and_keeps_the_song(small_engine, short_template, face_photo,
                                                   tmp_path):
    from engine.options import DEFAULT_OPTIONS
    from engine.video_io import probe as probe_video
    from tests.media_probe import probe

    template = probe_video(short_template.video)
    cap = template.fps / 2
    full = small_engine.render(face_photo, short_template, tmp_path / "full.mp4")
    capped = small_engine.render(face_photo, short_template, tmp_path / "capped.mp4",
                                    dataclasses.replace(DEFAULT_OPTIONS, max_fps=cap))
    got = probe(capped.path)
    assert got.fps <= cap + 1e-6
    assert got.frames < probe(full.path).frames
    assert abs(got.frames / got.fps - template.duration) <= 1 / got.fps + 1e-3
    assert got.has_audio
    assert abs(_audio_seconds(capped.path) - _audio_seconds(full.path)) < 0.05
