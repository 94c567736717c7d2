"""The fast runner: FOMM exported once per checkpoint to a Paddle Inference model, run on oneDNN.

The rewritten networks (engine/rewrites.py) are traced with `paddle.jit.to_static` and saved under
`cache_dir/inference/v<RUNNER_VERSION>-pd<paddle version>-<checkpoint sha256>/`; later processes
load that directly. The paddle version is in the name because the saved program format is paddle's
own (Paddle 3 writes PIR `.json` programs, 2.6 wrote `.pdmodel`): a cache written by another paddle
(a shared volume, an upgrade) is never loaded, this paddle exports its own. Paddle 2.x cannot run
these exports at all; the runner then says so in its `fallback_reason` (see engine/runner.py).
The models: the keypoint detector, the generator's encoder (source only, so its features are
computed once per photo instead of once per frame: ~22% of the generator's work) and the rest of
the generator, twice (up blocks as transposed convs for fp32/GPU, as pixel shuffles for bf16).

Precision: fp32 on any x86 CPU (oneDNN), bf16 on CPUs with AMX or AVX512-BF16; on a CUDA build
bf16 on GPUs that have it (Ampere and later), fp16 on older ones, fp32 as the fallback. The export
and its reference frame are computed on the CPU whatever the device (engine/device.py `on_cpu`), so
the export never depends on a GPU's TF32. Every load checks the model against that reference frame:
CPU fp32 must match to 1e-3; a GPU or lossy path must stay above the PSNR floor of its precision
(min_psnr_db), else fp32 is used (and a GPU fp32 below its floor falls back to the dynamic graph).
Measured on a 2-vCPU AMX Xeon, batch 4 (benchmarks/bench_runners.py): dygraph ~2.3 s/frame,
oneDNN fp32 ~0.31 s, bf16 ~0.11 s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .cpu_features import BF16_FLAGS, compute_threads, cpu_flags
from .hashing import sha256_file
from .networks import IMAGE_SIZE, NUM_KP, Networks, load_networks
from .paddle_compat import import_paddle
from .paddle_thread import on_paddle_thread
from .quality import psnr
from .runner_dygraph import DygraphRunner
from .runner_types import Keypoints, ModelRunner

log = logging.getLogger(__name__)

# Bump whenever rewrites.py or the exported signatures change: old caches are then ignored.
RUNNER_VERSION = "5"
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_MODELS = ("kp_detector", "encoder", "generator", "generator_bf16")
MIN_PSNR_DB = 35.0  # a lossy precision (bf16, fp16) must stay this close to the fp32 reference
# fp32 on a GPU: TF32 (on by default from Ampere) rounds convolution and matmul inputs to a 10-bit
# mantissa but sums in fp32: 3 bits more than bf16 (~18 dB), whose frames are ~42 dB from the
# reference on random weights, so ~60 dB is expected; 45 dB leaves room for cuDNN's choice of
# algorithms and still catches a wrong kernel (below ~30 dB).
MIN_GPU_FP32_PSNR_DB = 45.0
MIN_PADDLE_MAJOR = 3  # exports are PIR programs (.json) that Paddle 2.x neither writes nor reads
_FP32_TOLERANCE = 1e-3
_REFERENCE = "reference.npz"  # a test input and the dynamic graph's output, for accuracy checks
_FEATURE_CACHE = 16  # source feature maps kept (4 MiB each): covers every face of a photo


class ExportError(RuntimeError):
    """The networks could not be exported or the exported model does not match the reference."""


def checkpoint_digest(checkpoint: Path) -> str:
    """sha256 of the checkpoint (hashed once per process; the engine's keypoint caches share it)."""
    return sha256_file(checkpoint)


def paddle_version() -> str:
    return import_paddle().__version__


def model_dir(cache_dir: Path, digest: str, paddle: str | None = None) -> Path:
    """Where this runner version and `paddle` (default: the running one) keep a checkpoint's export."""
    version = paddle or paddle_version()
    return Path(cache_dir) / "inference" / f"v{RUNNER_VERSION}-pd{version}-{digest[:24]}"


def _is_complete(directory: Path) -> bool:
    return (directory / "manifest.json").is_file()


def exports_by_other_paddles(cache_dir: Path, digest: str) -> list[str]:
    """Paddle versions that exported this checkpoint into cache_dir, other than the running one."""
    current = model_dir(cache_dir, digest)
    found = set()
    for directory in (Path(cache_dir) / "inference").glob(f"v*-{digest[:24]}"):
        if directory == current or not _is_complete(directory):
            continue
        try:
            found.add(str(json.loads((directory / "manifest.json").read_text())["paddle"]))
        except (OSError, ValueError, KeyError, TypeError):
            found.add("unknown")
    return sorted(found)


def check_paddle_version() -> None:
    """ExportError naming the fix when this paddle cannot export or load the compiled model."""
    version = paddle_version()
    try:
        major = int(version.split(".")[0])
    except ValueError:
        return  # not a release number: let it try
    if 0 < major < MIN_PADDLE_MAJOR:  # 0: a develop build, which reports 0.0.0
        raise ExportError(f"Paddle {version} cannot export or load the compiled model (PIR .json "
                          f"programs need Paddle {MIN_PADDLE_MAJOR}): install Paddle "
                          f"{MIN_PADDLE_MAJOR} (requirements-cpu.txt, or the Dockerfile's GPU wheel)")


def one_line(exc: BaseException, limit: int = 240) -> str:
    """An exception as one short line (paddle's errors run to many lines of C++ context)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 1] + "…"


def export_models(networks: Networks, target: Path) -> Path:
    """Trace the rewritten networks and save them into `target` atomically (tmp dir + rename)."""
    if _is_complete(target):
        return target
    paddle = import_paddle()
    from paddle.static import InputSpec

    from .rewrites import FastGenerator, FastKPDetector, GeneratorDecoder, GeneratorEncoder

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    started = time.monotonic()
    try:
        generator = FastGenerator(networks.generator, IMAGE_SIZE, "transposed")
        generator_bf16 = FastGenerator(networks.generator, IMAGE_SIZE, "shuffle")
        kp_detector = FastKPDetector(networks.kp_detector, IMAGE_SIZE)
        image = InputSpec([None, 3, IMAGE_SIZE, IMAGE_SIZE], "float32", "source")
        value = [None, NUM_KP, 2]
        jacobian = [None, NUM_KP, 2, 2]
        encoder = GeneratorEncoder(generator)
        feature_shape = [None, *encoder.output_shape()]
        decoder_spec = [InputSpec(feature_shape, "float32", "features"), image,
                        InputSpec(value, "float32", "kd_value"),
                        InputSpec(jacobian, "float32", "kd_jacobian"),
                        InputSpec(value, "float32", "ks_value"),
                        InputSpec(jacobian, "float32", "ks_jacobian")]
        specs = {
            "kp_detector": (kp_detector, [InputSpec(image.shape, "float32", "frames")]),
            "encoder": (encoder, [image]),
            "generator": (GeneratorDecoder(generator), decoder_spec),
            "generator_bf16": (GeneratorDecoder(generator_bf16), decoder_spec),
        }
        with warnings.catch_warnings():  # tracing warns about PIR internals, nothing to act on
            warnings.simplefilter("ignore")
            for name, (layer, spec) in specs.items():
                layer.eval()
                static = paddle.jit.to_static(layer, input_spec=spec, full_graph=True)
                paddle.jit.save(static, str(tmp / name))
        _write_reference(tmp, networks)  # on the CPU: load_inference_runner holds on_cpu()
        # fp32 on CPU must match here, before the export is published in the cache
        check_accuracy(InferenceRunner(tmp, "cpu", "fp32"), tmp)
        manifest = {"runner_version": RUNNER_VERSION, "paddle": paddle.__version__,
                    "models": list(_MODELS), "feature_shape": feature_shape[1:]}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        try:
            os.rename(tmp, target)
        except OSError:
            if not _is_complete(target):  # another process did not win the race: a real error
                raise
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(f"exporting the FOMM networks failed: {type(exc).__name__}: "
                          f"{one_line(exc)}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("exported FOMM to %s in %.1f s", target, time.monotonic() - started)
    _remove_stale_versions(target)
    return target



def _write_reference(directory: Path, networks: Networks) -> None:
    """Save a test input and the dynamic graph's fp32 output next to the exported models."""
    import cv2

    rng = np.random.default_rng(0)
    # a smooth random image and a small head motion: a plausible input, cheap to make
    source = cv2.resize(rng.random((8, 8, 3)).astype(np.float32), (IMAGE_SIZE, IMAGE_SIZE),
                        interpolation=cv2.INTER_CUBIC).clip(0, 1).transpose(2, 0, 1)[None]
    source = np.ascontiguousarray(source)
    reference = DygraphRunner(networks)
    ks_value, ks_jacobian = reference.keypoints(source)
    kd_value = ks_value + rng.uniform(-0.05, 0.05, ks_value.shape).astype(np.float32)
    expected = reference.generate(source, (ks_value, ks_jacobian), (kd_value, ks_jacobian))
    np.savez(directory / _REFERENCE, source=source, ks_value=ks_value, ks_jacobian=ks_jacobian,
             kd_value=kd_value, kd_jacobian=ks_jacobian, expected=expected)


def load_reference(directory: Path) -> dict[str, np.ndarray]:
    """The export's test input and the dynamic graph's output for it: source [1,3,256,256],
    ks_value/ks_jacobian, kd_value/kd_jacobian, expected [1,3,256,256]."""
    with np.load(directory / _REFERENCE) as ref:
        return {k: ref[k] for k in ref.files}


def reference_psnr(runner: ModelRunner, reference: dict[str, np.ndarray]) -> float:
    """PSNR (dB) of any runner's frame against the reference frame (200 when identical)."""
    frame = runner.generate(reference["source"], (reference["ks_value"], reference["ks_jacobian"]),
                            (reference["kd_value"], reference["kd_jacobian"]))
    return psnr(frame, reference["expected"])


def check_accuracy(runner: InferenceRunner, directory: Path) -> float:
    """PSNR of the runner against the stored dynamic-graph output; for fp32 also the max errors.

    A silently wrong model (an optimisation pass that miscompiles an op, an fp16 overflow) must
    not reach users, and this is its only check. Raises ExportError when fp32 differs.
    """
    ref = load_reference(directory)
    source = ref["source"]
    value, _ = runner.keypoints(source)
    frame = runner.generate(source, (ref["ks_value"], ref["ks_jacobian"]),
                            (ref["kd_value"], ref["kd_jacobian"]))
    runner._features.clear()
    quality = psnr(frame, ref["expected"])
    if runner.precision == "fp32" and runner.device == "cpu":
        kp_err = float(np.abs(value - ref["ks_value"]).max())
        frame_err = float(np.abs(frame - ref["expected"]).max())
        if not (kp_err < _FP32_TOLERANCE and frame_err < _FP32_TOLERANCE):
            raise ExportError(f"the exported fp32 model differs from the reference on "
                              f"{runner.device} (keypoints {kp_err:.2g}, frame {frame_err:.2g})")
    elif runner.precision == "fp32" and quality < MIN_GPU_FP32_PSNR_DB:
        raise ExportError(f"the exported fp32 model on the GPU is {quality:.1f} dB from the CPU "
                          f"reference (at least {MIN_GPU_FP32_PSNR_DB:.0f} dB expected with TF32)")
    return quality


def min_psnr_db(device: str, precision: str) -> float | None:
    """The PSNR floor of a path against the CPU reference; None for CPU fp32 (checked to 1e-3)."""
    if precision == "fp32":
        return None if device == "cpu" else MIN_GPU_FP32_PSNR_DB
    return MIN_PSNR_DB


def _remove_stale_versions(current: Path) -> None:
    """Exports of the same checkpoint by older runner versions or other paddles are dead weight
    (~330 MB each) once this one is in place."""
    digest = current.name.rsplit("-", 1)[1]
    for old in current.parent.glob(f"v*-{digest}"):
        if old != current and _is_complete(old):
            shutil.rmtree(old, ignore_errors=True)


def explain_precision(device: str, precision: str, gpu_id: int = 0) -> tuple[str, str, bool]:
    """`[engine].precision` on this device -> (fp32 | bf16 | fp16, why, whether the setting was
    overridden). ValueError for a setting that is not a precision at all."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if device == "gpu":
        from .device import gpu_info

        bf16_gpu = gpu_info().supports_bf16(gpu_id)
        if precision == "bf16" and not bf16_gpu:
            return ("fp16", "this GPU has no bf16 (compute capability below 8.0); using fp16",
                    True)
        if precision == "auto":
            # bf16 keeps fp32's range (no fp16 overflow) at fp16's speed on tensor cores
            if bf16_gpu:
                return "bf16", ("auto: the GPU has bf16 (compute capability 8.0+), checked "
                                f"against the CPU reference at load (>= {MIN_PSNR_DB:.0f} dB)"), False
            return "fp16", ("auto on a GPU without bf16: fp16, checked against the CPU reference "
                            f"at load (>= {MIN_PSNR_DB:.0f} dB)"), False
        return precision, f"{precision} as configured", False
    if precision == "fp16":
        return "fp32", "fp16 runs only on a GPU; using fp32 on the CPU", True
    bf16 = sorted(BF16_FLAGS & cpu_flags())
    if precision == "bf16" and not bf16:
        return ("fp32", "this CPU has neither AMX nor AVX512-BF16; bf16 would be emulated, using "
                "fp32", True)
    if precision == "auto":
        if bf16:
            return "bf16", f"auto: the CPU has {'/'.join(bf16)}, so bf16 on oneDNN", False
        return "fp32", "auto: the CPU has neither AMX nor AVX512-BF16, so fp32 on oneDNN", False
    return precision, f"{precision} as configured", False


def resolve_precision(device: str, precision: str, gpu_id: int = 0) -> str:
    """Map `[engine].precision` onto what this device runs: fp32, bf16 or fp16."""
    resolved, why, overridden = explain_precision(device, precision, gpu_id)
    if overridden:
        log.warning("%s", why)
    return resolved



class _Predictor:
    """One Paddle Inference predictor with its input/output handles, created and run on the paddle
    thread (engine/paddle_thread.py)."""

    def __init__(self, directory: Path, name: str, device: str, precision: str,
                 gpu_id: int = 0) -> None:
        on_paddle_thread(self._create, directory, name, device, precision, gpu_id)

    def _create(self, directory: Path, name: str, device: str, precision: str,
                gpu_id: int = 0) -> None:
        from paddle import inference

        program = directory / f"{name}.json"
        if not program.is_file():
            raise ExportError(f"{directory} has no {program.name} (not written by this paddle)")
        config = inference.Config(str(program), str(directory / f"{name}.pdiparams"))
        config.disable_glog_info()
        if device == "gpu":
            mode = {"fp16": inference.PrecisionType.Half,
                    "bf16": inference.PrecisionType.Bfloat16}.get(precision,
                                                                  inference.PrecisionType.Float32)
            config.enable_use_gpu(256, gpu_id, mode)
        else:
            config.disable_gpu()
            config.enable_onednn()
            config.set_cpu_math_library_num_threads(compute_threads())
            if precision == "bf16":
                config.enable_onednn_bfloat16()
                # With this fuse the residual convs stay fp32 (5 of the 12 bottleneck convs).
                config.delete_pass("conv_elementwise_add_onednn_fuse_pass")
        self._predictor = inference.create_predictor(config)
        self._inputs = {n: self._predictor.get_input_handle(n)
                        for n in self._predictor.get_input_names()}
        self._outputs = [self._predictor.get_output_handle(n) for n in self._predictor.get_output_names()]

    def __call__(self, **arrays: np.ndarray) -> list[np.ndarray]:
        """Inputs by the names given at export (InputSpec names); outputs in the model's order."""
        return on_paddle_thread(self._run, arrays)

    def _run(self, arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
        for name, handle in self._inputs.items():
            handle.copy_from_cpu(np.ascontiguousarray(arrays[name], dtype=np.float32))
        self._predictor.run()
        return [h.copy_to_cpu() for h in self._outputs]


class InferenceRunner:
    """ModelRunner on exported Paddle Inference models (oneDNN fp32/bf16 on CPU, fp32/bf16/fp16 on
    GPU `gpu_id`)."""

    def __init__(self, directory: Path, device: str = "cpu", precision: str = "fp32",
                 fallback: Callable[[], ModelRunner] | None = None, gpu_id: int = 0) -> None:
        import_paddle()
        self.precision = precision
        self.device = device
        self.name = f"inference-{device}-{precision}"
        self.fallback_reason: str | None = None  # set if a predictor fails mid-run
        self.directory = directory
        self._fallback_factory = fallback
        self._fallback: ModelRunner | None = None
        self.gpu_id = gpu_id
        self._kp = _Predictor(directory, "kp_detector", device, precision, gpu_id)
        self._encoder = _Predictor(directory, "encoder", device, precision, gpu_id)
        # the same network with the up blocks written the way each precision runs fastest (the
        # pixel shuffles are for oneDNN's bf16; cuDNN runs transposed convs in any precision)
        decoder = "generator_bf16" if precision == "bf16" and device == "cpu" else "generator"
        self._generator = _Predictor(directory, decoder, device, precision, gpu_id)
        self._features: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._features_lock = threading.Lock()

    def keypoints(self, frames: np.ndarray) -> Keypoints:
        if self._fallback is None:
            try:
                value, jacobian = self._kp(frames=frames)
                return value, jacobian
            except Exception as exc:
                self._fall_back(exc)
        return self._fallback.keypoints(frames)

    def generate(self, source: np.ndarray, kp_source: Keypoints, kp_driving: Keypoints) -> np.ndarray:
        if self._fallback is None:
            try:
                return self._generate(source, kp_source, kp_driving)
            except Exception as exc:
                self._fall_back(exc)
        return self._fallback.generate(source, kp_source, kp_driving)

    def _fall_back(self, exc: Exception) -> None:
        """A predictor failed mid-run: switch to the dynamic graph for good (or re-raise)."""
        if self._fallback_factory is None:
            raise exc
        reason = (f"Paddle Inference failed mid-run ({type(exc).__name__}: {one_line(exc)}): "
                  f"using paddle's dynamic graph (slower) until restart")
        log.warning("%s", reason)
        self._fallback = self._fallback_factory()
        self.name = self._fallback.name
        self.precision = self._fallback.precision
        self.fallback_reason = reason

    def _source_features(self, source: np.ndarray) -> np.ndarray:
        """Encoder features per source row, cached by content (the photo is the same every frame)."""
        if source.strides[0] == 0:  # np.broadcast_to of one photo: hash it once
            keys = [_content_key(source[0])] * len(source)
        else:
            keys = [_content_key(row) for row in source]
        with self._features_lock:
            known = {k: self._features[k] for k in keys if k in self._features}
        missing = {k: i for i, k in enumerate(keys) if k not in known}
        if missing:
            (computed,) = self._encoder(source=np.stack([source[i] for i in missing.values()]))
            known.update(zip(missing, computed))
        with self._features_lock:
            for k in keys:
                self._features[k] = known[k]
                self._features.move_to_end(k)
            while len(self._features) > _FEATURE_CACHE:
                self._features.popitem(last=False)
        return np.stack([known[k] for k in keys])

    def _generate(self, source: np.ndarray, kp_source: Keypoints, kp_driving: Keypoints) -> np.ndarray:
        features = self._source_features(source)
        (prediction,) = self._generator(features=features, source=source,
                                        kd_value=kp_driving[0], kd_jacobian=kp_driving[1],
                                        ks_value=kp_source[0], ks_jacobian=kp_source[1])
        return prediction


def _content_key(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image, np.float32), digest_size=16).digest()


NetworksSource = Networks | Callable[[], Networks]


def resolve_networks(networks: NetworksSource) -> Networks:
    return networks() if callable(networks) else networks


def load_inference_runner(networks: NetworksSource, checkpoint: Path, cache_dir: Path, device: str,
                          precision: str, gpu_id: int = 0) -> InferenceRunner:
    """Export (once per checkpoint, on the CPU), load and check; raises on any failure so the caller
    can fall back. A lossy precision further than MIN_PSNR_DB from the reference gives way to fp32.

    `networks` may be a loader: it is then called only when the export is not cached yet, so a
    warm start never builds the dynamic-graph networks (~0.4 GB less peak memory, ~2 s faster).
    """
    from .device import on_cpu

    resolved = resolve_precision(device, precision, gpu_id)
    check_paddle_version()
    directory = model_dir(cache_dir, checkpoint_digest(checkpoint))
    if not _is_complete(directory):
        # The networks are loaded (when `networks` is a loader), traced and run for the reference
        # frame on the CPU, whatever the device: the export is the same on every host.
        with on_cpu():
            export_models(resolve_networks(networks), directory)
    runner: InferenceRunner | None = None
    quality = 0.0
    try:
        runner = InferenceRunner(directory, device, resolved, gpu_id=gpu_id)
        quality = check_accuracy(runner, directory)
    except Exception as exc:
        if resolved == "fp32":
            raise
        # a lossy mode this paddle/device cannot build (say fp16 on an old GPU): fp32 still is fast
        log.warning("%s on %s does not load (%s); using fp32", resolved, device, one_line(exc))
    if runner is None or quality < (min_psnr_db(device, resolved) or 0.0):
        if runner is not None:
            log.warning("%s on %s is only %.1f dB from the fp32 reference; using fp32",
                        resolved, device, quality)
        runner = InferenceRunner(directory, device, "fp32", gpu_id=gpu_id)
        quality = check_accuracy(runner, directory)
    log.info("model runner %s: %.1f dB from the CPU fp32 reference", runner.name, quality)
    # Reload rather than capture `networks`, so the caller may free the dygraph weights (~230 MB).
    runner._fallback_factory = lambda: DygraphRunner(load_networks(checkpoint))
    return runner
