"""Grids (engine/grid.py, Engine.render_grid): the layout, the tiles, and real renders on the random
full-size checkpoint with the ~5 frame template."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine import BadImage, GridTooSmall, NoFaceFound, RenderOptions, TooManyPhotos
from engine.face_crop import face_region
from engine.faces import detect_faces
from engine.grid import EMPTY_RGB, build_grid, compose_grid, cut_tile, grid_layout
from engine.images import load_photo
from engine.video_io import probe, read_frames
from tests.conftest import REPO_ROOT, _astronaut, _read_rgb, _save_rgb, shared

MAX_SIDE = RenderOptions().max_side


# --- photos --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def photos(tmp_path_factory, face_photo, five_face_photo) -> list[Path]:
    """Nine photos, each with one largest face: the shared media where present (the painting and
    t1.jpg are group photos: their largest face is taken), mirrored and tilted variants, and the
    astronaut."""
    folder = tmp_path_factory.mktemp("grid-photos")
    base = [p for p in (face_photo, shared("face.png"), five_face_photo, shared("t1.jpg")) if p]
    base.append(_save_rgb(folder / "astronaut.png", _astronaut()))
    out = list(dict.fromkeys(base))
    i = 0
    while len(out) < 9:
        rgb = _read_rgb(out[i % len(base)])
        if i % 2 == 0:
            rgb = cv2.flip(rgb, 1)
        else:  # a tilted face: its tile is turned upright
            h, w = rgb.shape[:2]
            m = cv2.getRotationMatrix2D((w / 2, h / 2), 15.0, 1.0)
            rgb = cv2.warpAffine(rgb, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        out.append(_save_rgb(folder / f"variant{i}.png", rgb))
        i += 1
    return out


# --- layout and tiles (pure, fast) ---------------------------------------------------------------

@pytest.mark.parametrize("n, cols, rows", [(2, 2, 1), (3, 2, 2), (4, 2, 2), (5, 3, 2), (6, 3, 2),
                                           (7, 3, 3), (8, 3, 3), (9, 3, 3)])
def test_layout(n, cols, rows):
    layout = grid_layout(n, 1280)
    assert (layout.cols, layout.rows) == (cols, rows)
    assert layout.tile == {2: 640, 3: 426}[cols]
    assert layout.width <= 1280 and layout.height <= 1280
    assert layout.width % 2 == 0 and layout.height % 2 == 0
    cells = [layout.origin(i) for i in range(n)]
    # inside the canvas, on whole even pixels, never overlapping
    occupied = np.zeros((layout.height, layout.width), np.int32)
    for x, y in cells:
        assert x % 2 == 0 and y % 2 == 0
        assert 0 <= x and x + layout.tile <= layout.width and y + layout.tile <= layout.height
        occupied[y:y + layout.tile, x:x + layout.tile] += 1
    assert occupied.max() == 1
    assert occupied.sum() == n * layout.tile ** 2
    # full rows first; the last row is centred
    last = [x for x, y in cells if y == (rows - 1) * layout.tile]
    assert len(last) == n - (rows - 1) * cols
    left, right = last[0], layout.width - (last[-1] + layout.tile)
    assert abs(left - right) <= 2  # even pixels, so 426 px tiles split 212 / 214
    with pytest.raises(IndexError):
        layout.origin(n)


def test_layout_small_max_side_and_one_tile():
    assert grid_layout(9, 640).tile == 212
    one = grid_layout(1, 1280)
    assert (one.cols, one.rows, one.tile) == (1, 1, 1280)
    with pytest.raises(ValueError):
        grid_layout(0)


def test_compose_places_tiles_and_fills_the_rest():
    layout = grid_layout(5, 600)
    tiles = [np.full((layout.tile, layout.tile, 3), 40 * (i + 1), np.uint8) for i in range(5)]
    canvas = compose_grid(tiles, layout)
    assert canvas.shape == (layout.height, layout.width, 3)
    covered = np.zeros(canvas.shape[:2], bool)
    for i in range(5):
        x, y = layout.origin(i)
        assert (canvas[y:y + layout.tile, x:x + layout.tile] == 40 * (i + 1)).all()
        covered[y:y + layout.tile, x:x + layout.tile] = True
    assert (~covered).sum() == layout.tile ** 2  # one empty cell's worth, split in two halves
    assert (canvas[~covered] == EMPTY_RGB).all()
    with pytest.raises(ValueError):
        compose_grid(tiles[:4], layout)


def _one_face(rgb: np.ndarray):
    faces = detect_faces(rgb, max_faces=1)
    assert faces, "no face found in the tile"
    return faces[0]


def test_tile_centres_the_face_at_half_its_side(face_photo):
    photo = load_photo(face_photo, MAX_SIDE)
    face = _one_face(photo)
    tile = cut_tile(photo, face, 426)
    assert tile.shape == (426, 426, 3) and tile.dtype == np.uint8
    found = _one_face(tile)
    assert abs(found.cx - 213) < 20 and abs(found.cy - 213) < 20
    assert max(found.w, found.h) == pytest.approx(213, rel=0.2)


def test_a_close_up_tile_is_not_padded_with_mirrored_faces(tmp_path):
    """A face filling its photo: the tile reaches past every edge, and shows one face only."""
    # face.png, else the astronaut cut close around her face (the face fills most of the photo)
    closeup = cv2.resize(_astronaut()[45:205, 145:305], (320, 320), interpolation=cv2.INTER_AREA)
    path = shared("face.png") or _save_rgb(tmp_path / "head.png", closeup)
    photo = load_photo(path, MAX_SIDE)
    face = _one_face(photo)
    assert 2 * max(face.w, face.h) > min(photo.shape[:2])  # the square does reach past the photo
    side = 426
    tile = cut_tile(photo, face, side).astype(np.float32)
    # The tile's pixels past the photo (a few pixels in from its edge, where it fades out) are a
    # smooth field: reflected padding there shows mirrored features (~15 levels of detail here).
    s = side / (2 * max(face.w, face.h))
    x0, y0 = side / 2 - face.cx * s, side / 2 - face.cy * s
    past = np.ones((side, side), np.uint8)
    past[max(0, int(y0)):int(y0 + photo.shape[0] * s), max(0, int(x0)):int(x0 + photo.shape[1] * s)] = 0
    past = cv2.erode(past, np.ones((15, 15), np.uint8)).astype(bool)
    assert past.mean() > 0.2
    detail = np.abs(tile - cv2.GaussianBlur(tile, (0, 0), 6)).mean(axis=2)
    assert detail[past].mean() < 2.0
    assert len(detect_faces(tile.astype(np.uint8))) == 1


def test_a_tilted_face_gets_an_upright_tile(face_photo):
    from engine.faces import align_face

    photo = load_photo(face_photo, MAX_SIDE)
    h, w = photo.shape[:2]
    turned = cv2.warpAffine(photo, cv2.getRotationMatrix2D((w / 2, h / 2), 25.0, 1.0), (w, h),
                            borderMode=cv2.BORDER_REFLECT)
    face = align_face(turned, _one_face(turned))
    assert abs(face.roll) > 15
    tile = cut_tile(turned, face, 320)
    upright = align_face(tile, _one_face(tile))
    assert abs(upright.roll) < 6


# --- which photos make the grid ------------------------------------------------------------------

def test_too_many_photos_is_refused_before_decoding():
    with pytest.raises(TooManyPhotos, match="10 photos: a grid holds at most 9"):
        build_grid([b"not even an image"] * 10, MAX_SIDE, max_tiles=9)


def test_fewer_than_two_faces_names_the_photos(face_photo, noface_photo):
    with pytest.raises(GridTooSmall, match=r"^no face found in photo 2 \(coffee\.png\): a grid "
                                           r"needs a face in at least 2 photos$"):
        build_grid([face_photo, noface_photo], MAX_SIDE)
    # bytes have no name: the position alone; a GridTooSmall is a NoFaceFound
    with pytest.raises(NoFaceFound, match=r"photo 1, photo 2 \(coffee\.png\):"):
        build_grid([noface_photo.read_bytes(), noface_photo, face_photo], MAX_SIDE)
    with pytest.raises(GridTooSmall, match="at least 2 photos, got 1"):
        build_grid([face_photo], MAX_SIDE)


def test_an_unreadable_photo_is_named(face_photo, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(BadImage, match=r"^photo 2 \(broken\.jpg\): not a readable image"):
        build_grid([face_photo, bad, face_photo], MAX_SIDE)


def test_a_photo_without_a_face_is_skipped_and_reported(photos, noface_photo):
    grid = build_grid([photos[0], noface_photo, photos[1].read_bytes()], MAX_SIDE)
    assert grid.skipped == (2,) and grid.used == (1, 3)
    assert (grid.layout.cols, grid.layout.rows) == (2, 1)
    assert grid.canvas.shape == (640, 1280, 3)


def test_a_tile_step_replaces_each_tile_before_layout(photos, noface_photo):
    calls = []

    def step(index, tile, face):
        calls.append((index, tile.shape, face))
        out = tile.copy()
        out[:10, :10] = (255, 0, 255)  # a mark in the tile's corner
        return out

    grid = build_grid([photos[0], noface_photo, photos[1]], MAX_SIDE, tile_step=step)
    side = grid.layout.tile
    assert [(i, shape) for i, shape, _ in calls] == [(1, (side, side, 3)), (3, (side, side, 3))]
    for (_, _, face), box, i in zip(calls, grid.boxes, range(2), strict=True):
        x, y = grid.layout.origin(i)
        assert (face.x + x, face.y + y, face.w, face.h) == pytest.approx((box.x, box.y, box.w, box.h))
        assert (grid.canvas[y:y + 10, x:x + 10] == (255, 0, 255)).all()


def test_render_grid_cleans_each_tile_when_asked(photos, tmp_path, monkeypatch):
    """The wiring only: the canvas handed to the animation, with the model never loaded."""
    from engine import Engine, parse_background

    engine = Engine(tmp_path / "unused.pdparams", tmp_path / "cache")
    seen = {}

    def fake_render(image, boxes, template, out_path, options, progress, cancel, t0, skipped=()):
        from engine import RenderResult

        seen["canvas"], seen["boxes"] = image, boxes
        return RenderResult(out_path, image.shape[1], image.shape[0], 0.0, 0, len(boxes), 0.0,
                            tuple(boxes), skipped)

    monkeypatch.setattr(engine, "_render_image", fake_render)
    chosen = photos[:2]
    options = RenderOptions(clean_background=True, background="#00ff00")
    result = engine.render_grid(chosen, None, tmp_path / "x.mp4", options)
    plain = build_grid(chosen, MAX_SIDE)
    assert result.boxes == plain.boxes
    colour = np.array(parse_background("#00ff00"))
    side = plain.layout.tile
    for i in range(2):
        x, y = plain.layout.origin(i)
        corner = seen["canvas"][y:y + side // 10, x:x + side // 10].astype(int)
        assert np.abs(corner - colour).max() <= 2, f"tile {i + 1}'s background was not cleaned"
    assert result.notes == ()


# --- real renders --------------------------------------------------------------------------------

def _region_masks(boxes, h: int, w: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Per face: where its blending mask is ~1; and everything a paste can touch."""
    cores, touched = [], np.zeros((h, w), bool)
    for box in boxes:
        r = face_region(box)  # a grid's boxes are plain Boxes: the render cuts exactly this
        x0, y0, x1, y1 = r.clip(h, w)
        alpha = r.alpha[y0 - r.y0:y1 - r.y0, x0 - r.x0:x1 - r.x0, 0]
        core = np.zeros((h, w), bool)
        core[y0:y1, x0:x1] = alpha > 0.95
        cores.append(core)
        touched[y0:y1, x0:x1] |= alpha > 0
    return cores, touched


