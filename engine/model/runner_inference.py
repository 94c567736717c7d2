"""The fast runner on Paddle Inference: the exported FOMM (engine/model/export.py) run on oneDNN
on the CPU, or on a GPU.

The models: the keypoint detector, the generator's encoder (source only, so its features are
computed once per photo instead of once per frame: ~22% of the generator's work) and the rest of
the generator, twice (up blocks as transposed convs for fp32/GPU, as pixel shuffles for bf16).
Which precision runs where: engine/model/precision.py. Every load checks the model against the
reference frame stored with the export (`check_accuracy`): CPU fp32 must match to 1e-3; a GPU or
lossy path must stay above the PSNR floor of its precision.
Measured on a 2-vCPU AMX Xeon, batch 4 (benchmarks/bench_runners.py): dygraph ~2.3 s/frame,
oneDNN fp32 ~0.31 s, bf16 ~0.11 s.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..cpu_features import compute_threads
from .errors import ExportError
from .fallback import FallsBack
from .paddle_compat import import_paddle
from .paddle_thread import on_paddle_thread
from .precision import MIN_GPU_FP32_PSNR_DB
from .quality import psnr
from .reference import load_reference, reference_frame
from .runner_types import Keypoints, ModelRunner

log = logging.getLogger(__name__)

_FP32_TOLERANCE = 1e-3
_FEATURE_CACHE = 16  # source feature maps kept (4 MiB each): covers every face of a photo


class _Predictor:
    """One Paddle Inference predictor with its input/output handles, created and run on the paddle
    thread (engine/model/paddle_thread.py)."""

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


class InferenceRunner(FallsBack):
    """ModelRunner on exported Paddle Inference models (oneDNN fp32/bf16 on CPU, fp32/bf16/fp16 on
    GPU `gpu_id`)."""

    what = "Paddle Inference"
    instead = "paddle's dynamic graph (slower)"

    def __init__(self, directory: Path, device: str = "cpu", precision: str = "fp32",
                 fallback: Callable[[], ModelRunner] | None = None, gpu_id: int = 0) -> None:
        import_paddle()
        self.precision = precision
        self.device = device
        self.name = f"inference-{device}-{precision}"
        self.directory = directory
        self._init_fallback(fallback)  # what replaces a predictor failing mid-run
        self.gpu_id = gpu_id
        self._kp = _Predictor(directory, "kp_detector", device, precision, gpu_id)
        self._encoder = _Predictor(directory, "encoder", device, precision, gpu_id)
        # the same network with the up blocks written the way each precision runs fastest (the
        # pixel shuffles are for oneDNN's bf16; cuDNN runs transposed convs in any precision)
        decoder = "generator_bf16" if precision == "bf16" and device == "cpu" else "generator"
        self._generator = _Predictor(directory, decoder, device, precision, gpu_id)
        self._features: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._features_lock = threading.Lock()

    def _keypoints(self, frames: np.ndarray) -> Keypoints:
        value, jacobian = self._kp(frames=frames)
        return value, jacobian

    def forget_features(self) -> None:
        """Drop the cached source features (after a check on a test image)."""
        with self._features_lock:
            self._features.clear()

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
            known.update(zip(missing, computed, strict=True))
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
    return hashlib.blake2b(np.ascontiguousarray(image, np.float32).tobytes(), digest_size=16).digest()


def check_accuracy(runner: InferenceRunner, directory: Path) -> float:
    """PSNR of the runner against the stored dynamic-graph output; for fp32 also the max errors.

    A silently wrong model (an optimisation pass that miscompiles an op, an fp16 overflow) must
    not reach users, and this is its only check. Raises ExportError when fp32 differs.
    """
    ref = load_reference(directory)
    value, _ = runner.keypoints(ref["source"])
    frame = reference_frame(runner, ref)
    runner.forget_features()
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
