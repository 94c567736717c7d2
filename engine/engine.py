"""Engine: the model loaded once, templates prepared once, renders on demand (blocking calls)."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from .animate import animate
from .background import clean_background
from .cancel import CancelToken
from .driving import DrivingMotion, MotionCache, motion_for
from .errors import CheckpointMissing, EngineError, NoFaceFound, TemplateMissing
from .faces import Box, detect_faces
from .frame_rate import capped_rate
from .grid import DEFAULT_MAX_TILES, TileStep, build_grid
from .images import load_photo
from .model.networks import WEIGHTS_FETCH_HINT
from .model.paddle_compat import set_threads
from .model.runner_types import ModelRunner
from .options import DEFAULT_OPTIONS, RenderOptions
from .segmentation import PersonSegmenter, SegmenterUnavailable, make_segmenter
from .templates import Template
from .video_io import VideoWriter

log = logging.getLogger(__name__)


class EngineState(StrEnum):
    LOADING = "loading"  # not loaded yet, or loading now
    READY = "ready"  # the compiled (fast) runner
    # a fallback runs: the dynamic graph (~10-20x slower), or Paddle Inference after OpenVINO failed mid-run
    DEGRADED = "degraded"
    FAILED = "failed"  # the model could not be loaded: nothing will render until it is fixed


@dataclass(frozen=True)
class EngineStatus:
    state: EngineState
    runner: str | None = None  # e.g. "inference-cpu-bf16"
    precision: str | None = None
    device: str | None = None
    detail: str | None = None  # why degraded or failed, one line


@dataclass(frozen=True)
class RenderResult:
    path: Path
    width: int
    height: int
    duration: float
    frames: int
    faces: int  # faces animated (a grid's: its tiles)
    seconds: float
    boxes: tuple[Box, ...] = ()  # each animated face's box in the video's pixels
    skipped: tuple[int, ...] = ()  # a grid's photos with no face, 1-based positions in `photos`
    notes: tuple[str, ...] = ()  # what the render did differently from what was asked, one line each


class Engine:
    def __init__(self, checkpoint: Path, cache_dir: Path, device: str = "auto",
                 precision: str = "auto", threads: int = 0, batch_size: int = 0,
                 segmenter: str = "selfie", humanseg_model: Path | None = None,
                 gpu_id: int = 0) -> None:
        self.checkpoint = Path(checkpoint)
        self.cache_dir = Path(cache_dir)
        self.device = device
        self.precision = precision
        self.threads = threads
        self.gpu_id = gpu_id  # which GPU of those visible (CUDA_VISIBLE_DEVICES), on a GPU
        self._batch_size = max(0, batch_size)  # 0: the device's default (DEFAULT_BATCH_SIZE)
        self._runner: ModelRunner | None = None
        self._checkpoint_sha = ""
        self._motion: dict[str, DrivingMotion] = {}  # template video (path, size, mtime) -> motion
        self._lock = threading.RLock()  # one forward pass at a time; paddle is not re-entrant
        self._status = EngineStatus(EngineState.LOADING)
        self.segmenter = segmenter  # "selfie" | "humanseg": the person mask for clean_background
        self.humanseg_model = Path(humanseg_model) if humanseg_model is not None else None
        self._segmenter: PersonSegmenter | None = None
        self._segmenter_lock = threading.Lock()  # not _lock: loading it must not wait for a render

    @property
    def batch_size(self) -> int:
        """Frames per generator call: as configured, else the default of the device the model
        runs on (a CPU's before it is loaded)."""
        from .model.device import DEFAULT_BATCH_SIZE

        if self._batch_size:
            return self._batch_size
        runner = self._runner
        return DEFAULT_BATCH_SIZE["gpu" if runner is not None and runner.device == "gpu" else "cpu"]

    @property
    def loaded(self) -> bool:
        return self._runner is not None

    @property
    def status(self) -> EngineStatus:
        """Read from the live runner once loaded: a predictor that fails mid-run falls back to the
        dynamic graph then, and the status must say so."""
        runner = self._runner
        if runner is None:
            return self._status
        return EngineStatus(EngineState.DEGRADED if runner.fallback_reason else EngineState.READY,
                            runner=runner.name, precision=runner.precision, device=runner.device,
                            detail=runner.fallback_reason)

    @property
    def runner(self) -> ModelRunner:
        self.load()
        assert self._runner is not None
        return self._runner

    def start_loading(self) -> None:
        """Load the model on a background thread, so that a process about to render reads the
        photo and finds its faces meanwhile (OpenVINO compiles with the GIL released). A failure
        is raised again by the next `load()` (a render's), which then tries once more."""
        if self._runner is None:
            # not a daemon: a process that ends early (no face in the photo) waits for it, since
            # the interpreter shutting down under OpenVINO's compile crashes (SIGSEGV)
            threading.Thread(target=self._load_quietly, name="engine-load").start()

    def _load_quietly(self) -> None:
        try:
            self.load()
        except BaseException:  # noqa: BLE001 - the render's own load() raises it, with its status
            log.debug("background model load failed; the render's load raises it", exc_info=True)

    def load(self) -> None:
        """Load the networks once (CheckpointMissing names `python -m engine weights fetch`)."""
        with self._lock:
            if self._runner is not None:
                return
            set_threads(self.threads)  # before paddle's first import
            from .hashing import sha256_file
            from .model.choose import make_runner
            from .model.device import DEFAULT_BATCH_SIZE, resolve_device
            from .model.networks import load_networks

            t0 = time.monotonic()
            try:
                if not self.checkpoint.is_file():
                    raise CheckpointMissing(f"checkpoint not found at {self.checkpoint}: "
                                            f"{WEIGHTS_FETCH_HINT}")
                device = resolve_device(self.device, self.gpu_id)
                self._checkpoint_sha = sha256_file(self.checkpoint, store=self.cache_dir)
                # A loader, not loaded networks: with a cached export the dynamic graph is never
                # built (~0.4 GB less peak memory, ~2 s faster start).
                runner = make_runner(lambda: load_networks(self.checkpoint), self.checkpoint,
                                     self.cache_dir, device, self.precision, self.gpu_id,
                                     self._batch_size or DEFAULT_BATCH_SIZE[device])
            except BaseException as exc:
                self._status = EngineStatus(EngineState.FAILED, detail=_one_line(exc))
                raise
            self._runner = runner
            log.info("engine loaded: %s on %s in %.1fs", runner.name, device, time.monotonic() - t0)

    def motion(self, template: Template, cancel: CancelToken | None = None) -> DrivingMotion:
        """The template's driving motion (from memory, the disk cache, or computed and cached)."""
        try:
            st = template.video.stat()  # a replaced video (same path) must not reuse old motion
        except OSError as exc:
            raise TemplateMissing(f"template '{template.id}' lost its video {template.video}") from exc
        key = f"{template.video.resolve()}:{st.st_size}:{st.st_mtime_ns}"
        with self._lock:
            if key not in self._motion:
                runner = self.runner
                cache = MotionCache(self.cache_dir)
                self._motion[key] = motion_for(template.video, runner, self.batch_size, cache,
                                               self._checkpoint_sha, cancel)
            return self._motion[key]

    def prepare_template(self, template: Template, cancel: CancelToken | None = None) -> None:
        """Compute and cache the driving keypoints (idempotent; RenderCancelled when cancelled)."""
        self.motion(template, cancel)

    def forget_template(self, template: Template) -> int:
        """Drop a template's driving motion from memory and the disk cache (it is being deleted).
        Returns how many cache files were removed."""
        with self._lock:
            self._motion = {k: v for k, v in self._motion.items()
                            if not k.startswith(f"{template.video.resolve()}:")}
        return MotionCache(self.cache_dir).remove_video(template.video)

    def render(self, photo: bytes | Path, template: Template, out_path: Path,
               options: RenderOptions = DEFAULT_OPTIONS,
               progress: Callable[[float], None] | None = None,
               cancel: CancelToken | None = None) -> RenderResult:
        """Photo + template -> MP4 at out_path. Blocking; raises EngineError subclasses
        (RenderCancelled after `cancel.cancel()`, which also kills the encoder at once)."""
        t0 = time.monotonic()
        image = load_photo(photo, options.max_side)
        boxes = detect_faces(image, max_faces=options.max_faces)
        if not boxes:
            raise NoFaceFound("no face found in the photo: try a clear, frontal, well-lit face")
        note = None
        if options.clean_background:  # after detection: the face boxes are protected from the mask
            image, note = clean_background(image, boxes, self.person_segmenter(), options.background)
        result = self._render_image(image, boxes, template, out_path, options, progress, cancel, t0)
        return dataclasses.replace(result, notes=(note,)) if note else result

    def person_segmenter(self) -> PersonSegmenter:
        """The configured segmenter, loaded once. A PP-HumanSeg model that cannot load gives way
        to the bundled selfie model with a logged warning: a clean background still works."""
        with self._segmenter_lock:
            if self._segmenter is None:
                try:
                    self._segmenter = make_segmenter(self.segmenter, self.humanseg_model, self.threads)
                except SegmenterUnavailable as exc:
                    if self.segmenter == "selfie":
                        raise
                    log.warning("%s; using the selfie segmentation model instead", exc)
                    self._segmenter = make_segmenter("selfie")
            return self._segmenter

    def render_grid(self, photos: Sequence[bytes | Path], template: Template, out_path: Path,
                    options: RenderOptions = DEFAULT_OPTIONS,
                    progress: Callable[[float], None] | None = None,
                    cancel: CancelToken | None = None,
                    max_tiles: int = DEFAULT_MAX_TILES) -> RenderResult:
        """Several photos -> one MP4 of a grid: the largest face of each photo in its own square
        tile, all animated by the template in one pass (engine/grid.py). `options.max_faces` does
        not apply; `max_tiles` caps the photos. Photos with no face are skipped and listed in
        `skipped` while two faces remain; else GridTooSmall names them. More than max_tiles
        photos: TooManyPhotos. An unreadable photo: BadImage (etc.) naming it."""
        t0 = time.monotonic()
        notes: list[str] = []
        step = self._clean_tile_step(options, notes) if options.clean_background else None
        grid = build_grid(photos, options.max_side, max_tiles, tile_step=step)
        result = self._render_image(grid.canvas, list(grid.boxes), template, out_path, options,
                                    progress, cancel, t0, skipped=grid.skipped)
        return dataclasses.replace(result, notes=tuple(notes)) if notes else result

    def _clean_tile_step(self, options: RenderOptions, notes: list[str]) -> TileStep:
        """A grid's clean background: each tile cleaned on its own, after it is cut (the same
        background for every tile); a tile with no person found stays as cut, with a note."""
        segmenter = self.person_segmenter()

        def step(index: int, tile: np.ndarray, face: Box) -> np.ndarray:
            cleaned, note = clean_background(tile, [face], segmenter, options.background)
            if note:
                notes.append(f"photo {index}: {note}")
            return cleaned

        return step

    def _render_image(self, image: np.ndarray, boxes: Sequence[Box], template: Template, out_path: Path,
                      options: RenderOptions, progress: Callable[[float], None] | None,
                      cancel: CancelToken | None, t0: float,
                      skipped: tuple[int, ...] = ()) -> RenderResult:
        """Animate `boxes` of an RGB image (already at the output size) into out_path."""
        motion = self.motion(template, cancel)
        duration = motion.duration  # the song's: a frame-rate cap keeps it
        if options.max_fps > 0 and motion.fps > options.max_fps:
            motion = motion.at_rate(float(capped_rate(motion.fps, options.max_fps)))
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        height, width = image.shape[:2]
        cancelled = (lambda: cancel.cancelled) if cancel is not None else None
        with self._lock:
            writer = VideoWriter(out_path, width, height, motion.fps, audio=template.sound,
                                 duration=duration, cancel=cancel)
            try:
                frames = animate(image, boxes, self.runner, motion, writer, options, self.batch_size,
                                 progress, cancelled)
                writer.close()
            except BaseException:
                writer.abort()
                raise
        if not out_path.is_file():
            raise EngineError("ffmpeg wrote no output")
        return RenderResult(path=out_path, width=width, height=height,
                            duration=frames / motion.fps, frames=frames, faces=len(boxes),
                            seconds=time.monotonic() - t0, boxes=tuple(boxes), skipped=skipped)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
