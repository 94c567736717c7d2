"""Shared fixtures: a random full-size vox-256 checkpoint and a loaded Engine on it (for the few tests
whose point is the full size), a small random checkpoint and a loaded Engine on it (the real engine's
code paths: README "Which tests use the real engine"), a
placeholder checkpoint file (for processes that render with the fake engine), a very short
template, and face / no-face photos (the shared media when present, generated fallbacks otherwise)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

# Paddle's Intel OpenMP spins 200 ms after each parallel region by default; with two test workers
# and their processes on two cores that spinning takes the CPU the others need (the suite's own
# setting: processes the tests start inherit it, the bot's own defaults are untouched).
os.environ.setdefault("KMP_BLOCKTIME", "0")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_MEDIA = REPO_ROOT.parent / "shared" / "media"
SHORT_TEMPLATE_FRAMES = 5


def shared(name: str) -> Path | None:
    path = SHARED_MEDIA / name
    return path if path.is_file() else None


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()  # RGB 512x512, one real face at about (177, 66, 93x93)


def _astronaut_head() -> np.ndarray:
    """A 256x256 face-centred square crop of the astronaut, like a vox-256 frame."""
    return cv2.resize(_astronaut()[0:250, 100:350], (256, 256), interpolation=cv2.INTER_AREA)


def _save_rgb(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def _read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised FULL-SIZE vox-256 checkpoint in PaddleGAN's layout (~228 MB)."""
    from engine.model.networks import build_networks, save_checkpoint
    from engine.model.paddle_compat import import_paddle

    import_paddle().seed(7)
    path = tmp_path_factory.mktemp("checkpoint") / "vox-cpk.pdparams"
    save_checkpoint(build_networks(), path)
    return path


def _made_once(root: Path, name: str, make: Callable[[Path], None]) -> Path:
    """`root/name`, made by `make(folder)` by the first xdist worker that asks and reused by the
    others (a file lock; the folder is renamed into place only when complete)."""
    from filelock import FileLock

    target = root / name
    with FileLock(str(root / f"{name}.lock")):
        if not target.is_dir():
            tmp = root / f".{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            make(tmp)
            tmp.rename(target)
    return target