def _check_grid_video(result, grid, template) -> None:
    layout = grid.layout
    info = probe(result.path)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert (info.width, info.height) == (result.width, result.height) == (layout.width, layout.height)
    assert result.faces == len(result.boxes) == layout.count
    assert result.boxes == grid.boxes and result.skipped == grid.skipped
    frames = list(read_frames(result.path))
    assert len(frames) == result.frames == len(list(read_frames(template.video, 64)))

    h, w = grid.canvas.shape[:2]
    cores, touched = _region_masks(result.boxes, h, w)
    tiles = np.zeros((h, w), bool)
    for i, core in enumerate(cores):
        x, y = layout.origin(i)
        tiles[y:y + layout.tile, x:x + layout.tile] = True
        # each face's paste stays inside its own tile
        inside = np.zeros((h, w), bool)
        inside[y:y + layout.tile, x:x + layout.tile] = True
        assert not (core & ~inside).any()
    still = ~cv2.dilate(touched.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    empty = ~cv2.dilate(tiles.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert (still & tiles).any()  # every tile keeps some still background (its corners)

    canvas = grid.canvas.astype(np.int16)
    first = frames[0].astype(np.int16)
    moved = np.zeros(len(cores))
    for frame in frames:
        f = frame.astype(np.int16)
        diff = np.abs(f - canvas).mean(axis=2)
        assert diff[still & tiles].mean() < 3.0, "a tile's background changed"
        if empty.any():
            # flat grey, up to the encoder's rounding next to a tile's edge (yuv420p halves chroma)
            assert np.abs(f[empty] - np.array(EMPTY_RGB)).max() <= 6, "an empty cell changed"
        for i, core in enumerate(cores):
            assert diff[core].mean() > 8.0, f"tile {i + 1}'s face was not animated"
            moved[i] = max(moved[i], np.abs(f - first).mean(axis=2)[core].mean())
    # the faces move with the template: later frames differ from the first in every tile
    assert (moved > 0.5).all(), moved


def test_render_two_tiles_skipping_a_photo_without_a_face(small_engine, short_template, photos,
                                                         noface_photo, tmp_path):
    seen: list[float] = []
    chosen = [photos[0], noface_photo, photos[2].read_bytes()]
    result = small_engine.render_grid(chosen, short_template, tmp_path / "two.mp4",
                                         progress=seen.append)
    assert (result.width, result.height) == (1280, 640)
    assert result.skipped == (2,)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    _check_grid_video(result, build_grid(chosen, MAX_SIDE), short_template)


def test_render_three_tiles_with_an_empty_cell(small_engine, short_template, photos, tmp_path):
    chosen = photos[1:4]
    result = small_engine.render_grid(chosen, short_template, tmp_path / "three.mp4")
    assert (result.width, result.height) == (1280, 1280)
    _check_grid_video(result, build_grid(chosen, MAX_SIDE), short_template)


def test_render_nine_tiles_ignores_max_faces(small_engine, short_template, photos, tmp_path):
    result = small_engine.render_grid(photos, short_template, tmp_path / "nine.mp4",
                                         RenderOptions(max_faces=1))
    assert (result.width, result.height) == (1278, 1278)
    assert result.faces == 9 and result.skipped == ()
    _check_grid_video(result, build_grid(photos, MAX_SIDE), short_template)


def test_a_grid_of_one_face_renders_nothing(small_engine, short_template, face_photo,
                                            noface_photo, tmp_path):
    out = tmp_path / "none.mp4"
    with pytest.raises(GridTooSmall, match="coffee.png"):
        small_engine.render_grid([noface_photo, face_photo], short_template, out)
    assert not out.exists()


def test_render_reports_the_animated_boxes(small_engine, short_template, five_face_photo,
                                           tmp_path):
    result = small_engine.render(five_face_photo, short_template, tmp_path / "boxes.mp4",
                                    RenderOptions(max_faces=2))
    expected = detect_faces(load_photo(five_face_photo, MAX_SIDE), max_faces=2)
    assert result.boxes == tuple(expected) and result.skipped == ()
    for box in result.boxes:
        assert 0 <= box.x and box.x + box.w <= result.width
        assert 0 <= box.y and box.y + box.h <= result.height


# --- CLI -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_config(tmp_path_factory, small_checkpoint, small_engine, templates_root, short_template) -> Path:
    small_engine.motion(short_template)  # cached first, whatever ran before: see test_cli.py's config
    path = tmp_path_factory.mktemp("grid-cli") / "config.toml"
    path.write_text(  # the small engine's cache: its export is there already
        f'[engine]\ncheckpoint = "{small_checkpoint}"\ncache_dir = "{small_engine.cache_dir}"\n'
        f'batch_size = 4\n\n[templates]\ndir = "{templates_root}"\n', encoding="utf-8")
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)


def test_cli_renders_a_grid_and_reports_the_skipped_photo(cli_config, photos, noface_photo,
                                                          tmp_path):
    out = tmp_path / "grid.mp4"
    res = _cli("render", str(photos[0]), str(noface_photo), str(photos[1]), "--template", "short",
               "--out", str(out), "--config", str(cli_config))
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert f"skipped photo 2 ({noface_photo.name}): no face" in res.stdout
    assert "2 face(s)" in res.stdout
    info = probe(out)
    assert (info.width, info.height) == (1280, 640) and info.audio_codec == "aac"


@pytest.mark.parametrize("case", ["one-face", "too-many"])
def test_cli_grid_errors_are_one_line(cli_config, photos, noface_photo, tmp_path, case):
    names = [str(noface_photo), str(photos[0])] if case == "one-face" else [str(photos[0])] * 4
    res = _cli("render", *names, "--template", "short", "--out", str(tmp_path / "x.mp4"),
               "--config", str(cli_config), "--max-tiles", "3")
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    expected = ("no face found in photo 1 (coffee.png)" if case == "one-face"
                else "4 photos: a grid holds at most 3")
    assert expected in errors[0]
    assert not (tmp_path / "x.mp4").exists()
