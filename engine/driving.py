"""A template's driving motion: the face-track crop and the keypoints of every frame, cached on disk.

Computed once per (video, checkpoint, runner, crop); renders then never decode the driving video
nor run the keypoint detector on it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cancel import CancelToken
from .errors import BadTemplateVideo, RenderCancelled
from .face_crop import SIZE
from .faces import detect_faces
from .frame_rate import kept_frames
from .hashing import sha256_file
from .model.runner_types import ModelRunner
from .video_io import Crop, VideoInfo, probe, read_frames, read_sample_frames

_CACHE_VERSION = "2"
_TRACK_SAMPLES = 12
_SAMPLE_SIDE = 640


@dataclass(frozen=True)
class DrivingMotion:
    value: np.ndarray  # [N, 10, 2] float32
    jacobian: np.ndarray  # [N, 10, 2, 2] float32
    fps: float
    crop: Crop | None

    @property
    def frames(self) -> int:
        return int(self.value.shape[0])

    @property
    def duration(self) -> float:
        return self.frames / self.fps

    def at_rate(self, rate: float) -> DrivingMotion:
        """The same motion at a lower frame rate: frames dropped evenly (engine/frame_rate.py)."""
        keep = kept_frames(self.frames, self.fps, rate)
        return DrivingMotion(self.value[keep], self.jacobian[keep], rate, self.crop)


def face_track_crop(video: Path, info: VideoInfo, cancel: CancelToken | None = None) -> Crop | None:
    """The square around the face track, or None when the video already is a face crop.

    Faces are found on evenly spaced frames; the square covers every sampled face box with half a
    face of margin (at least twice the face size, like a photo's crop) and stays inside the frame.
    """
    times = [info.duration * (i + 0.5) / _TRACK_SAMPLES for i in range(_TRACK_SAMPLES)]
    frames = read_sample_frames(video, times, max_side=_SAMPLE_SIDE, cancel=cancel, info=info)
    boxes = []
    for f in frames:
        faces = detect_faces(f, max_faces=1)
        if faces:
            boxes.append(faces[0].scaled(info.width / f.shape[1]))
    if not boxes:
        raise BadTemplateVideo("no face found in the video")
    face = float(np.median([max(b.w, b.h) for b in boxes]))
    square = info.width == info.height
    if square and face >= 0.3 * info.width:
        return None  # already a face-centred square (FOMM's vox driving videos are ~0.5)
    x0, y0 = min(b.x for b in boxes), min(b.y for b in boxes)
    x1, y1 = max(b.x + b.w for b in boxes), max(b.y + b.h for b in boxes)
    side = max(2 * face, max(x1 - x0, y1 - y0) + face)
    side = int(min(side, info.width, info.height)) // 2 * 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    x = int(np.clip(cx - side / 2, 0, info.width - side)) // 2 * 2
    y = int(np.clip(cy - side / 2, 0, info.height - side)) // 2 * 2
    return Crop(x=x, y=y, side=side)


def compute_motion(video: Path, runner: ModelRunner, batch_size: int, crop: Crop | None,
                   fps: float, cancel: CancelToken | None = None) -> DrivingMotion:
    """Run the keypoint detector over the video, streaming `batch_size` frames at a time."""
    values, jacobians, batch = [], [], []

    def flush() -> None:
        frames = np.stack(batch).astype(np.float32).transpose(0, 3, 1, 2) / 255.0
        v, j = runner.keypoints(frames)
        values.append(v)
        jacobians.append(j)
        batch.clear()

    for frame in read_frames(video, SIZE, crop, cancel=cancel):
        if cancel is not None and cancel.cancelled:
            raise RenderCancelled("template preparation cancelled")
        batch.append(frame)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    if not values:
        raise BadTemplateVideo("the video has no frames")
    return DrivingMotion(np.concatenate(values).astype(np.float32),
                         np.concatenate(jacobians).astype(np.float32), fps, crop)


class MotionCache:
    """DrivingMotion files under cache_dir/driving/<video sha>-<key>.npz, written atomically.

    The video's own hash leads the name so that deleting a template can find every motion file of
    its video (one per checkpoint and runner) without knowing them."""

    def __init__(self, cache_dir: Path) -> None:
        self.dir = Path(cache_dir) / "driving"

    @staticmethod
    def key(video: Path, checkpoint_sha: str, runner_name: str) -> str:
        video_sha = sha256_file(video)
        rest = hashlib.sha256(":".join([_CACHE_VERSION, video_sha, checkpoint_sha, runner_name]).encode())
        return f"{video_sha[:24]}-{rest.hexdigest()[:24]}"

    def remove_video(self, video: Path) -> int:
        """Delete every cached motion of this video; returns how many files went."""
        try:
            prefix = sha256_file(video)[:24]
        except OSError:
            return 0
        removed = 0
        for path in self.dir.glob(f"{prefix}-*.npz"):
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.npz"

    def load(self, key: str) -> DrivingMotion | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path) as z:
                crop = tuple(int(v) for v in z["crop"])
                return DrivingMotion(z["value"], z["jacobian"], float(z["fps"]),
                                     Crop(*crop) if crop[2] > 0 else None)
        except (OSError, KeyError, ValueError):
            return None  # a damaged cache file is recomputed

    def save(self, key: str, motion: DrivingMotion) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        crop = motion.crop or Crop(0, 0, 0)
        tmp = self.dir / f".{key}.{os.getpid()}.tmp.npz"
        np.savez(tmp, value=motion.value, jacobian=motion.jacobian, fps=motion.fps,
                 crop=np.array([crop.x, crop.y, crop.side]))
        os.replace(tmp, self.path(key))


def motion_for(video: Path, runner: ModelRunner, batch_size: int, cache: MotionCache,
               checkpoint_sha: str, cancel: CancelToken | None = None) -> DrivingMotion:
    """The cached motion, computing (crop + keypoints) and storing it on a miss."""
    key = cache.key(video, checkpoint_sha, runner.name)
    motion = cache.load(key)
    if motion is None:
        info = probe(video, cancel)
        if not info.has_video:
            raise BadTemplateVideo("no video stream")
        crop = face_track_crop(video, info, cancel)
        fps = info.fps if info.fps > 0 else 25.0
        motion = compute_motion(video, runner, batch_size, crop, fps, cancel)
        cache.save(key, motion)
    return motion
