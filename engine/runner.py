"""The choice of model runner: the compiled one (Paddle Inference) when it loads and matches the
reference, else paddle's dynamic graph, with the reason in one line.

The types (Keypoints, ModelRunner) live in engine/runner_types.py, which the runners import; this
module imports the runners, so nothing imports in a circle.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path

from .networks import Networks
from .runner_dygraph import DygraphRunner
from .runner_inference import (ExportError, checkpoint_digest, exports_by_other_paddles, one_line,
                               load_inference_runner, paddle_version, resolve_networks,
                               resolve_precision)
from .runner_types import Keypoints, ModelRunner

__all__ = ["Keypoints", "ModelRunner", "make_runner", "fallback_reason"]

log = logging.getLogger(__name__)


def fallback_reason(exc: BaseException, checkpoint: Path, cache_dir: Path) -> str:
    """One line: why the compiled runner is unavailable, naming another paddle's export if any."""
    detail = one_line(exc) if isinstance(exc, ExportError) else f"{type(exc).__name__}: {one_line(exc)}"
    try:
        others = exports_by_other_paddles(cache_dir, checkpoint_digest(checkpoint))
    except OSError:
        others = []
    if others:
        return (f"exported model written by Paddle {', '.join(others)}, this is Paddle "
                f"{paddle_version()}: re-export failed: {detail}")
    return f"compiled model unavailable: {detail}"


def make_runner(networks: Networks | Callable[[], Networks], checkpoint: Path, cache_dir: Path,
                device: str, precision: str, gpu_id: int = 0) -> ModelRunner:
    """Choose the runner for this device/precision; `device` is already resolved ("cpu" or "gpu",
    paddle's device set to it).

    `networks` may be a loader, called only when the export is not cached yet (or to fall back).
    The result's `fallback_reason` is None on the fast path, else the line also logged here.
    """
    # a wrong setting is an error, not a reason to fall back; "auto" -> what this machine runs best
    precision = resolve_precision(device, precision, gpu_id)
    loader = networks if callable(networks) else None
    if loader is not None:
        networks = functools.cache(loader)  # load at most once, export or fallback
    try:
        # Exported once per checkpoint and paddle version (on the CPU), then loaded from
        # cache_dir: oneDNN fp32/bf16 on the CPU, bf16/fp16/fp32 on a GPU.
        return load_inference_runner(networks, checkpoint, cache_dir, device, precision, gpu_id)
    except Exception as exc:  # any export/predictor failure: the reference path still renders
        reason = fallback_reason(exc, checkpoint, cache_dir)
        log.warning("using paddle's dynamic graph (~20x slower): %s", reason)
        runner = DygraphRunner(resolve_networks(networks), fallback_reason=reason)
        if runner.device != device and loader is not None:
            # the export loaded them on the CPU; the fallback runs where the engine runs
            runner = DygraphRunner(loader(), fallback_reason=reason)
        return runner
