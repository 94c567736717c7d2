"""Grids: several photos -> one canvas of square tiles, one face each, for one multi-face render.

The meme's classic form is four or nine friends singing in step. Each photo's largest face becomes
a square tile cut with a render's margins (the square face_crop.face_region cuts: twice the face's
size, centred on it), turned upright when its eye line tilts past ROLL_MIN_DEGREES, and scaled to
the layout's tile side; where that square reaches past the photo it shows a blur of the photo's
edge colours. The tiles fill the layout row by row (the last row centred); the rest of the canvas
is a flat grey. The canvas and the face boxes in its pixels then go through the ordinary
multi-face animation: one pass over the template, one encode, one song.

Each face's box on the canvas is given as a plain Box centred in its tile, so the render's crop is
exactly that tile and its paste-back stays inside it: neighbouring tiles and empty cells never
change. Tiles are cut (`cut_tile`) before they are laid out (`compose_grid`); a per-tile step
(`tile_step`: the render's clean background) goes between the two.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import BadImage, GridTooSmall, ImageTooLarge, ImageTooSmall, TooManyPhotos
from .face_crop import ROLL_MIN_DEGREES
from .faces import Box, Face, align_face, detect_faces
from .images import load_photo

MIN_TILES = 2
DEFAULT_MAX_TILES = 9
TILE_MARGIN = 2.0  # tile side / face size: the square a single render animates (face_region's)
_FIELD = 8  # a tile's area past the photo: its edge colours averaged on this grid, then smoothed
EMPTY_RGB = (32, 32, 32)  # cells without a tile: flat, so they never change and cost the encoder nothing


@dataclass(frozen=True)
class GridLayout:
    """`cols` x `rows` square cells of `tile` pixels (even), filled row by row."""

    count: int  # tiles laid out
    cols: int
    rows: int
    tile: int

    @property
    def width(self) -> int:
        return self.cols * self.tile

    @property
    def height(self) -> int:
        return self.rows * self.tile

    def origin(self, i: int) -> tuple[int, int]:
        """Top-left (x, y) of tile i (0-based); the last row's tiles are centred in it."""
        if not 0 <= i < self.count:
            raise IndexError(f"tile {i} of {self.count}")
        row, col = divmod(i, self.cols)
        in_row = min(self.cols, self.count - row * self.cols)
        offset = (self.cols - in_row) * self.tile // 4 * 2  # even: yuv420p's chroma pairs
        return offset + col * self.tile, row * self.tile


