"""`python -m engine ...`: render, faces, convert, templates list|fetch, weights fetch, doctor, prepare, bench.

Defaults come from settings (config.toml, or --config PATH). Any expected failure prints one line
and exits 2; no traceback.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import EngineError

if TYPE_CHECKING:  # settings.py is put on the path by _settings first
    from settings import Settings

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="config.toml to read (default: the repo's)")
    p = argparse.ArgumentParser(prog="python -m engine", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("render", parents=[common],
                       help="animate a photo with a template; several photos make a grid")
    r.add_argument("photos", type=Path, nargs="+", metavar="PHOTO",
                   help="one photo, or 2 to --max-tiles photos: a grid of their largest faces")
    r.add_argument("--template", default="yahey",
                   help="template id in [templates].dir, or a folder path containing '/' (default: yahey)")
    r.add_argument("--out", type=Path, required=True, help="output .mp4")
    r.add_argument("--checkpoint", type=Path, help="override [engine].checkpoint")
    r.add_argument("--no-relative", dest="relative", action="store_false", default=None)
    r.add_argument("--no-adapt-scale", dest="adapt_scale", action="store_false", default=None)
    r.add_argument("--best-frame", dest="best_frame", action="store_true", default=None)
    r.add_argument("--max-faces", type=int)
    r.add_argument("--max-tiles", type=int, help="most photos in a grid (default: [limits].max_tiles)")
    r.add_argument("--clean-background", dest="clean_background", action="store_true", default=None,
                   help="keep the people, put them on a plain background before animating")
    r.add_argument("--background", metavar="COLOR|blur",
                   help="the plain background (implies --clean-background): #rrggbb, #rgb, white, "
                        "black, grey, green, blue, or blur (default: #f2f2f2)")

    t = sub.add_parser("templates", help="list or fetch templates")
    tsub = t.add_subparsers(dest="action", required=True)
    tsub.add_parser("list", parents=[common], help="templates whose video is present")
    tf = tsub.add_parser("fetch", parents=[common], help="download the 蚂蚁呀嘿 video")
    tf.add_argument("--url", help="a mirror of PaddleGAN's mayiyahei.MP4")

    w = sub.add_parser("weights", help="fetch the FOMM checkpoint")
    wsub = w.add_subparsers(dest="action", required=True)
    wf = wsub.add_parser("fetch", parents=[common],
                         help="download vox-cpk.pdparams (or, with --humanseg, PP-HumanSegV2)")
    wf.add_argument("--checkpoint", type=Path, help="override [engine].checkpoint")
    wf.add_argument("--sha256", help="expected sha256, when you know it")
    wf.add_argument("--url", help="a mirror of PaddleGAN's vox-cpk.pdparams (with --humanseg: of "
                                  "a PP-HumanSeg inference-model zip)")
    wf.add_argument("--humanseg", action="store_true",
                    help="fetch PaddleSeg's PP-HumanSegV2 model for [engine].segmenter = humanseg")
    wf.add_argument("--dir", type=Path, dest="humanseg_dir",
                    help="with --humanseg: the folder to fill (default: [engine].humanseg_model)")

    d = sub.add_parser("doctor", parents=[common],
                       help="what this machine runs, how fast, and what is missing (exit 0: all well)")
    d.add_argument("--frames", type=int, default=2, help="frames timed per path (default: 2)")
    sub.add_parser("prepare", parents=[common],
                   help="export the compiled model and compute every template's motion ahead of time")

    fc = sub.add_parser("faces", parents=[common],
                        help="the faces a render would animate in a photo, and why others are not")
    fc.add_argument("photo", type=Path)
    fc.add_argument("--json", action="store_true", help='print {"faces": [...]} as JSON')
    fc.add_argument("--draw", type=Path, metavar="OUT.jpg", help="write the photo with numbered boxes")
    fc.add_argument("--max-faces", type=int, help="override [engine].max_faces")
    fc.add_argument("--max-side", type=int, help="override [engine].max_side")

    _add_convert(sub, common)
    sub.add_parser("bench", add_help=False,
                   help="benchmark against PaddleGAN's FirstOrderPredictor (benchmarks/bench_clone.py)")
    return p


def _read_photo(path: Path, s: Settings) -> bytes:
    """A photo's bytes, checked against the same limits the bot applies."""
    from ..errors import BadImage
    from ..images import check_image

    try:
        photo = path.read_bytes()
    except OSError as exc:
        raise BadImage(f"cannot read {path}: {exc.strerror}") from exc
    check_image(photo, int(s.limits.max_megapixels * 1e6), s.limits.min_side)
    return photo


