"""A kept render -> a round video note, a video sticker or a "GIF" (Telegram's sound-less MP4).

One module per format (note.py, sticker.py with sticker_cut.py, gif.py) on a small shared core
(core.py: the kinds, the result, the errors, the one-shot ffmpeg's helpers); `convert` picks the
format. ffmpeg only, and for a sticker the bundled person segmentation.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..cancel import CancelToken
from ..video_io import probe
from .core import (
    CONVERTIBLE,
    BadRender,
    ConvertResult,
    NoteCrop,
    OutputKind,
    OutputTooLarge,
    StickerTry,
    check_render,
    stopped,
)
from .gif import GIF_MAX_BYTES, gif
from .note import NOTE_MAX_S, NOTE_MIN_SIDE, note, note_crop
from .sticker import STICKER_MAX_BYTES, STICKER_MAX_S, best_loop, sticker, sticker_first_kbps

if TYPE_CHECKING:
    from ..faces import Box

log = logging.getLogger(__name__)

__all__ = ["CONVERTIBLE", "BadRender", "ConvertResult", "NoteCrop", "OutputKind", "OutputTooLarge", "StickerTry",
           "best_loop", "convert", "note_crop", "sticker_first_kbps", "GIF_MAX_BYTES", "NOTE_MAX_S", "NOTE_MIN_SIDE",
           "STICKER_MAX_BYTES", "STICKER_MAX_S"]


def convert(render: Path, kind: OutputKind | str, out: Path, faces: Sequence[Box] | None = None,
            cancel: CancelToken | None = None) -> ConvertResult:
    """Re-encode `render` (an MP4 the engine made) as `kind` (one of CONVERTIBLE) into `out`.

    `faces`: the animated faces' boxes in the render's pixels (the note centres on them, the sticker
    shows them cut out; None: for a sticker, the faces found in its first frame; []: none, the
    whole frame). Raises BadRender, OutputTooLarge, FfmpegTimeout, RenderCancelled (all
    EngineError, one line each); `out` is then left as it was and no `.part` file remains.
    """
    started = time.monotonic()
    render, out, kind = Path(render), Path(out), OutputKind(kind)
    if kind not in CONVERTIBLE:
        raise ValueError(f"convert: a render is already a {kind}")
    stopped(cancel)
    info = check_render(render, cancel)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    try:
        if kind is OutputKind.NOTE:
            extra = note(render, info, part, faces, cancel)
        elif kind in (OutputKind.STICKER, OutputKind.PACK):
            extra = sticker(render, info, part, faces, cancel)
        else:
            extra = gif(render, info, part, cancel)
        stopped(cancel)
        made = probe(part, cancel)
        size = part.stat().st_size
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    result = ConvertResult(path=out, kind=kind, width=made.width, height=made.height, duration=made.duration,
                           fps=made.fps, bytes=size, has_audio=made.audio_codec is not None,
                           seconds=time.monotonic() - started, **extra)
    log.info("converted %s to a %s: %dx%d, %.2f s, %d bytes, %d encode(s), %.1f s", render.name, kind,
             result.width, result.height, result.duration, result.bytes, result.encodes, result.seconds)
    return result
