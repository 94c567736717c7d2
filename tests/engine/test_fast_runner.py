"""The compiled runner: export once per checkpoint and paddle version, every supported precision
within 35 dB of the fp32 dynamic graph on random networks (the small
configuration: the same layers and export), fallback to the dynamic
graph on failure with the reason in one line; and no import cycle in the engine package."""

from __future__ import annotations

import ast
import hashlib
import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.model.paddle_compat import import_paddle

paddle = import_paddle()

from engine.cpu_features import BF16_FLAGS, cpu_flags, has_fast_bf16, parse_cpu_flags  # noqa: E402
from engine.model import export  # noqa: E402
from engine.model import precision as model_precision  # noqa: E402
from engine.model import runner_inference as ri  # noqa: E402
from engine.model.choose import make_runner  # noqa: E402
from engine.model.device import GpuInfo  # noqa: E402
from engine.model.networks import IMAGE_SIZE, SMALL, build_networks, save_checkpoint  # noqa: E402
from engine.model.runner_dygraph import DygraphRunner  # noqa: E402

MIN_PSNR_DB = 35.0
SUPPORTED = ["fp32"] + (["bf16"] if has_fast_bf16() else [])
# One worker builds this module's networks and exports (module fixtures), not each.
pytestmark = pytest.mark.xdist_group("fast_runner")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.fixture(scope="module")
def tamed(tmp_path_factory):
    """Random networks of the small configuration (the same layers, export and precisions as the
    full size; test_openvino.py exports the full size) whose final conv is scaled by 0.1 so pixels are mid-range
    (random weights otherwise saturate the sigmoid and flatter lossy paths), saved as a checkpoint."""
    paddle.seed(2024)
    nets = build_networks(SMALL)
    rng = np.random.default_rng(2024)
    with paddle.no_grad():
        final = nets.generator.final
        final.weight.set_value(final.weight * 0.1)
        final.bias.set_value(final.bias * 0.1)
        # ppgan zero-inits the jacobian head; give it a little so the jacobian path is exercised
        jac = nets.kp_detector.jacobian
        jac.weight.set_value(rng.normal(0, 1e-3, jac.weight.shape).astype("float32"))
    checkpoint = tmp_path_factory.mktemp("tamed") / "tamed.pdparams"
    save_checkpoint(nets, checkpoint)
    return nets, checkpoint


def foreign_export(cache: Path, checkpoint: Path, paddle_version: str = "2.6.2") -> Path:
    """What Paddle 2.6 left in a shared cache: a complete-looking export in its own format."""
    digest = export.checkpoint_digest(checkpoint)
    directory = export.model_dir(cache, digest, paddle=paddle_version)
    directory.mkdir(parents=True)
    (directory / "generator.pdmodel").write_bytes(b"not a PIR program")
    (directory / "manifest.json").write_text(json.dumps({"runner_version": export.RUNNER_VERSION,
                                                         "paddle": paddle_version}))
    return directory


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory, tamed) -> Path:
    cache = tmp_path_factory.mktemp("fast-cache")
    # exports of the same checkpoint by an older runner version and by another paddle: never
    # loaded, and cleaned up once this paddle's export is in place
    stale = cache / "inference" / f"v0-{export.checkpoint_digest(tamed[1])[:24]}"
    stale.mkdir(parents=True)
    (stale / "manifest.json").write_text("{}")
    foreign_export(cache, tamed[1])
    return cache


@pytest.fixture(scope="module")
def inputs():
    """A real face (scikit-image's astronaut) as source, a shifted copy of it as driving frames."""
    from skimage import data

    face = cv2.resize(data.astronaut()[:300, 100:400], (IMAGE_SIZE, IMAGE_SIZE),
                      interpolation=cv2.INTER_AREA)
    source = face.astype(np.float32).transpose(2, 0, 1)[None] / 255.0
    driving = np.concatenate([np.roll(source, s, axis=3) for s in (-12, 12)])
    return np.repeat(source, 2, axis=0), driving


