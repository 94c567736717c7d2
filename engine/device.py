"""Which paddle device the engine runs on."""

from __future__ import annotations

from .errors import EngineError
from .paddle_compat import import_paddle


def resolve_device(device: str) -> str:
    """"auto" -> "gpu" when paddle has CUDA and sees a GPU, else "cpu"; sets paddle's device."""
    paddle = import_paddle()
    has_gpu = paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
    if device == "auto":
        device = "gpu" if has_gpu else "cpu"
    if device == "gpu" and not has_gpu:
        raise EngineError("device 'gpu' requested but paddle sees no CUDA GPU")
    if device not in ("cpu", "gpu"):
        raise EngineError(f"unknown device '{device}' (auto, gpu or cpu)")
    paddle.set_device(device)
    return device