def grid_layout(n: int, max_side: int = 1280) -> GridLayout:
    """The layout of n tiles: 1 -> 1x1, 2 -> 2x1, 3-4 -> 2x2, 5-6 -> 3x2, 7-9 -> 3x3 (and on:
    ceil(sqrt n) columns). The tile side is the largest even one keeping the long side <= max_side."""
    if n < 1:
        raise ValueError(f"a grid needs at least one tile, not {n}")
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)  # never more than cols
    tile = max(2, max_side // cols // 2 * 2)
    return GridLayout(count=n, cols=cols, rows=rows, tile=tile)


def cut_tile(photo: np.ndarray, face: Box, side: int) -> np.ndarray:
    """The tile around a face: RGB uint8 [side, side, 3], the face centred at half the side.

    A Face tilted past ROLL_MIN_DEGREES is turned upright (pass the face through
    faces.align_face first: YuNet's own landmarks understate a tilt). Where the square reaches past
    the photo (a close-up, a face near an edge) it shows a smooth blur of the photo's edge colours:
    a render's reflected padding would put mirrored half-faces in the tile.
    """
    size = TILE_MARGIN * max(face.w, face.h)
    scale = side / size
    roll = face.roll if isinstance(face, Face) else 0.0
    angle = roll if abs(roll) > ROLL_MIN_DEGREES else 0.0
    image, cx, cy = photo, face.cx, face.cy
    if scale < 1.0:  # warpAffine has no area filter: shrink first so a big face is not aliased
        h, w = photo.shape[:2]
        size_wh = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = cv2.resize(photo, size_wh, interpolation=cv2.INTER_AREA)
        sx, sy = size_wh[0] / w, size_wh[1] / h
        cx, cy, scale = cx * sx, cy * sy, scale / math.sqrt(sx * sy)
    # Pixel centres: the face's centre is at (cx - 0.5, cy - 0.5) in pixel indices.
    matrix = cv2.getRotationMatrix2D((cx - 0.5, cy - 0.5), angle, scale)
    matrix[:, 2] += np.array(((side - 1) / 2 - (cx - 0.5), (side - 1) / 2 - (cy - 0.5)))
    tile = cv2.warpAffine(image, matrix, (side, side), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpAffine(np.full(image.shape[:2], 255, np.uint8), matrix, (side, side),
                            flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if inside.min() == 255:
        return tile
    # The replicated edges, blurred into a smooth colour field, with the photo fading into it.
    field = cv2.resize(cv2.resize(tile, (_FIELD, _FIELD), interpolation=cv2.INTER_AREA),
                       (side, side), interpolation=cv2.INTER_CUBIC)
    fade = max(1, side // 64)
    inside = cv2.erode(inside, np.ones((2 * fade + 1, 2 * fade + 1), np.uint8))
    alpha = cv2.GaussianBlur(inside, (0, 0), fade).astype(np.float32)[..., None] / 255.0
    return (tile * alpha + field * (1.0 - alpha) + 0.5).astype(np.uint8)


def tile_face_box(face: Box, side: int, x: int, y: int) -> Box:
    """Where `cut_tile` put the face, in the pixels of a canvas holding the tile at (x, y):
    centred, its longer side half the tile's (so a render's crop of it is the tile itself)."""
    s = side / (TILE_MARGIN * max(face.w, face.h))
    w, h = face.w * s, face.h * s
    return Box(x + (side - w) / 2, y + (side - h) / 2, w, h)


def compose_grid(tiles: Sequence[np.ndarray], layout: GridLayout) -> np.ndarray:
    """The canvas (RGB uint8 [height, width, 3]): the tiles in layout order, the rest EMPTY_RGB."""
    if len(tiles) != layout.count:
        raise ValueError(f"{len(tiles)} tiles for a layout of {layout.count}")
    canvas = np.empty((layout.height, layout.width, 3), np.uint8)
    canvas[:] = EMPTY_RGB
    for i, tile in enumerate(tiles):
        if tile.shape != (layout.tile, layout.tile, 3):
            raise ValueError(f"tile {i} is {tile.shape}, the layout's are {layout.tile}px RGB")
        x, y = layout.origin(i)
        canvas[y:y + layout.tile, x:x + layout.tile] = tile
    return canvas


@dataclass(frozen=True)
class Grid:
    """A grid ready to animate: the still canvas and where its faces are."""

    canvas: np.ndarray  # RGB uint8, even sides, long side <= max_side
    boxes: tuple[Box, ...]  # each tile's face in the canvas's pixels, in tile order
    layout: GridLayout
    used: tuple[int, ...]  # 1-based positions in `photos` of the tiles, in tile order
    skipped: tuple[int, ...]  # 1-based positions in `photos` with no face (not in the grid)


def photo_label(index: int, photo: bytes | Path | str) -> str:
    """'photo 3' or 'photo 3 (name.jpg)': how errors name a photo (1-based, as users count)."""
    return f"photo {index} ({Path(photo).name})" if isinstance(photo, (str, Path)) else f"photo {index}"


def _largest_face(index: int, photo: bytes | Path, max_side: int) -> tuple[np.ndarray, Face | None]:
    try:
        image = load_photo(photo, max_side)
    except (BadImage, ImageTooLarge, ImageTooSmall) as exc:
        # The same class, so callers map it as for one photo; the message says which photo.
        raise type(exc)(f"{photo_label(index, photo)}: {exc}") from exc
    faces = detect_faces(image, max_faces=1)
    return image, (faces[0] if faces else None)


# (1-based photo position, tile RGB uint8, the face's box in the tile's pixels) -> the tile to use
TileStep = Callable[[int, np.ndarray, Box], np.ndarray]


def build_grid(photos: Sequence[bytes | Path], max_side: int = 1280,
               max_tiles: int = DEFAULT_MAX_TILES, tile_step: TileStep | None = None) -> Grid:
    """Photos -> the grid's canvas and face boxes. Photos without a face are skipped and reported
    while at least MIN_TILES faces remain; otherwise GridTooSmall names them. More photos than
    max_tiles is TooManyPhotos, before any is decoded (the caller decides which to send).
    `tile_step`, when given, replaces each tile before it is laid out (same size and type)."""
    n = len(photos)
    if n > max_tiles:
        raise TooManyPhotos(f"{n} photos: a grid holds at most {max_tiles}")
    if n < MIN_TILES:
        raise GridTooSmall(f"a grid needs at least {MIN_TILES} photos, got {n}")
    found: list[tuple[int, np.ndarray, Face]] = []
    skipped: list[int] = []
    for index, photo in enumerate(photos, start=1):
        image, face = _largest_face(index, photo, max_side)
        if face is None:
            skipped.append(index)
        else:
            found.append((index, image, face))
    if len(found) < MIN_TILES:
        which = ", ".join(photo_label(i, photos[i - 1]) for i in skipped)
        raise GridTooSmall(f"no face found in {which}: a grid needs a face in at least "
                           f"{MIN_TILES} photos")
    layout = grid_layout(len(found), max_side)
    tiles, boxes = [], []
    for i, (index, image, face) in enumerate(found):
        # Re-measured as a render re-measures it, so a tilted face is turned upright in its tile.
        tile = cut_tile(image, align_face(image, face), layout.tile)
        if tile_step is not None:
            tile = tile_step(index, tile, tile_face_box(face, layout.tile, 0, 0))
        tiles.append(tile)
        boxes.append(tile_face_box(face, layout.tile, *layout.origin(i)))
    return Grid(canvas=compose_grid(tiles, layout), boxes=tuple(boxes), layout=layout,
                used=tuple(index for index, _, _ in found), skipped=tuple(skipped))