@pytest.fixture(scope="session")
def run_root(tmp_path_factory, worker_id: str) -> Path:
    """A folder of this pytest run that every xdist worker sees (each worker's own temporary
    folders are below it)."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


@pytest.fixture(scope="session")
def small_checkpoint(run_root: Path) -> Path:
    """A randomly initialised checkpoint of the SMALL configuration (engine.networks.SMALL: the same
    networks and layout with fewer channels and blocks), for engine tests where the full size is not
    the point. engine.networks.load_networks tells the configuration from the file. One file a run,
    shared by the workers."""

    def make(folder: Path) -> None:
        from engine.model.networks import SMALL, build_networks, save_checkpoint
        from engine.model.paddle_compat import import_paddle

        import_paddle().seed(7)
        save_checkpoint(build_networks(SMALL), folder / "vox-cpk.pdparams")

    return _made_once(run_root, "small-checkpoint", make) / "vox-cpk.pdparams"


@pytest.fixture(scope="session")
def small_export(run_root: Path, small_checkpoint: Path) -> Path:
    """An engine cache holding the small checkpoint's export and conversion, made once a run; each
    worker's `engine_cache_dir` starts as a copy of it (the workers' tests add and remove motion
    files, so they do not share one cache)."""

    def make(folder: Path) -> None:
        from engine import Engine

        Engine(small_checkpoint, folder, device="cpu", threads=0, batch_size=4).load()

    return _made_once(run_root, "small-export", make)


@pytest.fixture(scope="session")
def humanseg_standin(run_root: Path) -> Path:
    """The PP-HumanSeg stand-in (tests/engine/humanseg_standin.py: model.pdmodel + model.pdiparams +
    deploy.yaml), exported once a run (a child process that imports Paddle) and shared."""
    from tests.engine.humanseg_standin import export_standin

    return _made_once(run_root, "humanseg-standin", lambda folder: export_standin(folder / "model")) / "model"


@pytest.fixture(scope="session")
def migrated_sqlite(run_root: Path) -> Path:
    """An empty SQLite database at the head migration, made once a run: the in-process bot tests
    start on a copy of it (a migration from nothing costs ~0.1 CPU-s per test). The storage tests
    and the tests that start bot and worker processes still migrate from nothing."""
    import asyncio

    from storage import Database, upgrade_to_head

    async def migrate(path: Path) -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade_to_head(db)
        finally:
            await db.close()  # the last connection out checkpoints the WAL: one file to copy

    return _made_once(run_root, "migrated-sqlite", lambda folder: asyncio.run(migrate(folder / "bot.db"))) / "bot.db"


@pytest.fixture(scope="session")
def placeholder_checkpoint(tmp_path_factory) -> Path:
    """A file where a config names the checkpoint when the fake engine renders (the start-up checks
    only look that it exists; nothing loads it)."""
    path = tmp_path_factory.mktemp("placeholder") / "vox-cpk.pdparams"
    path.write_bytes(b"placeholder: the fake engine renders here\n")
    return path


@pytest.fixture(scope="session")
def engine_cache_dir(tmp_path_factory, small_export: Path) -> Path:
    """This worker's engine cache, holding the small checkpoint's export from the start."""
    target = tmp_path_factory.mktemp("engine-cache")
    shutil.copytree(small_export, target, dirs_exist_ok=True)
    return target


@pytest.fixture(scope="session")
def full_engine(random_checkpoint, engine_cache_dir):
    """A loaded Engine on the FULL-SIZE random checkpoint: exported and converted once a run (one
    worker: its tests share the xdist group "full_size"), for the test whose point is that the real
    vox-256 shapes export and convert."""
    from engine import Engine

    engine = Engine(random_checkpoint, engine_cache_dir, device="cpu", threads=0, batch_size=4)
    engine.load()
    return engine


@pytest.fixture(scope="session")
def small_engine(small_checkpoint, engine_cache_dir):
    """A loaded Engine on the small random checkpoint, on the session's engine cache (which configs
    written by the tests name too, so processes find the export in place): the engine's code paths
    (export, conversion, faces, grids, backgrounds, frame rates, sound) where the networks' size is
    not the point."""
    from engine import Engine

    engine = Engine(small_checkpoint, engine_cache_dir, device="cpu", threads=0, batch_size=4)
    engine.load()
    return engine


def _write_short_template(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ff = _ffmpeg()
    src = shared("mayiyahei.MP4")
    if src is not None:
        # The real template's first frames (its face fills the square) with its sound.
        subprocess.run([ff, "-v", "error", "-y", "-i", str(src), "-frames:v", str(SHORT_TEMPLATE_FRAMES),
                        "-t", f"{SHORT_TEMPLATE_FRAMES / 29.91:.4f}", "-vf", "scale=256:256",
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                        str(folder / "video.mp4")], check=True)
        (folder / "template.toml").write_text('title = "短"\ntitle_en = "Short"\nvideo = "video.mp4"\n',
                                              encoding="utf-8")
        return
    # Fallback: the astronaut's head nodding a little, with a separate AAC sine as `audio`.
    from engine.video_io import VideoWriter

    head = _astronaut_head()
    writer = VideoWriter(folder / "video.mp4", 256, 256, 25.0)
    for i in range(SHORT_TEMPLATE_FRAMES):
        m = cv2.getRotationMatrix2D((128, 128), 4.0 * np.sin(i), 1.0 + 0.02 * i)
        writer.write(cv2.warpAffine(head, m, (256, 256), borderMode=cv2.BORDER_REFLECT))
    writer.close()
    subprocess.run([ff, "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-c:a", "aac", str(folder / "song.m4a")], check=True)
    (folder / "template.toml").write_text(
        'title = "短"\ntitle_en = "Short"\nvideo = "video.mp4"\naudio = "song.m4a"\n', encoding="utf-8")


@pytest.fixture(scope="session")
def templates_root(tmp_path_factory) -> Path:
    """A templates folder holding the short template as `short`."""
    root = tmp_path_factory.mktemp("templates")
    _write_short_template(root / "short")
    return root


@pytest.fixture(scope="session")
def short_template(templates_root):
    """A Template with a ~5 frame 256x256 video and AAC sound."""
    from engine import load_template

    return load_template("short", templates_root)


@pytest.fixture(scope="session")
def face_photo(tmp_path_factory) -> Path:
    path = shared("fom_source_image.png") or shared("face.png")
    if path is not None:
        return path
    return _save_rgb(tmp_path_factory.mktemp("photos") / "face.png", _astronaut())


@pytest.fixture(scope="session")
def two_face_photo(tmp_path_factory) -> Path:
    """Two different faces side by side on a plain wall, with background between them (1000x480)."""
    a, b = shared("face.png"), shared("fom_source_image.png")
    left = _read_rgb(a) if a else _astronaut_head()
    right = _read_rgb(b) if b else cv2.flip(_astronaut_head(), 1)
    ramp = np.linspace(60, 200, 1000, dtype=np.float32)[None, :, None]
    canvas = np.broadcast_to(ramp, (480, 1000, 3)).astype(np.uint8).copy()
    canvas[120:360, 60:300] = cv2.resize(left, (240, 240), interpolation=cv2.INTER_AREA)
    canvas[120:360, 700:940] = cv2.resize(right, (240, 240), interpolation=cv2.INTER_AREA)
    return _save_rgb(tmp_path_factory.mktemp("photos") / "two_faces.png", canvas)


@pytest.fixture(scope="session")
def five_face_photo(tmp_path_factory) -> Path:
    """Rembrandt's Syndics (five faces) when shared media is present, else five astronaut heads."""
    path = shared("fom_source_image_multi_person.jpg")
    if path is not None:
        return path
    head = cv2.resize(_astronaut_head(), (200, 200))
    row = np.concatenate([head, cv2.flip(head, 1), head, cv2.flip(head, 1), head], axis=1)
    canvas = np.full((400, 1100, 3), 90, np.uint8)
    canvas[100:300, 50:1050] = row
    return _save_rgb(tmp_path_factory.mktemp("photos") / "five_faces.png", canvas)