@pytest.fixture(scope="module")
def reference(tamed, inputs):
    nets, _ = tamed
    source, driving = inputs
    ref = DygraphRunner(nets)
    kp_source, kp_driving = ref.keypoints(source), ref.keypoints(driving)
    return kp_source, kp_driving, ref.generate(source, kp_source, kp_driving)


@pytest.fixture(scope="module")
def runners(tamed, cache_dir):
    nets, checkpoint = tamed
    return {p: make_runner(nets, checkpoint, cache_dir, "cpu", p, openvino=False) for p in SUPPORTED}


@pytest.mark.parametrize("precision", SUPPORTED)
def test_every_supported_precision_stays_close_to_the_fp32_reference(precision, runners, inputs,
                                                                     reference):
    runner = runners[precision]
    assert runner.name == f"inference-cpu-{precision}"
    assert (runner.precision, runner.device, runner.fallback_reason) == (precision, "cpu", None)
    source, driving = inputs
    kp_source_ref, kp_driving_ref, frames_ref = reference
    # the reference really is mid-range (a saturated output would flatter a lossy path)
    assert 0.2 < float(np.mean((frames_ref > 0.05) & (frames_ref < 0.95))) <= 1.0
    assert float(frames_ref.std()) > 0.02

    value, jacobian = runner.keypoints(driving)
    assert value.shape == (2, 10, 2) and jacobian.shape == (2, 10, 2, 2)
    kp_tol = 1e-4 if precision == "fp32" else 2e-2
    assert np.abs(value - kp_driving_ref[0]).max() < kp_tol
    assert np.abs(jacobian - kp_driving_ref[1]).max() < kp_tol

    frames = runner.generate(source, kp_source_ref, kp_driving_ref)
    assert frames.shape == frames_ref.shape and frames.dtype == np.float32
    assert psnr(frames, frames_ref) >= MIN_PSNR_DB
    if precision == "fp32":
        assert np.abs(frames - frames_ref).max() < 1e-3


def test_source_features_cached_per_photo_give_the_same_frames(runners, inputs, reference):
    runner = runners[SUPPORTED[-1]]
    source, _ = inputs
    kp_source, kp_driving, _ = reference
    other = np.ascontiguousarray(source[:1, :, ::-1, :])  # a second "photo" (upside down)
    mixed = np.concatenate([source[:1], other])
    both = runner.generate(mixed, kp_source, kp_driving)
    alone = [runner.generate(mixed[i:i + 1], (kp_source[0][i:i + 1], kp_source[1][i:i + 1]),
                             (kp_driving[0][i:i + 1], kp_driving[1][i:i + 1])) for i in range(2)]
    np.testing.assert_allclose(both, np.concatenate(alone), atol=2e-2 if SUPPORTED[-1] == "bf16"
                               else 1e-5)
    assert np.abs(both[0] - both[1]).max() > 0.05  # different photos really give different frames
    # the engine passes np.broadcast_to views of one photo
    view = runner.generate(np.broadcast_to(source[0], source.shape), kp_source, kp_driving)
    np.testing.assert_array_equal(view, runner.generate(source, kp_source, kp_driving))