def _settings(config: Path | None) -> Settings:
    # settings.py lives at the repository root, next to this package.
    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)
    from settings import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        raise EngineError(f"config: {exc}") from exc


def _render(args: argparse.Namespace) -> int:
    import dataclasses

    from tqdm import tqdm

    from .. import TooManyPhotos, load_template, load_template_dir
    from ..from_settings import make_engine, render_options
    from ..grid import photo_label
    from ..model.choose import needs_paddle

    s = _settings(args.config)
    if args.checkpoint:
        s = s.model_copy(update={"engine": s.engine.model_copy(update={"checkpoint": args.checkpoint})})
    engine = make_engine(s)
    if not needs_paddle(s.engine.device, s.engine.checkpoint, s.engine.cache_dir, engine.batch_size):
        # OpenVINO only (no Paddle import on another thread): the model loads while the template
        # and the photos are read and checked; a failure surfaces at the render's own load
        engine.start_loading()
    # An id is only ever looked up in the templates folder; a path must say it is one.
    template = (load_template_dir(Path(args.template)) if "/" in args.template
                else load_template(args.template, s.templates.dir))
    grid = len(args.photos) > 1
    max_tiles = s.limits.max_tiles if args.max_tiles is None else args.max_tiles
    if grid and len(args.photos) > max_tiles:  # before reading any of them
        raise TooManyPhotos(f"{len(args.photos)} photos: a grid holds at most {max_tiles}")
    photos = []
    for i, path in enumerate(args.photos, start=1):
        try:  # before the slow load
            photo = _read_photo(path, s)
        except EngineError as exc:
            if not grid:
                raise
            raise type(exc)(f"{photo_label(i, path)}: {exc}") from exc
        photos.append(photo)
    chosen = {"relative": args.relative, "adapt_scale": args.adapt_scale, "best_frame": args.best_frame,
              "max_faces": args.max_faces, "background": args.background,
              "clean_background": True if args.background else args.clean_background}  # None: config's
    options = dataclasses.replace(render_options(s), **{k: v for k, v in chosen.items() if v is not None})
    if options.clean_background:
        from ..background import parse_background

        parse_background(options.background)  # a typo fails here, not after the model loads
    bars: list[tqdm] = []  # opened on the first progress report, so early errors print alone

    def progress(frac: float) -> None:
        if not bars:
            bars.append(tqdm(total=100, unit="%", desc="render"))
        bars[0].update(round(frac * 100) - bars[0].n)

    try:
        if grid:  # the photos' paths, so errors name them
            result = engine.render_grid(args.photos, template, args.out, options, progress=progress,
                                        max_tiles=max_tiles)
        else:
            result = engine.render(photos[0], template, args.out, options, progress=progress)
    finally:
        for bar in bars:
            bar.close()
    print(f"{result.path}: {result.width}x{result.height}, {result.frames} frames, "
          f"{result.duration:.2f}s, {result.faces} face(s), rendered in {result.seconds:.1f}s")
    for note in result.notes:
        print(f"note: {note}")
    for index in result.skipped:
        print(f"skipped {photo_label(index, args.photos[index - 1])}: no face found")
    return 0


def _templates(args: argparse.Namespace) -> int:
    from ..templates import list_templates

    s = _settings(args.config)
    if args.action == "fetch":
        from .assets import YAHEY_URL, fetch_yahey

        print(fetch_yahey(s.templates.dir, url=args.url or YAHEY_URL))
        return 0
    templates = list_templates(s.templates.dir)
    if not templates:
        print(f"no templates with a video in {s.templates.dir} (try: python -m engine templates fetch)")
    for t in templates:
        print(f"{t.id}\t{t.title}\t{t.video}")
    return 0


def _weights(args: argparse.Namespace) -> int:
    from .assets import WEIGHTS_URL, fetch_weights

    s = _settings(args.config)
    if args.humanseg:
        from .assets import HUMANSEG_URL, fetch_humanseg

        folder = args.humanseg_dir or s.engine.humanseg_model
        print(fetch_humanseg(folder, url=args.url or HUMANSEG_URL, sha256=args.sha256))
        return 0
    dest = args.checkpoint or s.engine.checkpoint
    digest = fetch_weights(dest, sha256=args.sha256, url=args.url or WEIGHTS_URL)
    print(f"{dest}\tsha256 {digest}")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import run_doctor

    return run_doctor(_settings(args.config), frames=args.frames)


