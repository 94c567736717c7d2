"""The choice of model runner, with the reason in one line: on the CPU OpenVINO
(engine/model/runner_openvino.py, no Paddle at run time) when it is installed, converts and matches
the reference; else the compiled Paddle Inference model (always on a GPU); else paddle's dynamic
graph. A runner that fails mid-render falls back the same way (OpenVINO -> Paddle Inference ->
dynamic graph) and says so in its `fallback_reason`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path

from .errors import ExportError, one_line
from .export import (
    NetworksSource,
    check_paddle_version,
    checkpoint_digest,
    export_models,
    exports_by_other_paddles,
    is_complete,
    model_dir,
    paddle_version,
    resolve_networks,
)
from .networks import Networks, load_networks
from .precision import min_psnr_db, resolve_precision
from .runner_dygraph import DygraphRunner
from .runner_inference import InferenceRunner, check_accuracy
from .runner_openvino import available as openvino_available
from .runner_openvino import is_complete as openvino_converted
from .runner_openvino import load_runner as load_openvino_runner
from .runner_openvino import model_dir as openvino_dir
from .runner_openvino import ready as openvino_ready
from .runner_types import Keypoints, ModelRunner

__all__ = ["Keypoints", "ModelRunner", "make_runner", "fallback_reason", "openvino_runner",
           "load_inference_runner", "needs_paddle"]

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
    return paddle_runner(networks, loader, checkpoint, cache_dir, device, precision, gpu_id)


def paddle_runner(networks: NetworksSource, loader: Callable[[], Networks] | None, checkpoint: Path,
                  cache_dir: Path, device: str, precision: str, gpu_id: int = 0) -> ModelRunner:
    """Paddle Inference, else the dynamic graph (whose reason is in its `fallback_reason`)."""
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


def openvino_runner(networks: NetworksSource, checkpoint: Path, cache_dir: Path,
                    precision: str, batch_size: int) -> ModelRunner:
    """The OpenVINO runner; converts first (needs Paddle, once per checkpoint and batch size) when
    no converted model is cached. Raises when it cannot convert or load."""
    digest = checkpoint_digest(checkpoint)
    directory = openvino_dir(cache_dir, digest, batch_size)
    if not openvino_converted(directory):
        from .export_openvino import convert

        check_paddle_version()
        nets = resolve_networks(networks)
        paddle_dir = export_models(nets, model_dir(cache_dir, digest))
        convert(nets, paddle_dir, directory, batch_size)
    runner, quality, why = load_openvino_runner(directory, precision)
    log.info("model runner %s (%s): %.1f dB from the fp32 dynamic graph", runner.name, why, quality)
    return runner


def load_inference_runner(networks: NetworksSource, checkpoint: Path, cache_dir: Path, device: str,
                          precision: str, gpu_id: int = 0) -> InferenceRunner:
    """Export (once per checkpoint, on the CPU), load and check; raises on any failure so the caller
    can fall back. A lossy precision further than MIN_PSNR_DB from the reference gives way to fp32.

    `networks` may be a loader: it is then called only when the export is not cached yet, so a
    warm start never builds the dynamic-graph networks (~0.4 GB less peak memory, ~2 s faster).
    """
    from .device import on_cpu

    resolved = resolve_precision(device, precision, gpu_id)
    check_paddle_version()
    directory = model_dir(cache_dir, checkpoint_digest(checkpoint))
    if not is_complete(directory):
        # The networks are loaded (when `networks` is a loader), traced and run for the reference
        # frame on the CPU, whatever the device: the export is the same on every host.
        with on_cpu():
            export_models(resolve_networks(networks), directory)
    runner: InferenceRunner | None = None
    quality = 0.0
    try:
        runner = InferenceRunner(directory, device, resolved, gpu_id=gpu_id)
        quality = check_accuracy(runner, directory)
    except Exception as exc:
        if resolved == "fp32":
            raise
        # a lossy mode this paddle/device cannot build (say fp16 on an old GPU): fp32 still is fast
        log.warning("%s on %s does not load (%s); using fp32", resolved, device, one_line(exc))
    if runner is None or quality < (min_psnr_db(device, resolved) or 0.0):
        if runner is not None:
            log.warning("%s on %s is only %.1f dB from the fp32 reference; using fp32",
                        resolved, device, quality)
        runner = InferenceRunner(directory, device, "fp32", gpu_id=gpu_id)
        quality = check_accuracy(runner, directory)
    log.info("model runner %s: %.1f dB from the CPU fp32 reference", runner.name, quality)
    # Reload rather than capture `networks`, so the caller may free the dygraph weights (~230 MB).
    runner.fallback_factory = lambda: DygraphRunner(load_networks(checkpoint))
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