def test_export_is_cached_per_checkpoint_and_atomic(tamed, cache_dir, runners):
    nets, checkpoint = tamed
    digest = export.checkpoint_digest(checkpoint)
    assert digest == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    directory = export.model_dir(cache_dir, digest)
    assert directory.name == f"v{export.RUNNER_VERSION}-pd{paddle.__version__}-{digest[:24]}"
    files = {p.name: p.stat().st_mtime_ns for p in directory.iterdir()}
    assert {"manifest.json", "generator.pdiparams", "generator_bf16.pdiparams", "encoder.pdiparams",
            "kp_detector.pdiparams", "reference.npz"} <= set(files)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["runner_version"] == export.RUNNER_VERSION
    assert manifest["paddle"] == paddle.__version__
    # no tmp dirs left, and the older runner's and the other paddle's exports are gone
    assert [p.name for p in directory.parent.iterdir()] == [directory.name]

    # Another load (as in a new process) uses the exported model as it is, without even building
    # the dynamic-graph networks when given a loader.
    def must_not_load():
        pytest.fail("a cached start must not load the dynamic-graph networks")

    again = make_runner(must_not_load, checkpoint, cache_dir, "cpu", "fp32", openvino=False)
    assert again.name == "inference-cpu-fp32"
    assert {p.name: p.stat().st_mtime_ns for p in directory.iterdir()} == files


def test_export_failure_falls_back_to_the_dynamic_graph(tamed, tmp_path, caplog):
    nets, checkpoint = tamed
    nets.generator.inference = False  # a generator the rewrites do not cover: export must refuse it
    try:
        with caplog.at_level(logging.WARNING):
            runner = make_runner(nets, checkpoint, tmp_path, "cpu", "auto", openvino=False)
    finally:
        nets.generator.inference = True
    assert isinstance(runner, DygraphRunner)
    assert (runner.precision, runner.device) == ("fp32", "cpu")
    assert runner.fallback_reason.startswith("compiled model unavailable: exporting the FOMM")
    assert "\n" not in runner.fallback_reason
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"using paddle's dynamic graph (~20x slower): {runner.fallback_reason}"]
    assert not list((tmp_path / "inference").glob("*"))  # nothing half-written stays in the cache


def test_another_paddles_export_is_named_when_this_paddle_cannot_export(tamed, tmp_path):
    """A cache written by Paddle 2.6 (a shared volume, an old image) is never loaded; when this
    paddle's own export fails too, the reason says which versions are involved."""
    nets, checkpoint = tamed
    foreign = foreign_export(tmp_path, checkpoint, "2.6.2")
    nets.generator.inference = False  # the export fails
    try:
        runner = make_runner(nets, checkpoint, tmp_path, "cpu", "fp32", openvino=False)
    finally:
        nets.generator.inference = True
    assert isinstance(runner, DygraphRunner)
    assert runner.fallback_reason.startswith(
        f"exported model written by Paddle 2.6.2, this is Paddle {paddle.__version__}: "
        f"re-export failed: exporting the FOMM networks failed")
    assert "\n" not in runner.fallback_reason
    assert foreign.is_dir()  # nothing better replaced it


def test_paddle_2_is_refused_with_the_fix_named(tamed, tmp_path, monkeypatch):
    nets, checkpoint = tamed
    monkeypatch.setattr(export, "paddle_version", lambda: "2.6.2")
    runner = make_runner(nets, checkpoint, tmp_path, "cpu", "fp32", openvino=False)
    assert isinstance(runner, DygraphRunner)
    assert runner.fallback_reason == (
        "compiled model unavailable: Paddle 2.6.2 cannot export or load the compiled model (PIR "
        ".json programs need Paddle 3): install Paddle 3 (requirements-cpu.txt, or the "
        "Dockerfile's GPU wheel)")
    assert not (tmp_path / "inference").exists()  # it did not even try


def test_a_wrong_export_is_refused_not_cached(tamed, tmp_path, caplog, monkeypatch):
    """The export is checked against the dynamic graph: a rewrite bug (here: the final conv's
    kernel not flipped) must not reach users."""
    import paddle.nn.functional as F

    from engine.model import rewrites

    def unflipped(self, x):
        return F.conv2d_transpose(x, self.weight.flip([2, 3]), self.bias, padding=self.padding)

    monkeypatch.setattr(rewrites.ConvAsTransposed, "forward", unflipped)
    nets, checkpoint = tamed
    with caplog.at_level(logging.WARNING):
        runner = make_runner(nets, checkpoint, tmp_path, "cpu", "auto", openvino=False)
    assert isinstance(runner, DygraphRunner)
    assert "differs from the reference" in caplog.text
    assert "differs from the reference" in runner.fallback_reason
    assert not list((tmp_path / "inference").glob("*"))


