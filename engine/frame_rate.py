"""Frame-rate caps: which frames of a clip to keep to play it at a lower rate for the same time.

One rule for every cap: `[render].max_fps` (renders animate only the kept driving frames) and the
animated sticker's 30 fps (engine/convert/, where ffmpeg's `fps` filter applies the same rule:
the frame nearest each tick of the new rate).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def capped_rate(fps: float, cap: float | None) -> Fraction:
    """The rate a clip of `fps` plays at under `cap` (None or <= 0: no cap), as ffmpeg's rational."""
    rate = min(fps, cap) if cap and cap > 0 and fps > 0 else (fps or cap or 0)
    return Fraction(rate).limit_denominator(1001)


def kept_frames(count: int, fps: float, rate: float) -> np.ndarray:
    """Indices of the `count` frames (at `fps`) to keep at `rate`: the frame nearest each tick
    k / rate, as many ticks as keep the clip's duration within one output frame."""
    if count <= 0 or rate >= fps:
        return np.arange(max(count, 0))
    kept = max(1, round(count * rate / fps))
    return np.minimum(np.round(np.arange(kept) * fps / rate).astype(int), count - 1)
