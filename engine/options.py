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


DEFAULT_OPTIONS = RenderOptions()