@pytest.mark.skipif("bf16" not in SUPPORTED, reason="this CPU has no fast bf16")
def test_a_lossy_precision_below_the_bar_gives_way_to_fp32(tamed, cache_dir, runners, caplog,
                                                            monkeypatch):
    nets, checkpoint = tamed
    monkeypatch.setattr(model_precision, "MIN_PSNR_DB", 300.0)  # no lossy path reaches this
    with caplog.at_level(logging.WARNING):
        runner = make_runner(nets, checkpoint, cache_dir, "cpu", "bf16", openvino=False)
    assert runner.name == "inference-cpu-fp32"
    assert runner.fallback_reason is None  # still the compiled runner: fp32 is a fast path
    assert "using fp32" in caplog.text


@pytest.mark.skipif("bf16" not in SUPPORTED, reason="this CPU has no fast bf16")
def test_a_lossy_precision_that_does_not_load_gives_way_to_fp32(tamed, cache_dir, runners, caplog,
                                                                monkeypatch):
    """Not the dynamic graph: fp32 on the same device is still the fast path."""
    nets, checkpoint = tamed
    real = ri._Predictor.__init__

    def no_bf16(self, directory, name, device, precision, gpu_id=0):
        if precision == "bf16":
            raise RuntimeError("(PreconditionNotMet) bf16 kernels unavailable\n  [C++ context]")
        real(self, directory, name, device, precision, gpu_id)

    monkeypatch.setattr(ri._Predictor, "__init__", no_bf16)
    with caplog.at_level(logging.WARNING):
        runner = make_runner(nets, checkpoint, cache_dir, "cpu", "bf16", openvino=False)
    assert (runner.name, runner.fallback_reason) == ("inference-cpu-fp32", None)
    assert "bf16 on cpu does not load ((PreconditionNotMet) bf16 kernels unavailable); using fp32" \
        in caplog.text


def test_predictor_failure_mid_run_falls_back(tamed, cache_dir, inputs, reference, caplog):
    nets, checkpoint = tamed
    runner = make_runner(nets, checkpoint, cache_dir, "cpu", "fp32", openvino=False)
    runner._generator = None  # the predictor is gone, as if it crashed
    source, _ = inputs
    kp_source, kp_driving, frames_ref = reference

    def first(kp):
        return kp[0][:1], kp[1][:1]

    with caplog.at_level(logging.WARNING):
        frames = runner.generate(source[:1], first(kp_source), first(kp_driving))
    assert runner.name == DygraphRunner.name
    assert runner.precision == "fp32"
    assert runner.fallback_reason.startswith("Paddle Inference failed mid-run (")
    assert "dynamic graph" in caplog.text
    np.testing.assert_allclose(frames, frames_ref[:1], atol=1e-5)


