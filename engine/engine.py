"""Engine: the model loaded once, templates prepared once, renders on demand (blocking calls)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .animate import animate
from .driving import DrivingMotion, MotionCache, motion_for
from .errors import CheckpointMissing, EngineError, NoFaceFound, TemplateMissing
from .faces import detect_faces
from .images import load_photo
from .networks import WEIGHTS_FETCH_HINT
from .paddle_compat import set_threads
from .runner import ModelRunner
from .options import DEFAULT_OPTIONS, RenderOptions
from .templates import Template
from .video_io import VideoWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderResult:
    path: Path
    width: int
    height: int
    duration: float
    frames: int
    faces: int
    seconds: float


class Engine:
    def __init__(self, checkpoint: Path, cache_dir: Path, device: str = "auto",
                 precision: str = "auto", threads: int = 0, batch_size: int = 4) -> None:
        self.checkpoint = Path(checkpoint)
        self.cache_dir = Path(cache_dir)
        self.device = device
        self.precision = precision
        self.threads = threads
        self.batch_size = max(1, batch_size)
        self._runner: ModelRunner | None = None
        self._checkpoint_sha = ""
        self._motion: dict[str, DrivingMotion] = {}  # template video (path, size, mtime) -> motion
        self._lock = threading.RLock()  # one forward pass at a time; paddle is not re-entrant

    @property
    def loaded(self) -> bool:
        return self._runner is not None

    @property
    def runner(self) -> ModelRunner:
        self.load()
        assert self._runner is not None
        return self._runner

    def load(self) -> None:
        """Load the networks once (CheckpointMissing names `python -m engine weights fetch`)."""
        with self._lock:
            if self._runner is not None:
                return
            set_threads(self.threads)  # before paddle's first import
            from .device import resolve_device
            from .hashing import sha256_file
            from .networks import load_networks
            from .runner import make_runner

            t0 = time.monotonic()
            if not self.checkpoint.is_file():
                raise CheckpointMissing(f"checkpoint not found at {self.checkpoint}: "
                                        f"{WEIGHTS_FETCH_HINT}")
            device = resolve_device(self.device)
            self._checkpoint_sha = sha256_file(self.checkpoint)
            # A loader, not loaded networks: with a cached export the dynamic graph is never
            # built (~0.4 GB less peak memory, ~2 s faster start).
            self._runner = make_runner(lambda: load_networks(self.checkpoint), self.checkpoint,
                                       self.cache_dir, device, self.precision)
            log.info("engine loaded: %s on %s in %.1fs", self._runner.name, device,
                     time.monotonic() - t0)

    def motion(self, template: Template) -> DrivingMotion:
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
                                               self._checkpoint_sha)
            return self._motion[key]

    def prepare_template(self, template: Template) -> None:
        """Compute and cache the driving keypoints (idempotent)."""
        self.motion(template)

    def render(self, photo: bytes | Path, template: Template, out_path: Path,
               options: RenderOptions = DEFAULT_OPTIONS,
               progress: Callable[[float], None] | None = None,
               cancelled: Callable[[], bool] | None = None) -> RenderResult:
        """Photo + template -> MP4 at out_path. Blocking; raises EngineError subclasses."""
        t0 = time.monotonic()
        image = load_photo(photo, options.max_side)
        boxes = detect_faces(image, max_faces=options.max_faces)
        if not boxes:
            raise NoFaceFound("no face found in the photo: try a clear, frontal, well-lit face")
        motion = self.motion(template)
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        height, width = image.shape[:2]
        with self._lock:
            writer = VideoWriter(out_path, width, height, motion.fps, audio=template.sound,
                                 duration=motion.duration)
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
                            seconds=time.monotonic() - t0)
