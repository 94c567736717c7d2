"""A render -> a round video note: a square H.264 MP4 of at most a minute, side below 640 (we use
384-512), cut around the faces (Telegram's rules: core.telegram.org/bots/api#sendvideonote)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..cancel import CancelToken
from ..ffmpeg_process import run_ffmpeg
from ..video_io import VideoInfo
from .core import NoteCrop, even, time_limit

if TYPE_CHECKING:  # only the attributes x, y, w, h are used; faces.py would pull in cv2
    from ..faces import Box

NOTE_MIN_SIDE = 384
NOTE_MAX_SIDE = 512  # Telegram refuses 640 and up ("wrong video note length")
NOTE_MAX_S = 60.0
NOTE_CUT_S = NOTE_MAX_S - 0.1  # AAC frames end on 1024-sample steps: never let them pass 60 s
NOTE_FACE_MARGIN = 0.35  # room around the faces (hair, chin, the head's sway), x the largest face


_Rect = tuple[float, float, float, float]  # x0, y0, x1, y1


def note_crop(faces: Sequence[Box] | None, width: int, height: int) -> NoteCrop:
    """The square a round video note is cut from, for a width x height render.

    Never larger than the frame's short side and never outside the frame (no black bars). It holds
    as many faces as fit: a face is held when its box lies within the round mask (the square's
    inscribed circle); of the placements holding the most faces, the one holding the largest wins
    (_Placements). Around the faces held: NOTE_FACE_MARGIN of the largest face to spare, at least
    384 px where the frame allows (so the note is not upscaled), centred on those faces and pushed
    back inside the frame, grown until the circle holds them whole (or, where the frame's edge is
    in the way, the searched placement nearest that). When no circle can hold any face (one cut by
    the frame's edge), the square is centred on the largest. Without faces: the largest centred
    square.
    """
    if width < 2 or height < 2:
        raise ValueError(f"frame {width}x{height} too small")
    short = min(width, height)
    boxes: list[_Rect] = []
    for f in faces or ():  # clipped to the frame: boxes from a slightly different decode stay usable
        x0, y0 = max(0.0, f.x), max(0.0, f.y)
        x1, y1 = min(float(width), f.x + f.w), min(float(height), f.y + f.h)
        if x1 > x0 and y1 > y0:
            boxes.append((x0, y0, x1, y1))
    if not boxes:
        side = even(short)
        return NoteCrop(even((width - side) / 2), even((height - side) / 2), side, _note_side(side))
    search = _Placements(boxes, width, height)
    chosen = search.most_faces()
    held = [boxes[i] for i in chosen] or [max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))]
    ux0, uy0 = min(b[0] for b in held), min(b[1] for b in held)
    ux1, uy1 = max(b[2] for b in held), max(b[3] for b in held)
    cx, cy = (ux0 + ux1) / 2, (uy0 + uy1) / 2
    margin = NOTE_FACE_MARGIN * max(max(b[2] - b[0], b[3] - b[1]) for b in held)

    def place(centre: float, side: int, size: int) -> int:
        return even(min(max(centre - side / 2, 0), size - side))

    roomy = math.hypot(ux1 - ux0 + 2 * margin, uy1 - uy0 + 2 * margin)
    wanted = max(2, even(min(max(roomy, min(short, NOTE_MIN_SIDE)), short)))
    side = wanted
    while True:
        x, y = place(cx, side, width), place(cy, side, height)
        if not chosen or _holds(held, x, y, side) or side >= even(short):
            break
        side = min(even(short), side + max(2, even(short / 32)))
    if chosen and not _holds(held, x, y, side):  # the frame's edge in the way: the search's placement
        x, y, side = search.place(chosen, wanted, cx, cy)
    return NoteCrop(x, y, side, _note_side(side), sum(_holds([b], x, y, side) for b in boxes))


_NOTE_GRID = 4  # px: the sides and the tops the note's placement search tries


class _Placements:
    """Every square inside the frame whose side and top are multiples of _NOTE_GRID (and the short
    side itself), and, for each face, the exact range of the square's centre x (a continuous
    value) at which its circle holds the face's box: the four corners within the radius, i.e. the
    farther row of corners sqrt(r² - dy²) or less from the centre in x. A face cannot fit in a
    circle smaller than its diagonal, so sides start there."""

    def __init__(self, boxes: Sequence[_Rect], width: int, height: int) -> None:
        b = np.array(boxes, np.float64)
        self.area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        top_side = even(min(width, height))
        smallest = float(np.hypot(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]).min())
        first = min(top_side, max(_NOTE_GRID, int(smallest // _NOTE_GRID) * _NOTE_GRID))
        sides = sorted({*range(first, top_side + 1, _NOTE_GRID), top_side})
        rows = [(s, t) for s in sides for t in range(0, height - s + 1, _NOTE_GRID)]
        self.side = np.array([s for s, _ in rows], np.float64)
        self.top = np.array([t for _, t in rows], np.int64)
        r = self.side[:, None] / 2
        centre_y = self.top[:, None] + r
        dy = np.maximum(np.abs(b[None, :, 1] - centre_y), np.abs(b[None, :, 3] - centre_y))
        half = np.sqrt(np.clip(r * r - dy * dy, 0.0, None))
        self.lo = np.maximum(b[None, :, 2] - half, r)
        self.hi = np.minimum(b[None, :, 0] + half, width - r)
        self.ok = (dy <= r) & (self.lo <= self.hi)  # (rows, faces)
        self.width = width

    def most_faces(self) -> list[int]:
        """The faces of the placement holding the most, then the largest faces ([] if none fits):
        in a row, some face's lowest centre x is a best one, so those are the candidates."""
        if not self.ok.any():
            return []
        x = self.lo[:, :, None]  # candidate centre x: each face's lowest (rows, candidates, faces)
        holds = self.ok[:, None, :] & (self.lo[:, None, :] <= x) & (x <= self.hi[:, None, :])
        holds &= self.ok[:, :, None]
        score = holds.sum(axis=2) * (self.area.sum() + 1.0) + (holds * self.area).sum(axis=2)
        row, cand = np.unravel_index(int(np.argmax(score)), score.shape)
        return [int(i) for i in np.flatnonzero(holds[row, cand])]

    def place(self, chosen: Sequence[int], wanted: int, cx: float, cy: float) -> tuple[int, int, int]:
        """(x, y, side) holding every chosen face: the side nearest `wanted` (larger first), then
        the top nearest the faces' middle, then the centre x nearest it."""
        idx = list(chosen)
        lo, hi = self.lo[:, idx].max(axis=1), self.hi[:, idx].min(axis=1)
        ok = self.ok[:, idx].all(axis=1) & (lo <= hi)
        rows = np.flatnonzero(ok)
        key = [(s < wanted, abs(s - wanted), abs(t + s / 2 - cy)) for s, t in zip(self.side[rows], self.top[rows])]
        k = int(rows[min(range(len(rows)), key=key.__getitem__)])
        side = int(self.side[k])
        x = even(min(max(min(max(cx, lo[k]), hi[k]) - side / 2, 0), self.width - side))
        return x, int(self.top[k]), side


