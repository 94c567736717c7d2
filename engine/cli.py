"""`python -m engine ...`: render, templates list|fetch, weights fetch, bench.

Defaults come from settings (config.toml, or --config PATH). Any expected failure prints one line
and exits 2; no traceback.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

from .errors import EngineError

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="config.toml to read (default: the repo's)")
    p = argparse.ArgumentParser(prog="python -m engine", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("render", parents=[common], help="animate a photo with a template")
    r.add_argument("photo", type=Path)
    r.add_argument("--template", default="yahey", help="template id or folder (default: yahey)")
    r.add_argument("--out", type=Path, required=True, help="output .mp4")
    r.add_argument("--checkpoint", type=Path, help="override [engine].checkpoint")
    r.add_argument("--no-relative", dest="relative", action="store_false", default=None)
    r.add_argument("--no-adapt-scale", dest="adapt_scale", action="store_false", default=None)
    r.add_argument("--best-frame", dest="best_frame", action="store_true", default=None)
    r.add_argument("--max-faces", type=int)

    t = sub.add_parser("templates", help="list or fetch templates")
    tsub = t.add_subparsers(dest="action", required=True)
    tsub.add_parser("list", parents=[common], help="templates whose video is present")
    tf = tsub.add_parser("fetch", parents=[common], help="download the 蚂蚁呀嘿 video")
    tf.add_argument("--url", help="a mirror of PaddleGAN's mayiyahei.MP4")

    w = sub.add_parser("weights", help="fetch the FOMM checkpoint")
    wsub = w.add_subparsers(dest="action", required=True)
    wf = wsub.add_parser("fetch", parents=[common], help="download vox-cpk.pdparams")
    wf.add_argument("--checkpoint", type=Path, help="override [engine].checkpoint")
    wf.add_argument("--sha256", help="expected sha256, when you know it")
    wf.add_argument("--url", help="a mirror of PaddleGAN's vox-cpk.pdparams")

    sub.add_parser("bench", add_help=False,
                   help="benchmark against PaddleGAN's FirstOrderPredictor (benchmarks/bench_vs_ppgan.py)")
    return p


def _settings(config: Path | None):
    # settings.py lives at the repository root, next to this package.
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from settings import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        raise EngineError(f"config: {exc}") from exc


def _render(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from . import BadImage, Engine, RenderOptions, check_image, load_template

    s = _settings(args.config)
    e = s.engine
    template = load_template(args.template, s.templates.dir)
    try:
        photo = args.photo.read_bytes()
    except OSError as exc:
        raise BadImage(f"cannot read {args.photo}: {exc.strerror}") from exc
    check_image(photo, int(s.limits.max_megapixels * 1e6), s.limits.min_side)  # before the slow load
    engine = Engine(args.checkpoint or e.checkpoint, e.cache_dir, device=e.device,
                    precision=e.precision, threads=e.threads, batch_size=e.batch_size)
    options = RenderOptions(
        relative=e.relative if args.relative is None else args.relative,
        adapt_scale=e.adapt_scale if args.adapt_scale is None else args.adapt_scale,
        best_frame=e.best_frame if args.best_frame is None else args.best_frame,
        max_faces=args.max_faces or e.max_faces,
        max_side=e.max_side,
    )
    bars: list[tqdm] = []  # opened on the first progress report, so early errors print alone

    def progress(frac: float) -> None:
        if not bars:
            bars.append(tqdm(total=100, unit="%", desc="render"))
        bars[0].update(round(frac * 100) - bars[0].n)

    try:
        result = engine.render(photo, template, args.out, options, progress=progress)
    finally:
        for bar in bars:
            bar.close()
    print(f"{result.path}: {result.width}x{result.height}, {result.frames} frames, "
          f"{result.duration:.2f}s, {result.faces} face(s), rendered in {result.seconds:.1f}s")
    return 0


def _templates(args: argparse.Namespace) -> int:
    from .templates import list_templates

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
    dest = args.checkpoint or s.engine.checkpoint
    digest = fetch_weights(dest, sha256=args.sha256, url=args.url or WEIGHTS_URL)
    print(f"{dest}\tsha256 {digest}")
    return 0


def _bench(rest: list[str]) -> int:
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_vs_ppgan.py"
    return subprocess.call([sys.executable, str(script), *rest])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # every other argument belongs to the benchmark script
        return _bench(argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    handlers = {"render": _render, "templates": _templates, "weights": _weights}
    try:
        return handlers[args.command](args)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
