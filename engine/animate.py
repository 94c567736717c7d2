"""The animation loop: photo faces x driving motion -> frames -> one ffmpeg with the template's sound.

Frames flow batch by batch: the generator fills a small bounded queue that a writer thread drains
(paste-back into the photo + encoding), so memory does not grow with the template's length and
compositing/encoding overlap with inference.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .driving import DrivingMotion
from .errors import RenderCancelled
from .face_crop import FaceRegion, aligned_region, crop_face, paste_face
from .faces import Box
from .model.runner_types import Keypoints, ModelRunner
from .motion import best_frame, normalize_kp
from .options import RenderOptions
from .video_io import VideoWriter


@dataclass
class _Face:
    region: FaceRegion
    source: np.ndarray  # [3, 256, 256]
    kp_source: Keypoints  # one frame: [10, 2], [10, 2, 2]
    kp_driving: Keypoints  # all frames, normalised for this face


def _prepare_faces(photo: np.ndarray, boxes: list[Box], runner: ModelRunner,
                   motion: DrivingMotion, options: RenderOptions) -> list[_Face]:
    regions = [aligned_region(photo, b) for b in boxes]
    sources = np.stack([crop_face(photo, r) for r in regions])
    values, jacobians = runner.keypoints(sources)
    faces = []
    for i, region in enumerate(regions):
        kp_src = (values[i], jacobians[i])
        start = best_frame(values[i], motion.value) if options.best_frame else 0
        # ppgan's best-frame mode animates forwards and backwards from that frame, which is the
        # same as taking it as the reference ("initial") pose for the whole clip.
        kp_initial = (motion.value[start], motion.jacobian[start])
        kp_drv = normalize_kp(kp_src, (motion.value, motion.jacobian), kp_initial,
                              relative=options.relative, adapt_scale=options.adapt_scale)
        faces.append(_Face(region, sources[i], kp_src, kp_drv))
    return faces


class _CompositingWriter:
    """Thread that pastes each batch's predictions into copies of the photo and encodes them."""

    def __init__(self, photo: np.ndarray, faces: list[_Face], writer: VideoWriter) -> None:
        self._photo, self._faces, self._writer = photo, faces, writer
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="compose-encode", daemon=True)
        self._thread.start()

    def put(self, predictions: list[np.ndarray]) -> None:
        """predictions[face] is [B, 3, 256, 256]; blocks while two batches are pending."""
        self._raise()
        self._queue.put(predictions)

    def _run(self) -> None:
        try:
            while (item := self._queue.get()) is not None:
                for b in range(item[0].shape[0]):
                    frame = self._photo.copy()
                    for face, preds in zip(self._faces, item, strict=True):
                        paste_face(frame, face.region, preds[b])
                    self._writer.write(frame)
        except BaseException as exc:  # reported to the render thread
            self._error = exc
            while self._queue.get() is not None:  # drain so the producer never blocks forever
                pass

    def finish(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error


def animate(photo: np.ndarray, boxes: list[Box], runner: ModelRunner, motion: DrivingMotion,
            writer: VideoWriter, options: RenderOptions, batch_size: int,
            progress: Callable[[float], None] | None = None,
            cancelled: Callable[[], bool] | None = None) -> int:
    """Write every frame to `writer` (not closed here); returns the number of frames."""
    faces = _prepare_faces(photo, boxes, runner, motion, options)
    total = motion.frames
    sink = _CompositingWriter(photo, faces, writer)
    try:
        for start in range(0, total, batch_size):
            if cancelled is not None and cancelled():
                raise RenderCancelled("render cancelled")
            stop = min(total, start + batch_size)
            n = stop - start
            batch = []
            # One call per face: all faces of a batch in one call (up to 36 crops) was 5-15% slower
            # on a 2-vCPU EPYC (bf16 and fp32) and peaked at 2.2-3.7 GiB instead of 1.5
            # (benchmarks/bench_grid.py --batching; README, "Grids").
            for face in faces:
                src = np.broadcast_to(face.source, (n, *face.source.shape))
                kp_src = (np.broadcast_to(face.kp_source[0], (n, *face.kp_source[0].shape)),
                          np.broadcast_to(face.kp_source[1], (n, *face.kp_source[1].shape)))
                kp_drv = (face.kp_driving[0][start:stop], face.kp_driving[1][start:stop])
                batch.append(runner.generate(src, kp_src, kp_drv))
            sink.put(batch)
            if progress is not None:
                progress(stop / total)
    finally:
        sink.finish()
    return total
