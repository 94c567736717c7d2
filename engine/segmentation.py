"""Person segmentation behind one small interface: `mask(rgb) -> float32 HxW person probability`.

Two models:
- "selfie" (the default): MediaPipe's selfie segmentation (engine/models/selfie_segmentation.tflite,
  249,505 bytes, Apache-2.0), committed with its licence and checked against its sha256 at load,
  run by OpenCV's TFLite importer (cv2.dnn): input NCHW 1x3x256x256 RGB / 255 (the whole image
  squashed to a square, as MediaPipe feeds it), output 1x1x256x256 person probability. Tuned for one
  person close up; its edges are coarse.
- "humanseg": a PaddleSeg PP-HumanSegV2 inference model (model.pdmodel + model.pdiparams +
  deploy.yaml, Paddle-2 program format), fetched once with `python -m engine weights fetch
  --humanseg` and run by paddle.inference with oneDNN. The input size and normalisation come from
  deploy.yaml; the output is PaddleSeg's export: softmax [N, 2, H, W] (channel 1 = person) or
  argmax labels [N, H, W].

Neither runs on the GPU: at 256 px they take milliseconds on a CPU, and a GPU predictor would hold
memory beside FOMM's.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .errors import EngineError
from .model.paddle_thread import on_paddle_thread

SEGMENTERS = ("selfie", "humanseg")
SELFIE_MODEL = Path(__file__).resolve().parent / "models" / "selfie_segmentation.tflite"
SELFIE_SHA256 = "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"
SELFIE_SIZE = 256
HUMANSEG_FETCH_HINT = "run python -m engine weights fetch --humanseg"
HUMANSEG_FILES = ("model.pdmodel", "model.pdiparams", "deploy.yaml")


class SegmenterUnavailable(EngineError):
    """A segmentation model is missing, damaged or not in the expected format (one line)."""


class PersonSegmenter(Protocol):
    name: str

    def mask(self, rgb: np.ndarray) -> np.ndarray:
        """RGB uint8 HxWx3 -> float32 HxW, the probability that each pixel belongs to a person."""
        ...


def _resize(image: np.ndarray, width: int, height: int, interp_up: int = cv2.INTER_LINEAR) -> np.ndarray:
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    shrink = width < w and height < h
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else interp_up)


def _check_rgb(rgb: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 1:
        raise ValueError(f"expected an RGB uint8 HxWx3 image, got {rgb.dtype} {rgb.shape}")


class SelfieSegmenter:
    """MediaPipe's selfie segmentation through cv2.dnn (thread-safe: one forward at a time)."""

    name = "selfie"

    def __init__(self, model: Path = SELFIE_MODEL, sha256: str | None = SELFIE_SHA256) -> None:
        model = Path(model)
        try:
            data = model.read_bytes()
        except OSError as exc:
            raise SegmenterUnavailable(f"selfie segmentation model not found at {model}") from exc
        digest = hashlib.sha256(data).hexdigest()
        if sha256 is not None and digest != sha256:
            raise SegmenterUnavailable(f"{model} is not MediaPipe's selfie segmentation model "
                                       f"(sha256 {digest[:16]}…, expected {sha256[:16]}…): "
                                       f"restore it from git")
        try:
            self._net = cv2.dnn.readNetFromTFLite(np.frombuffer(data, np.uint8))
        except cv2.error as exc:
            raise SegmenterUnavailable(f"OpenCV {cv2.__version__} cannot read {model.name}") from exc
        self._lock = threading.Lock()

    def mask(self, rgb: np.ndarray) -> np.ndarray:
        _check_rgb(rgb)
        h, w = rgb.shape[:2]
        # squashed, not letterboxed: MediaPipe's graph feeds it this way (keep_aspect_ratio false)
        square = _resize(rgb, SELFIE_SIZE, SELFIE_SIZE)
        blob = cv2.dnn.blobFromImage(square, 1.0 / 255.0)  # NCHW float32, channels kept RGB
        with self._lock:
            self._net.setInput(blob)
            out = self._net.forward()
        if out.shape != (1, 1, SELFIE_SIZE, SELFIE_SIZE):
            raise SegmenterUnavailable(f"selfie model gave an output of shape {out.shape}, "
                                       f"expected (1, 1, {SELFIE_SIZE}, {SELFIE_SIZE})")
        prob = np.clip(out[0, 0], 0.0, 1.0)
        return np.ascontiguousarray(_resize(prob, w, h), dtype=np.float32)


@dataclass(frozen=True)
class DeploySpec:
    """What a PaddleSeg deploy.yaml says about feeding its model."""

    model: Path
    params: Path
    width: int  # Resize's target_size (width, height)
    height: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def read_deploy(folder: Path) -> DeploySpec:
    """Parse folder/deploy.yaml as PaddleSeg's tools/export.py writes it; SegmenterUnavailable when
    the folder is not such an export (or uses transforms other than Resize and Normalize)."""
    import yaml

    folder = Path(folder)
    missing = [n for n in HUMANSEG_FILES if not (folder / n).is_file()]
    if missing:
        raise SegmenterUnavailable(f"PP-HumanSeg model not found in {folder} (no "
                                   f"{', '.join(missing)}): {HUMANSEG_FETCH_HINT}")
    try:
        deploy = yaml.safe_load((folder / "deploy.yaml").read_text(encoding="utf-8"))["Deploy"]
        model, params = folder / deploy["model"], folder / deploy["params"]
        width = height = 0
        mean, std = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)  # PaddleSeg's Normalize defaults
        for t in deploy.get("transforms") or []:
            kind = t.get("type")
            if kind == "Resize":
                width, height = (int(v) for v in t["target_size"])
            elif kind == "Normalize":
                mean = tuple(float(v) for v in t.get("mean", mean))
                std = tuple(float(v) for v in t.get("std", std))
            else:
                raise SegmenterUnavailable(f"{folder / 'deploy.yaml'}: transform {kind!r} is not "
                                           f"supported (only Resize and Normalize)")
    except SegmenterUnavailable:
        raise
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise SegmenterUnavailable(f"{folder / 'deploy.yaml'} is not a PaddleSeg deploy file "
                                   f"({type(exc).__name__}: {exc})") from exc
    if width <= 0 or height <= 0 or len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise SegmenterUnavailable(f"{folder / 'deploy.yaml'} has no usable Resize/Normalize")
    if not (model.is_file() and params.is_file()):
        raise SegmenterUnavailable(f"{folder} lacks {model.name} or {params.name}: "
                                   f"{HUMANSEG_FETCH_HINT}")
    return DeploySpec(model, params, width, height, mean, std)  # type: ignore[arg-type]