def _prepare(args: argparse.Namespace) -> int:
    import time

    started = time.monotonic()
    s = _settings(args.config)
    from ..from_settings import make_engine  # after _settings put settings.py on the path
    from ..templates import list_templates
    from .prepare import prepare

    engine = make_engine(s)
    templates = list_templates(s.templates.dir)
    if not templates:
        print(f"no templates with a video in {s.templates.dir} (try: python -m engine templates fetch)")

    def progress(what: str, fraction: float) -> None:
        print(f"[{fraction:4.0%}] {what}", flush=True)

    report = prepare(engine, templates, progress, int8=True)
    exported = "exported now" if report.exported else "from the cache"
    print(f"model: {report.runner} ({report.precision} on {report.device}), {exported}, "
          f"{report.model_seconds:.1f} s")
    for t in report.templates:
        state = f"failed: {t.error}" if t.error else ("computed" if t.computed else "from the cache")
        print(f"template {t.id}: motion {state}, {t.seconds:.1f} s")
    if report.int8:
        print(report.int8)
    kind = "warm start" if report.warm else "cold start"
    print(f"ready: {kind} in {report.seconds:.1f} s ({time.monotonic() - started:.1f} s with this "
          f"process's imports and config)")
    if report.fallback_reason:
        print(f"error: the compiled model is unavailable, renders will be slow: "
              f"{report.fallback_reason}", file=sys.stderr)
        return 1
    return 1 if report.failed else 0


def _faces(args: argparse.Namespace) -> int:
    from .face_report import draw_report, face_report, report_json, report_text

    s = _settings(args.config)
    photo = _read_photo(args.photo, s)
    max_faces = s.engine.max_faces if args.max_faces is None else args.max_faces
    report = face_report(photo, args.max_side or s.engine.max_side, max_faces)
    print(report_json(report) if args.json else report_text(str(args.photo), report))
    if args.draw:
        draw_report(photo, report, args.draw)
    return 0


def _add_convert(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    from ..convert import OutputKind

    c = sub.add_parser("convert", parents=[common],
                       help="a render as a round video note, a video sticker (WEBM) or a GIF (MP4 without sound)")
    c.add_argument("render", type=Path, help="an MP4 made by `render` (the bot keeps them in data/renders/)")
    formats = (OutputKind.NOTE, OutputKind.STICKER, OutputKind.GIF)  # a PACK is a STICKER sent elsewhere
    c.add_argument("--to", required=True, choices=[k.value for k in formats])
    c.add_argument("--out", type=Path, required=True, help="output file (.mp4 for note and gif, .webm for sticker)")
    c.add_argument("--faces-from", type=Path, metavar="PHOTO",
                   help="the render's photo: the note is centred on its animated faces (default: the middle), "
                        "the sticker cuts them out (default: the faces found in the sticker's first frame)")


def _convert(args: argparse.Namespace) -> int:
    from ..convert import OutputKind, convert
    from ..faces import faces_in_photo

    faces = None
    if args.faces_from:
        s = _settings(args.config)
        photo = _read_photo(args.faces_from, s)
        faces = faces_in_photo(photo, s.engine.max_side)[: s.engine.max_faces or None]
    r = convert(args.render, OutputKind(args.to), args.out, faces)
    details = []
    if r.crop is not None:
        around = f"{len(faces)} face(s)" if faces else "the middle"
        details.append(f"{r.crop.side} px square at ({r.crop.x}, {r.crop.y}) around {around}")
    if r.start is not None:
        details.append(f"from {r.start:.2f} s at {r.bitrate_kbps} kbps, {r.encodes} encode(s)")
        details.append(f"{len(r.cut.faces)} face(s) cut out of {r.cut.w}x{r.cut.h} at ({r.cut.x}, {r.cut.y})"
                       if r.cut is not None else "the whole frame (no face)")
    print(f"{r.path}: {r.kind} {r.width}x{r.height}, {r.duration:.2f} s, {r.fps:.2f} fps, {r.bytes / 1024:.0f} KB, "
          f"{'with' if r.has_audio else 'no'} sound{''.join('; ' + d for d in details)}; {r.seconds:.1f} s")
    return 0


def _bench(rest: list[str]) -> int:
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_clone.py"
    return subprocess.call([sys.executable, str(script), *rest])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # every other argument belongs to the benchmark script
        return _bench(argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    handlers = {"render": _render, "templates": _templates, "weights": _weights,
                "doctor": _doctor, "prepare": _prepare, "faces": _faces, "convert": _convert}
    try:
        return handlers[args.command](args)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
