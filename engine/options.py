"""What a caller may choose per render (defaults match PaddleGAN's `--relative --adapt_scale`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RenderOptions:
    relative: bool = True
    adapt_scale: bool = True
    best_frame: bool = False
    max_faces: int = 5
    max_side: int = 1280
    # The people kept, the rest of the photo replaced before animation (engine/background.py).
    clean_background: bool = False
    # A colour (#rrggbb, #rgb, white, ...) or "blur". Light grey rather than white: a white shirt
    # keeps its edge; one colour for every photo makes grid tiles look alike.
    background: str = "#f2f2f2"
    # [render].max_fps: at most this many frames a second (0: the template's own rate); the
    # driving frames are dropped evenly and the song is untouched (engine/frame_rate.py).
    max_fps: float = 0.0


DEFAULT_OPTIONS = RenderOptions()