class HumanSegSegmenter:
    """A PP-HumanSegV2 export run by paddle.inference (oneDNN, CPU), created and run on the paddle
    thread (engine/model/paddle_thread.py), so any thread may call mask()."""

    name = "humanseg"

    def __init__(self, folder: Path, threads: int = 0) -> None:
        from .model.paddle_compat import import_paddle, set_threads

        self.spec = read_deploy(folder)
        import_paddle(threads)
        from paddle import inference

        _check_program(self.spec.model)
        try:
            config = inference.Config(str(self.spec.model), str(self.spec.params))
            config.disable_glog_info()
            config.disable_gpu()
            config.enable_onednn()
            config.set_cpu_math_library_num_threads(set_threads(threads))
            self._predictor = on_paddle_thread(inference.create_predictor, config)
            self._input = self._predictor.get_input_handle(self._predictor.get_input_names()[0])
            self._output = self._predictor.get_output_handle(self._predictor.get_output_names()[0])
        except Exception as exc:  # paddle raises its own many-line errors
            first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
            raise SegmenterUnavailable(f"paddle.inference cannot load the PP-HumanSeg model in "
                                       f"{Path(folder)}: {type(exc).__name__}: {first[:200]}") from exc
        self._mean = np.array(self.spec.mean, np.float32).reshape(3, 1, 1)
        self._std = np.array(self.spec.std, np.float32).reshape(3, 1, 1)

    def _run(self, x: np.ndarray) -> np.ndarray:
        self._input.reshape(list(x.shape))
        self._input.copy_from_cpu(np.ascontiguousarray(x))
        self._predictor.run()
        return self._output.copy_to_cpu()

    def mask(self, rgb: np.ndarray) -> np.ndarray:
        _check_rgb(rgb)
        h, w = rgb.shape[:2]
        tw, th = self.spec.width, self.spec.height
        if h > w and tw > th:  # a portrait photo: the turned input size, like PP-HumanSeg's
            tw, th = th, tw     # --vertical_screen (the model takes any size)
        x = _resize(rgb, tw, th).astype(np.float32).transpose(2, 0, 1) / 255.0
        x = ((x - self._mean) / self._std)[None]
        out = on_paddle_thread(self._run, x)
        return np.ascontiguousarray(_resize(_person_probability(out), w, h), dtype=np.float32)


def _check_program(path: Path) -> None:
    """paddle.inference crashes the process (SIGSEGV) on a .pdmodel that is not a program, so the
    file is parsed as one first."""
    from google.protobuf.message import DecodeError
    from paddle.base.proto import framework_pb2

    program = framework_pb2.ProgramDesc()
    try:
        program.ParseFromString(path.read_bytes())
    except (OSError, DecodeError) as exc:
        raise SegmenterUnavailable(f"{path} is not a Paddle program: {HUMANSEG_FETCH_HINT}") from exc
    if not program.blocks or not program.blocks[0].ops:
        raise SegmenterUnavailable(f"{path} is an empty Paddle program: {HUMANSEG_FETCH_HINT}")


def _person_probability(out: np.ndarray) -> np.ndarray:
    """PaddleSeg's export output -> float32 HxW probability of the person class (1)."""
    if out.ndim == 4 and out.shape[1] == 2:
        scores = out[0].astype(np.float32)
        if scores.min() < 0.0 or scores.max() > 1.0:  # exported with --output_op none: logits
            scores = np.exp(scores - scores.max(axis=0))
            scores /= scores.sum(axis=0)
        return scores[1]
    if out.ndim == 3 or (out.ndim == 4 and out.shape[1] == 1):  # --output_op argmax: labels
        return (out.reshape(out.shape[-2:]) == 1).astype(np.float32)
    raise SegmenterUnavailable(f"PP-HumanSeg model gave an output of shape {out.shape}, expected "
                               f"[1, 2, H, W] (softmax) or [1, H, W] (argmax)")


def make_segmenter(kind: str = "selfie", humanseg_model: Path | None = None,
                   threads: int = 0) -> PersonSegmenter:
    """The segmenter `[engine].segmenter` names; SegmenterUnavailable when it cannot load."""
    if kind == "selfie":
        return SelfieSegmenter()
    if kind == "humanseg":
        if humanseg_model is None:
            raise SegmenterUnavailable(f"no PP-HumanSeg model folder configured: {HUMANSEG_FETCH_HINT}")
        return HumanSegSegmenter(Path(humanseg_model), threads)
    raise SegmenterUnavailable(f"segmenter must be one of {', '.join(SEGMENTERS)}, not {kind!r}")