def test_precision_choice(monkeypatch):
    assert model_precision.resolve_precision("cpu", "auto") == ("bf16" if has_fast_bf16() else "fp32")
    assert model_precision.resolve_precision("cpu", "fp16") == "fp32"
    assert model_precision.resolve_precision("cpu", "fp32") == "fp32"
    with pytest.raises(ValueError):
        model_precision.resolve_precision("cpu", "int8")
    # GPUs as paddle would report them (there may be none here): bf16 from compute capability 8.0
    gpus = GpuInfo(True, "12.6", ("Tesla T4", "NVIDIA H100 80GB HBM3"), ((7, 5), (9, 0)))
    monkeypatch.setattr("engine.model.device.gpu_info", lambda: gpus)
    assert model_precision.resolve_precision("gpu", "auto", gpu_id=0) == "fp16"
    assert model_precision.resolve_precision("gpu", "auto", gpu_id=1) == "bf16"
    assert model_precision.resolve_precision("gpu", "fp32", gpu_id=1) == "fp32"
    assert model_precision.resolve_precision("gpu", "fp16", gpu_id=1) == "fp16"
    assert model_precision.explain_precision("gpu", "bf16", gpu_id=1) == ("bf16", "bf16 as configured", False)
    # the why, as `python -m engine doctor` prints it
    assert model_precision.explain_precision("gpu", "bf16", gpu_id=0) == (
        "fp16", "this GPU has no bf16 (compute capability below 8.0); using fp16", True)
    resolved, why, overridden = model_precision.explain_precision("cpu", "auto")
    assert not overridden and why.startswith("auto: the CPU has")
    assert (resolved == "bf16") == ("neither" not in why) == has_fast_bf16()
    flags = parse_cpu_flags("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f amx_tile amx_bf16\n")
    assert {"amx_bf16", "avx2"} <= flags and BF16_FLAGS & flags
    assert not BF16_FLAGS & parse_cpu_flags("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    assert has_fast_bf16() == bool(BF16_FLAGS & cpu_flags())


def test_the_engine_package_has_no_import_cycle():
    """Every `from .x import` / `from engine.x import` in engine/ and its subpackages, inside
    functions too (only `if TYPE_CHECKING:` blocks are left out: they never run)."""
    package = Path(__file__).resolve().parents[2] / "engine"

    def name_of(path: Path) -> str:
        parts = path.relative_to(package.parent).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    paths = {name_of(p): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        never_run = {id(n) for node in ast.walk(tree)
                     if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                     for n in ast.walk(node)}
        anchor = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        deps = set()
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or id(node) in never_run:
                continue
            base = node.module or ""
            if node.level:
                base = ".".join(anchor[:len(anchor) - node.level + 1] + ([base] if base else []))
            for name in [f"{base}.{a.name}" for a in node.names] + [base]:
                while name and name not in paths:
                    name = name.rpartition(".")[0]
                if name and name != module:
                    deps.add(name)
        graph[module] = deps
    assert {"engine.model.runner_inference", "engine.model.runner_dygraph",
            "engine.model.runner_types"} <= graph["engine.model.choose"]
    assert "engine.model.runner_types" in graph["engine.model.runner_inference"]
    assert "engine.model.choose" not in graph["engine.model.runner_inference"]

    def cycle_from(start: str, path: list[str]) -> list[str] | None:
        for nxt in sorted(graph[path[-1]]):
            if nxt == start:
                return path + [nxt]
            if nxt not in path and (found := cycle_from(start, path + [nxt])):
                return found
        return None

    cycles = [c for m in sorted(graph) if (c := cycle_from(m, [m]))]
    assert not cycles, " -> ".join(cycles[0])


@pytest.mark.parametrize("kind", ["inference", "engine"])
def test_the_compiled_runner_serves_any_thread(kind, runners, small_engine):
    """Paddle Inference keeps per-thread oneDNN state: run from fresh threads again and again (as
    asyncio.to_thread does) it used to fail on the fourth with `std::exception` and fall back to
    the dynamic graph. Every predictor now lives on one thread (engine/model/paddle_thread.py). The
    engine's own runner (OpenVINO on a CPU where it converts) is held to the same."""
    import threading

    runner = runners["fp32"] if kind == "inference" else small_engine.runner
    rng = np.random.default_rng(3)
    source = rng.random((1, 3, 256, 256), dtype=np.float32)
    outputs = []

    def once() -> None:
        kp = runner.keypoints(source)
        outputs.append(runner.generate(source, kp, kp))

    for _ in range(8):
        thread = threading.Thread(target=once)
        thread.start()
        thread.join()
    assert runner.fallback_reason is None and not runner.name.startswith("dygraph")
    assert len(outputs) == 8 and all(np.array_equal(o, outputs[0]) for o in outputs)