@pytest.fixture(scope="session")
def noface_photo(tmp_path_factory) -> Path:
    import skimage.data

    return _save_rgb(tmp_path_factory.mktemp("photos") / "coffee.png", skimage.data.coffee())


@pytest.fixture(scope="session")
def damaged_face_video(run_root: Path) -> Path:
    """A 20 s face video whose frame data is damaged so badly that decoding it makes ffmpeg print
    far more than a pipe holds (~64 KB) of errors: the case that used to hang a reader for ever.
    Made once a run (read only)."""
    return _made_once(run_root, "damaged-face-video", _write_damaged_face_video) / "damaged.mp4"


def _write_damaged_face_video(folder: Path) -> None:
    import random

    head = _astronaut_head()
    clean = folder / "clean.mp4"
    # Short GOPs: every damaged frame is decoded (and complained about) on its own.
    proc = subprocess.Popen([_ffmpeg(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "256x256",
                             "-framerate", "25", "-i", "-", "-c:v", "libx264", "-g", "2", "-bf", "0",
                             "-pix_fmt", "yuv420p", "-crf", "18", str(clean)], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for i in range(500):
        m = cv2.getRotationMatrix2D((128, 128), 6 * np.sin(i / 5), 1.0)
        proc.stdin.write(cv2.warpAffine(head, m, (256, 256), borderMode=cv2.BORDER_REFLECT).tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    data = bytearray(clean.read_bytes())
    start, end = data.find(b"mdat") + 200, data.find(b"moov") - 8  # frame data only: the index stays readable
    rng = random.Random(3)
    for _ in range(len(data) // 20):
        data[rng.randrange(start, end)] = rng.randrange(256)
    (folder / "damaged.mp4").write_bytes(bytes(data))


# The longest files first: pytest-xdist hands tests (and xdist groups) out in collection order, so
# these start at once and the many short tests fill the workers in around them, instead of one of
# them starting last and running on alone.
_LONGEST_FIRST = ("tests/bot/test_delivery_lease.py", "tests/pipeline/test_simulation.py",
                  "tests/engine/test_openvino.py", "tests/engine/test_networks.py",
                  "tests/engine/test_convert.py", "tests/bot/test_scale_out.py",
                  "tests/bot/test_bot_process.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable
