"""The CPU runner: the exported networks converted to OpenVINO IR and run by OpenVINO alone.

The keypoint detector, the encoder and the generator are converted once per checkpoint and batch
size (engine/model/export_openvino.py, where Paddle is present) into
`cache_dir/openvino/v<VERSION>-<checkpoint sha>-b<batch>/`. The generator has a fixed batch
(`[engine].batch_size`): shorter batches are padded. The keypoint detector and the encoder
compile with a dynamic batch.

At run time nothing here imports Paddle: a CPU render or worker with a converted model never loads
it (tests/engine/test_openvino.py checks `sys.modules`). Precision: bf16 where the CPU has AMX or
AVX512-BF16 (OpenVINO's INFERENCE_PRECISION_HINT), fp32 elsewhere; int8 (NNCF post-training
quantization of the generator) only where its gate passed (`engine/model/int8_gate.py`).
The accuracy check against the reference frame runs once per (model, precision, CPU kind) and is
remembered in `checks.json`, so a warm start does not pay a forward pass for it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..cpu_features import compute_threads, cpu_flags
from ..hashing import sha256_file
from .errors import OpenVinoUnavailable
from .fallback import FallsBack
from .precision import INT8_DIR, MIN_PSNR_DB, explain_openvino_precision
from .quality import psnr
from .reference import load_reference, reference_frame
from .runner_types import Keypoints, ModelRunner

log = logging.getLogger(__name__)

VERSION = "1"  # bump when the conversion or the file layout changes: old folders are ignored
MODELS = ("kp_detector", "encoder", "generator")
FP32_TOLERANCE = 2e-3  # OpenVINO fuses/reorders differently from oneDNN-in-Paddle; still exact
_FEATURE_CACHE = 16
_SHAPES = {"features": None, "source": [3, 256, 256], "kd_value": [10, 2], "ks_value": [10, 2],
           "kd_jacobian": [10, 2, 2], "ks_jacobian": [10, 2, 2]}


def available() -> bool:
    """OpenVINO is installed (the import is deferred to the caller's first use)."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def import_openvino() -> Any:
    """`import openvino` without its model converter: the package imports `openvino.tools.ovc`
    (and through it telemetry, urllib and ssl: ~0.3 s, a fifth of a warm start) only to offer
    `openvino.convert_model`, which running a converted model never needs; nor does the
    conversion (engine/model/export_openvino.py), which reads ONNX with OpenVINO's own reader."""
    if "openvino" in sys.modules:
        return sys.modules["openvino"]
    modules: dict[str, Any] = sys.modules  # Any: a None value marks a blocked import
    blocked = "openvino.tools.ovc" not in modules
    if blocked:
        modules["openvino.tools.ovc"] = None  # openvino/__init__.py skips it on ImportError
    try:
        import openvino
    finally:
        if blocked and modules.get("openvino.tools.ovc", 0) is None:
            del modules["openvino.tools.ovc"]
    return openvino


def model_dir(cache_dir: Path, digest: str, batch: int) -> Path:
    return Path(cache_dir) / "openvino" / f"v{VERSION}-{digest[:24]}-b{batch}"


def is_complete(directory: Path) -> bool:
    return (directory / "manifest.json").is_file()


def ready(checkpoint: Path, cache_dir: Path, batch: int) -> bool:
    """A converted model for this checkpoint and batch is in cache_dir and OpenVINO is installed:
    a CPU process needs no Paddle."""
    try:
        return available() and is_complete(model_dir(cache_dir, sha256_file(checkpoint, store=cache_dir),
                                                      batch))
    except OSError:
        return False


def _core(precision: str, directory: Path) -> Any:
    ov = import_openvino()
    core = ov.Core()
    # OpenVINO's compiled-model cache: a warm start imports the compiled blobs instead of compiling
    # the generator again (about half the load time, measured on the 2-vCPU EPYC); per CPU kind
    # "compiled-by-path": blobs keyed by the IR's path (see _Compiled); the older folder's blobs,
    # keyed by the model read into memory, would never be read again (~330 MB per precision)
    shutil.rmtree(directory / "compiled", ignore_errors=True)
    core.set_property({"CACHE_DIR": str(directory / "compiled-by-path")})
    hint = {"bf16": "bf16"}.get(precision, "f32")  # int8 IR: its int8 ops run int8, the rest f32
    core.set_property("CPU", {"INFERENCE_NUM_THREADS": compute_threads(), "PERFORMANCE_HINT": "LATENCY",
                              "INFERENCE_PRECISION_HINT": hint})
    return core


def _exported_name(port: Any) -> str:
    names = port.get_names()
    known = sorted(n for n in names if n in _SHAPES or n == "frames")
    return known[0] if known else str(port.get_any_name())


class _Compiled:
    """One compiled model and its infer request (forwards are serialised by a lock)."""

    def __init__(self, core: Any, xml: Path) -> None:
        # By path, not read_model: on a cache hit OpenVINO imports the compiled blob without
        # reading the IR and its fp32 weights at all (~0.25 GB less peak memory, less start-up)
        self.model = core.compile_model(str(xml), "CPU")
        self.request = self.model.create_infer_request()
        # a tensor may carry several names (paddle2onnx adds e.g. "auto.cast.0"): the exported one
        self.inputs = [_exported_name(i) for i in self.model.inputs]
        self.batch = {}  # input -> fixed batch, where static
        for name, i in zip(self.inputs, self.model.inputs, strict=True):
            shape = i.get_partial_shape()
            if shape.rank.is_static and shape[0].is_static:
                self.batch[name] = shape[0].get_length()
        self._lock = threading.Lock()

    def __call__(self, **arrays: np.ndarray) -> list[np.ndarray]:
        with self._lock:
            feed = {n: np.ascontiguousarray(arrays[n], dtype=np.float32) for n in self.inputs}
            result = self.request.infer(feed)
            return [np.array(result[o]) for o in self.model.outputs]


class OpenVinoRunner(FallsBack):
    """ModelRunner on OpenVINO IR: fp32, bf16 (AMX/AVX512-BF16) or an int8 generator that passed
    its gate. Never imports Paddle."""

    what = "OpenVINO"

    device = "cpu"

    def __init__(self, directory: Path, precision: str = "fp32",
                 fallback: Callable[[], ModelRunner] | None = None) -> None:
        self.directory = Path(directory)
        self.precision = precision
        self.name = f"openvino-cpu-{precision}"
        # What replaces a forward failing mid-run (Paddle Inference, engine/model/choose.py);
        # None: the failure is raised (the checks at conversion and load, the int8 gate)
        self._init_fallback(fallback)
        core = _core(precision, self.directory)
        self._kp = _Compiled(core, self.directory / "kp_detector.xml")
        self._encoder = _Compiled(core, self.directory / "encoder.xml")
        generator = (self.directory / INT8_DIR / "generator.xml" if precision == "int8"
                     else self.directory / "generator.xml")
        self._generator = _Compiled(core, generator)
        self.batch = self._generator.batch.get("source", 1)
        self._features: OrderedDict[bytes, np.ndarray] = OrderedDict()

    def _keypoints(self, frames: np.ndarray) -> Keypoints:
        value, jacobian = self._kp(frames=frames)
        return value, jacobian

    def forget_features(self) -> None:
        """Drop the cached source features (after a check on a test image)."""
        self._features.clear()

    def source_features(self, source: np.ndarray) -> np.ndarray:
        """Encoder features per source row, cached by content (the photo is the same every frame)."""
        import hashlib

        rows = [source[0]] * len(source) if source.strides[0] == 0 else list(source)
        keys = [hashlib.blake2b(np.ascontiguousarray(r, np.float32).tobytes(), digest_size=16).digest()
                for r in (rows[:1] if source.strides[0] == 0 else rows)]
        if source.strides[0] == 0:
            keys = keys * len(source)
        missing = {k: r for k, r in zip(keys, rows, strict=True) if k not in self._features}
        if missing:
            (computed,) = self._encoder(source=np.stack(list(missing.values())))
            for k, f in zip(missing, computed, strict=True):
                self._features[k] = f
        for k in keys:
            self._features.move_to_end(k)
        out = np.stack([self._features[k] for k in keys])
        while len(self._features) > _FEATURE_CACHE:
            self._features.popitem(last=False)
        return out

    def _generate(self, source: np.ndarray, kp_source: Keypoints, kp_driving: Keypoints) -> np.ndarray:
        features = self.source_features(source)
        inputs = {"features": features, "source": source, "kd_value": kp_driving[0],
                  "kd_jacobian": kp_driving[1], "ks_value": kp_source[0], "ks_jacobian": kp_source[1]}
        return self._forward(inputs)

    def generate_features(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The generator on ready inputs (features included): calibration and the int8 gate."""
        return self._forward(inputs)

    def _forward(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        n, b = len(inputs["source"]), self.batch
        out = []
        for start in range(0, n, b):  # the generator has a fixed batch: pad the last one
            chunk = {k: v[start:start + b] for k, v in inputs.items()}
            rows = len(chunk["source"])
            if rows < b:
                chunk = {k: np.concatenate([v, np.repeat(v[-1:], b - rows, 0)]) for k, v in chunk.items()}
            (prediction,) = self._generator(**chunk)
            out.append(prediction[:rows])
        return out[0] if len(out) == 1 else np.concatenate(out)


def check(runner: OpenVinoRunner, strict: bool = False) -> float:
    """PSNR of the runner's frame against the dynamic graph's reference frame; with strict (fp32
    at conversion) the keypoints and the frame must match within FP32_TOLERANCE."""
    ref = load_reference(runner.directory)
    value, _ = runner.keypoints(ref["source"])
    frame = reference_frame(runner, ref)
    runner.forget_features()
    quality = psnr(frame, ref["expected"])
    if strict:
        kp_err = float(np.abs(value - ref["ks_value"]).max())
        frame_err = float(np.abs(frame - ref["expected"]).max())
        if not (kp_err < FP32_TOLERANCE and frame_err < FP32_TOLERANCE):
            raise OpenVinoUnavailable(f"the OpenVINO fp32 model differs from the reference "
                                      f"(keypoints {kp_err:.2g}, frame {frame_err:.2g})")
    return quality


def _cpu_kind() -> str:
    """What decides OpenVINO's kernels: a cache on a shared volume may meet another CPU."""
    ov = import_openvino()
    flags = sorted(cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8",
                                  "avx512_vnni", "avx_vnni"})
    return f"{ov.get_version().split('-')[0]}:{','.join(flags)}"


def checked_quality(runner: OpenVinoRunner) -> float:
    """The reference PSNR of this runner's precision on this CPU kind, measured once and kept."""
    path = runner.directory / "checks.json"
    key = f"{runner.precision}@{_cpu_kind()}"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        known[key] = check(runner)
        tmp = path.with_name(f".checks.{os.getpid()}.{uuid.uuid4().hex[:6]}.json")
        tmp.write_text(json.dumps(known, indent=1))
        os.replace(tmp, path)
    return float(known[key])


def load_runner(directory: Path, precision: str) -> tuple[OpenVinoRunner, float, str]:
    """The runner for `[engine].precision` (auto/fp32/bf16/int8) -> (runner, reference dB, why).

    A lossy precision further than MIN_PSNR_DB from the reference gives way to fp32."""
    if not is_complete(directory):
        raise OpenVinoUnavailable(f"no OpenVINO model in {directory}")
    resolved, why = explain_openvino_precision(precision, directory)
    runner = OpenVinoRunner(directory, resolved)
    quality = checked_quality(runner)
    if resolved != "fp32" and quality < MIN_PSNR_DB:
        log.warning("OpenVINO %s is only %.1f dB from the reference; using fp32", resolved, quality)
        why = f"{resolved} only {quality:.1f} dB from the reference: fp32"
        runner = OpenVinoRunner(directory, "fp32")
        quality = checked_quality(runner)
    return runner, quality, why
