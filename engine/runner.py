"""The choice of model runner, with the reason in one line: on the CPU OpenVINO (engine/
runner_openvino.py, no Paddle at run time) when it is installed, converts and matches the reference;
else the compiled Paddle Inference model (always on a GPU); else paddle's dynamic graph.

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
from .runner_inference import (
    ExportError,
    check_paddle_version,
    checkpoint_digest,
    exports_by_other_paddles,
    load_inference_runner,
    one_line,
    paddle_version,
    resolve_networks,
    resolve_precision,
)
from .runner_openvino import available as openvino_available
from .runner_openvino import convert as convert_to_openvino
from .runner_openvino import is_complete as openvino_converted
from .runner_openvino import load_runner as load_openvino_runner
from .runner_openvino import model_dir as openvino_dir
from .runner_openvino import ready as openvino_ready
from .runner_types import Keypoints, ModelRunner

__all__ = ["Keypoints", "ModelRunner", "make_runner", "fallback_reason", "openvino_runner"]

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
                device: str, precision: str, gpu_id: int = 0, batch_size: int = 4,
                openvino: bool = True) -> ModelRunner:
    """Choose the runner for this device/precision; `device` is already resolved ("cpu" or "gpu").

    `networks` may be a loader, called only when the export is not cached yet (or to fall back).
    The result's `fallback_reason` is None on the fast path, else the line also logged here.
    `openvino=False` skips OpenVINO (the Paddle Inference path on its own).
    """
    if precision not in ("auto", "fp32", "bf16", "fp16", "int8"):
        resolve_precision(device, precision, gpu_id)  # a wrong setting is an error (ValueError), no fallback
    loader = networks if callable(networks) else None
    if loader is not None:
        networks = functools.cache(loader)  # load at most once, export or fallback
    if openvino and device == "cpu" and openvino_available():
        try:
            return openvino_runner(networks, checkpoint, cache_dir, precision, batch_size)
        except Exception as exc:  # not converted/convertible here: Paddle Inference still is fast
            log.warning("OpenVINO unavailable, using Paddle Inference: %s", one_line(exc))
    # int8 is an OpenVINO path; "auto" -> what this machine runs best on Paddle
    precision = resolve_precision(device, "auto" if precision == "int8" else precision, gpu_id)
    from .device import paddle_device, set_paddle_device

    set_paddle_device(paddle_device(device, gpu_id))
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


def openvino_runner(networks: Networks | Callable[[], Networks], checkpoint: Path, cache_dir: Path,
                    precision: str, batch_size: int) -> ModelRunner:
    """The OpenVINO runner; converts first (needs Paddle, once per checkpoint and batch size) when
    no converted model is cached. Raises when it cannot convert or load."""
    digest = checkpoint_digest(checkpoint)
    directory = openvino_dir(cache_dir, digest, batch_size)
    if not openvino_converted(directory):
        from .runner_inference import export_models, model_dir

        check_paddle_version()
        nets = resolve_networks(networks)
        paddle_dir = export_models(nets, model_dir(cache_dir, digest))
        convert_to_openvino(nets, paddle_dir, directory, batch_size)
    runner, quality, why = load_openvino_runner(directory, precision)
    log.info("model runner %s (%s): %.1f dB from the fp32 dynamic graph", runner.name, why, quality)
    return runner


def needs_paddle(device: str, checkpoint: Path, cache_dir: Path, batch_size: int) -> bool:
    """Whether a process rendering with these settings will import Paddle: not on a CPU host whose
    OpenVINO model is converted already."""
    from .device import explain_device

    try:
        resolved, _ = explain_device(device)
    except Exception:
        return True
    return resolved != "cpu" or not openvino_ready(checkpoint, cache_dir, batch_size)
