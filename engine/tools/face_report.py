"""`python -m engine faces PHOTO`: the faces a render would find, in the photo's own pixels.

Detection runs on the photo decoded exactly as the render decodes it (long side capped at
max_side); boxes and landmarks are then mapped to the photo as stored (EXIF orientation applied),
so an operator can check them against the original.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from ..errors import BadImage, EngineError
from ..faces import MIN_FACE_PX, Face, big_enough, detect_all_faces
from ..images import load_photo

_EXIF_ORIENTATION = 0x0112
_TRANSPOSED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


@dataclass(frozen=True)
class FaceRow:
    number: int  # 1 = largest
    face: Face  # in the photo's pixels
    animated: bool
    reason: str | None  # why not animated


@dataclass(frozen=True)
class FaceReport:
    width: int  # the photo's, EXIF orientation applied
    height: int
    analysed: tuple[int, int]  # the image detection ran on (the render's size)
    max_faces: int
    rows: list[FaceRow]

    @property
    def animated(self) -> int:
        return sum(r.animated for r in self.rows)


def _oriented_size(data: bytes) -> tuple[int, int]:
    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
            orientation = img.getexif().get(_EXIF_ORIENTATION)
    except Exception as exc:  # load_photo has already decoded it; this is only the header
        raise BadImage("not a readable image") from exc
    return (h, w) if orientation in _TRANSPOSED else (w, h)


def _in_photo(face: Face, sx: float, sy: float) -> Face:
    return Face(face.x * sx, face.y * sy, face.w * sx, face.h * sy, face.score,
                tuple((x * sx, y * sy) for x, y in face.landmarks))


def face_report(data: bytes, max_side: int, max_faces: int) -> FaceReport:
    """Every face found, largest first, each marked animated or not (and why)."""
    image = load_photo(data, max_side)
    width, height = _oriented_size(data)
    sx, sy = width / image.shape[1], height / image.shape[0]
    rows: list[FaceRow] = []
    animated = 0
    for i, face in enumerate(detect_all_faces(image), start=1):
        if not big_enough(face):
            reason = (f"too small: {max(face.w, face.h):.0f} px < {MIN_FACE_PX} px "
                      f"at the render's {image.shape[1]}x{image.shape[0]}")
        elif max_faces and animated >= max_faces:
            reason = f"beyond max_faces ({max_faces}): only the largest are animated"
        else:
            reason = None
            animated += 1
        rows.append(FaceRow(i, _in_photo(face, sx, sy), reason is None, reason))
    return FaceReport(width, height, (image.shape[1], image.shape[0]), max_faces, rows)


def report_json(report: FaceReport) -> str:
    faces = [{"x": round(r.face.x), "y": round(r.face.y), "w": round(r.face.w),
              "h": round(r.face.h), "score": r.face.score,
              "landmarks": [[round(x), round(y)] for x, y in r.face.landmarks],
              "animated": r.animated, "reason": r.reason} for r in report.rows]
    return json.dumps({"width": report.width, "height": report.height, "faces": faces})


def report_text(name: str, report: FaceReport) -> str:
    aw, ah = report.analysed
    cap = f"max_faces {report.max_faces}" if report.max_faces else "no max_faces"
    lines = [f"{name}: {report.width}x{report.height}, analysed at {aw}x{ah}; "
             f"{len(report.rows)} face(s), {report.animated} animated ({cap})"]
    for r in report.rows:
        f = r.face
        state = "animated" if r.animated else f"not animated: {r.reason}"
        lines.append(f"#{r.number:<3d} x={f.x:6.0f} y={f.y:6.0f} w={f.w:5.0f} h={f.h:5.0f}  "
                     f"score {f.score:.2f}  {state}")
    return "\n".join(lines)


def draw_report(data: bytes, report: FaceReport, out: Path) -> None:
    """The photo (EXIF orientation applied) with numbered boxes: green animated, red not."""
    with Image.open(io.BytesIO(data)) as img:
        rgb = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    canvas = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    thick = max(1, round(max(canvas.shape[:2]) / 600))
    for r in report.rows:
        f = r.face
        color = (0, 200, 0) if r.animated else (0, 0, 230)
        cv2.rectangle(canvas, (round(f.x), round(f.y)), (round(f.x + f.w), round(f.y + f.h)),
                      color, thick)
        for x, y in f.landmarks:
            cv2.circle(canvas, (round(x), round(y)), thick + 1, (0, 255, 255), -1)
        cv2.putText(canvas, str(r.number), (round(f.x), max(0, round(f.y) - 3 * thick)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thick, color, thick, cv2.LINE_AA)
    try:
        ok = cv2.imwrite(str(out), canvas)
    except cv2.error:
        ok = False
    if not ok:
        raise EngineError(f"cannot write {out} (the extension picks the format: .jpg, .png)")
