"""The Engine and the RenderOptions built from settings.py's typed config: the one place that maps
[engine] keys onto them (the bot, the worker and the CLI all call these)."""

from __future__ import annotations

from settings import Settings

from .background import parse_background
from .engine import Engine
from .options import RenderOptions


def make_engine(settings: Settings) -> Engine:
    e = settings.engine
    return Engine(e.checkpoint, e.cache_dir, device=e.device, precision=e.precision, threads=e.threads,
                  batch_size=e.batch_size, segmenter=e.segmenter, humanseg_model=e.humanseg_model,
                  gpu_id=e.gpu_id)


def render_options(settings: Settings) -> RenderOptions:
    """Raises BadBackground (one line) for an [engine].background that is not a colour or "blur":
    the bot, the worker and the CLI call this before anything else starts."""
    e = settings.engine
    parse_background(e.background)
    return RenderOptions(relative=e.relative, adapt_scale=e.adapt_scale, best_frame=e.best_frame,
                         max_faces=e.max_faces, max_side=e.max_side, clean_background=e.clean_background,
                         background=e.background, max_fps=settings.render.max_fps)