def _holds(boxes: Sequence[_Rect], x: float, y: float, side: float) -> bool:
    """Whether the circle inscribed in the square (x, y, side) holds every box whole (1 px spare)."""
    r = side / 2
    return all(math.hypot(px - x - r, py - y - r) <= r + 1
               for b in boxes for px in (b[0], b[2]) for py in (b[1], b[3]))


def _note_side(side: int) -> int:
    return even(max(NOTE_MIN_SIDE, min(NOTE_MAX_SIDE, side)))


def _note_filter(crop: NoteCrop) -> str:
    flags = "area" if crop.out_side < crop.side else "bicubic"
    return (f"crop={crop.side}:{crop.side}:{crop.x}:{crop.y},"
            f"scale={crop.out_side}:{crop.out_side}:flags={flags}:out_range=tv,setsar=1")


def note(render: Path, info: VideoInfo, part: Path, faces: Sequence[Box] | None,
          cancel: CancelToken | None) -> dict:
    crop = note_crop(faces, info.width, info.height)
    # Renders carry AAC already: copied, not re-encoded; anything else becomes AAC.
    codec = ["-c:a", "copy"] if info.audio_codec == "aac" else ["-c:a", "aac", "-b:a", "128k"]
    audio = ["-map", "0:a:0?", *codec]
    args = ["-v", "error", "-nostdin", "-y", "-i", str(render), "-map", "0:v:0", *audio, "-sn", "-dn",
            "-t", f"{NOTE_CUT_S:.3f}",
            "-vf", _note_filter(crop),
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", "-f", "mp4", str(part)]
    run_ffmpeg(args, f"note {render.name}", time_limit(min(info.duration, NOTE_MAX_S)), cancel)
    return {"encodes": 1, "crop": crop}
