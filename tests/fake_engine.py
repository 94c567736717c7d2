"""A fake engine behind pipeline.renderer.Renderer for the pipeline and bot tests: everything the real
engine does except the FOMM networks, so a render takes a fraction of a second and is still a real,
valid video.

What stays real: the photo's decoding and size checks (engine.images), face detection and its
NoFaceFound, grids (engine.grid: skipped photos, GridTooSmall), the clean background (the selfie
segmenter), a template's checks (ffmpeg's probe, the face track: BadTemplateVideo), the disk cache
of motion (cache_dir/driving, one file per template video, removed by forget_template), the
frame-rate cap, and the encode: the photo (faces boxed) for each of the template's frames, with the
template's sound, through engine.video_io.VideoWriter (the real ffmpeg, cancel kills it). The
start-up preparation is the real engine.prepare.prepare run on this object.

What the tests control (instead of hoping a render is slower than a few HTTP round trips):
- a `Gate` in front of each render (and, with `prepare_gate`, of each template's preparation): the
  test awaits `gate.wait_entered()` and calls `gate.open()`; across processes a `FileGate(folder)`
  holds until `folder/open` exists and leaves `folder/entered-<n>` for each arrival;
- `fail_renders`: exceptions the next renders raise, in order (e.g. EngineError("ffmpeg died"));
- `load_error`: the model "cannot load" (status FAILED with the message as its detail);
- cancellation: a CancelToken stops a render at the gate, between frames, or kills the encoder.

Process tests (tests/gated_bot.py, tests/gated_worker.py) build it with `FakeEngine.from_settings`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np

from engine import (
    BadTemplateVideo,
    CancelToken,
    EngineError,
    EngineState,
    EngineStatus,
    NoFaceFound,
    PersonSegmenter,
    RenderCancelled,
    RenderOptions,
    RenderResult,
    Template,
    TemplateMissing,
    clean_background,
    make_segmenter,
)
from engine.driving import DrivingMotion, MotionCache, face_track_crop
from engine.faces import Box, detect_faces
from engine.frame_rate import capped_rate, kept_frames
from engine.grid import build_grid
from engine.images import load_photo
from engine.tools.prepare import PrepareReport, prepare
from engine.video_io import VideoWriter, probe, read_frames
from pipeline.renderer import Renderer

RUNNER = "fake-cpu-fp32"
_KEYPOINTS = 10  # FOMM's, so a cached motion file has the real shape


class Gate:
    def __init__(self, opened: bool = False) -> None:
        self._open = threading.Event()
        self.entered = threading.Event()
        self.renders = 0
        if opened:
            self._open.set()

    def open(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._open.clear()
        self.entered.clear()

    def arrive(self) -> None:
        self.renders += 1
        self.entered.set()

    def is_open(self) -> bool:
        return self._open.is_set()

    async def wait_entered(self, timeout: float = 120) -> None:
        if not await asyncio.to_thread(self.entered.wait, timeout):
            raise AssertionError("no render reached the gate")

    def wait(self, cancel: CancelToken | None) -> None:
        """In the render thread: arrive, then hold until open (RenderCancelled on a cancel)."""
        self.arrive()
        while not self.is_open():
            if cancel is not None and cancel.cancelled:
                raise RenderCancelled("cancelled at the test's gate")
            self._open.wait(0.02)  # returns at once when opened in-process; a FileGate looks again


class FileGate(Gate):
    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._n = itertools.count(1)

    def arrive(self) -> None:
        super().arrive()
        (self.folder / f"entered-{next(self._n)}").touch()

    def is_open(self) -> bool:
        return (self.folder / "open").exists()


@dataclass(frozen=True)
class FakeRunner:
    """What engine.prepare reads of a loaded runner."""

    name: str = RUNNER
    precision: str = "fp32"
    device: str = "cpu"
    fallback_reason: str | None = None


class FakeEngine:
    """A Renderer (pipeline/renderer.py) without the networks; see the module docstring."""

    precision = "fp32"

    def __init__(self, cache_dir: Path, *, gate: Gate | None = None, prepare_gate: Gate | None = None,
                 load_error: str | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.gate = gate
        self.prepare_gate = prepare_gate
        self.load_error = load_error
        self.fail_renders: list[BaseException] = []
        self.renders = 0  # renders that got past the gate
        self._runner: FakeRunner | None = None
        self._failed: str | None = None
        self._motion: dict[str, DrivingMotion] = {}
        self._lock = threading.Lock()
        self._segmenter: PersonSegmenter | None = None

    def gated(self, gate: Gate | None, prepare_gate: Gate | None = None) -> FakeEngine:
        """This engine with renders (and template preparations) held at these gates."""
        self.gate, self.prepare_gate = gate, prepare_gate
        return self

    @classmethod
    def from_settings(cls, settings: Any, gate: Gate | None = None) -> FakeEngine:
        return cls(settings.engine.cache_dir, gate=gate)

    # --- the model ---------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._runner is not None

    @property
    def runner(self) -> FakeRunner:
        self.load()
        assert self._runner is not None
        return self._runner

    def load(self) -> None:
        if self._runner is not None:
            return
        if self.load_error is not None:
            self._failed = self.load_error
            raise EngineError(self.load_error)
        self._runner = FakeRunner()

    @property
    def status(self) -> EngineStatus:
        if self._runner is not None:
            return EngineStatus(EngineState.READY, runner=self._runner.name, precision=self._runner.precision,
                                device=self._runner.device)
        if self._failed is not None:
            return EngineStatus(EngineState.FAILED, detail=self._failed)
        return EngineStatus(EngineState.LOADING)

    def prepare(self, templates: Sequence[Template], *, progress: Callable[[str, float], None] | None = None,
                cancel: CancelToken | None = None) -> PrepareReport:
        # The real preparation (its steps, reports and cancel), on this object's load and motion.
        return prepare(cast(Any, self), templates, progress, cancel=cancel)

    def person_segmenter(self) -> PersonSegmenter:
        with self._lock:
            if self._segmenter is None:
                self._segmenter = make_segmenter("selfie")
            return self._segmenter

    # --- templates ---------------------------------------------------------------------------
    def motion(self, template: Template, cancel: CancelToken | None = None) -> DrivingMotion:
        """Like the engine's: memory, then the disk cache, else checked (probe, face track) and a
        zero motion of the video's frame count cached."""
        try:
            st = template.video.stat()
        except OSError as exc:
            raise TemplateMissing(f"template '{template.id}' lost its video {template.video}") from exc
        key = f"{template.video.resolve()}:{st.st_size}:{st.st_mtime_ns}"
        with self._lock:
            if key in self._motion:
                return self._motion[key]
        cache = MotionCache(self.cache_dir)
        cache_key = cache.key(template.video, "fake-checkpoint", RUNNER)
        found = cache.load(cache_key)
        if found is None:
            info = probe(template.video, cancel)
            if not info.has_video:
                raise BadTemplateVideo("no video stream")
            crop = face_track_crop(template.video, info, cancel)
            frames = 0
            for _ in read_frames(template.video, 16, crop, cancel=cancel):
                if cancel is not None and cancel.cancelled:
                    raise RenderCancelled("template preparation cancelled")
                frames += 1
            if not frames:
                raise BadTemplateVideo("the video has no frames")
            found = DrivingMotion(np.zeros((frames, _KEYPOINTS, 2), np.float32),
                                  np.zeros((frames, _KEYPOINTS, 2, 2), np.float32),
                                  info.fps if info.fps > 0 else 25.0, crop)
            cache.save(cache_key, found)
        with self._lock:
            self._motion[key] = found
        return found

    def prepare_template(self, template: Template, cancel: CancelToken | None = None) -> None:
        if self.prepare_gate is not None:
            self.prepare_gate.wait(cancel)
        self.load()
        self.motion(template, cancel)

    def forget_template(self, template: Template) -> int:
        with self._lock:
            self._motion = {k: v for k, v in self._motion.items() if not k.startswith(f"{template.video.resolve()}:")}
        return MotionCache(self.cache_dir).remove_video(template.video)

    # --- renders -----------------------------------------------------------------------------
    def render(self, photo: bytes | Path, template: Template, out_path: Path, *, options: RenderOptions,
               progress: Callable[[float], None] | None = None, cancel: CancelToken | None = None) -> RenderResult:
        self._enter(cancel)
        t0 = time.monotonic()
        image = load_photo(photo, options.max_side)
        boxes: list[Box] = list(detect_faces(image, max_faces=options.max_faces))
        if not boxes:
            raise NoFaceFound("no face found in the photo: try a clear, frontal, well-lit face")
        notes: tuple[str, ...] = ()
        if options.clean_background:
            image, note = clean_background(image, boxes, self.person_segmenter(), options.background)
            notes = (note,) if note else ()
        result = self._write(image, boxes, template, out_path, options, progress, cancel, t0)
        return _replace(result, notes=notes)

    def render_grid(self, photos: Sequence[bytes | Path], template: Template, out_path: Path, *,
                    options: RenderOptions, max_tiles: int, progress: Callable[[float], None] | None = None,
                    cancel: CancelToken | None = None) -> RenderResult:
        self._enter(cancel)
        t0 = time.monotonic()
        notes: list[str] = []
        step = None
        if options.clean_background:
            segmenter = self.person_segmenter()

            def step(index: int, tile: np.ndarray, face: Box) -> np.ndarray:
                cleaned, note = clean_background(tile, [face], segmenter, options.background)
                if note:
                    notes.append(f"photo {index}: {note}")
                return cleaned

        grid = build_grid(photos, options.max_side, max_tiles, tile_step=step)
        result = self._write(grid.canvas, list(grid.boxes), template, out_path, options, progress, cancel, t0)
        return _replace(result, skipped=grid.skipped, notes=tuple(notes))

    def _enter(self, cancel: CancelToken | None) -> None:
        if self.gate is not None:
            self.gate.wait(cancel)
        if cancel is not None and cancel.cancelled:
            raise RenderCancelled("render cancelled")
        self.renders += 1
        if self.fail_renders:
            raise self.fail_renders.pop(0)

    def _write(self, image: np.ndarray, boxes: list[Box], template: Template, out_path: Path,
               options: RenderOptions, progress: Callable[[float], None] | None, cancel: CancelToken | None,
               t0: float) -> RenderResult:
        """The photo with its faces boxed, one frame per driving frame, with the template's sound."""
        motion = self.motion(template, cancel)
        duration, fps, frames = motion.duration, motion.fps, motion.frames
        if options.max_fps > 0 and fps > options.max_fps:
            fps = float(capped_rate(fps, options.max_fps))
            frames = len(kept_frames(frames, motion.fps, fps))
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        height, width = image.shape[:2]
        framed = image.copy()
        for box in boxes:
            cv2.rectangle(framed, (int(box.x), int(box.y)), (int(box.x + box.w), int(box.y + box.h)), (255, 0, 0), 2)
        writer = VideoWriter(out_path, width, height, fps, audio=template.sound, duration=duration, cancel=cancel)
        try:
            for n in range(frames):
                if cancel is not None and cancel.cancelled:
                    raise RenderCancelled("render cancelled")
                writer.write(framed if n % 2 else image)
                if progress is not None:
                    progress((n + 1) / frames)
            writer.close()
        except BaseException:
            writer.abort()
            raise
        if not out_path.is_file():
            raise EngineError("ffmpeg wrote no output")
        return RenderResult(path=out_path, width=width, height=height, duration=frames / fps, frames=frames,
                            faces=len(boxes), seconds=time.monotonic() - t0, boxes=tuple(boxes))


def _replace(result: RenderResult, **changes: Any) -> RenderResult:
    return dataclasses.replace(result, **changes)


def _is_a_renderer(engine: FakeEngine) -> Renderer:
    return engine  # mypy holds FakeEngine to the protocol here
