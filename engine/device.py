"""Which paddle device the engine runs on, and what paddle can see (for `python -m engine doctor`)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import EngineError
from .paddle_compat import import_paddle

DEVICES = ("auto", "gpu", "cpu")


@dataclass(frozen=True)
class GpuInfo:
    cuda_build: bool  # paddle was compiled with CUDA (the GPU wheel)
    cuda_version: str | None  # the CUDA paddle was built against, e.g. "12.6"
    names: tuple[str, ...]  # the GPUs paddle sees (CUDA_VISIBLE_DEVICES applies)


def gpu_info() -> GpuInfo:
    paddle = import_paddle()
    if not paddle.is_compiled_with_cuda():
        return GpuInfo(False, None, ())
    cuda = getattr(paddle.version, "cuda", lambda: None)()
    names = []
    try:
        for i in range(paddle.device.cuda.device_count()):
            names.append(paddle.device.cuda.get_device_name(i))
    except Exception:  # a CUDA build on a host without a driver raises here rather than count 0
        pass
    return GpuInfo(True, cuda if cuda and cuda != "False" else None, tuple(names))


def nvidia_device_nodes() -> bool:
    """An NVIDIA driver exposes a GPU to this process (/dev/nvidia0...): only then is Paddle asked,
    so a CPU host decides without importing it (~1.5 s, ~0.4 GB)."""
    return any(Path("/dev").glob("nvidia[0-9]*"))


def explain_device(device: str) -> tuple[str, str]:
    """`[engine].device` -> ("cpu" | "gpu", why); EngineError for an impossible setting."""
    if device not in DEVICES:
        raise EngineError(f"unknown device '{device}' (auto, gpu or cpu)")
    if device == "cpu":
        return "cpu", "cpu as configured"
    if device == "auto" and not nvidia_device_nodes() and "paddle" not in sys.modules:
        return "cpu", "auto: no NVIDIA GPU on this host (no /dev/nvidia*)"
    info = gpu_info()
    if device == "gpu" and not info.names:
        raise EngineError("device 'gpu' requested but paddle sees no CUDA GPU"
                          + ("" if info.cuda_build else " (this paddle is a CPU build)"))
    if device != "auto":
        return device, f"{device} as configured"
    if info.names:
        return "gpu", f"auto: paddle sees {info.names[0]}"
    if info.cuda_build:
        return "cpu", "auto: paddle is a CUDA build but sees no GPU"
    return "cpu", "auto: paddle is a CPU build, without CUDA"


def resolve_device(device: str) -> str:
    """"auto" -> "gpu" when paddle has CUDA and sees a GPU, else "cpu"; sets paddle's device when
    paddle is loaded (engine/runner.py sets it before a Paddle runner on the CPU)."""
    resolved, _ = explain_device(device)
    if resolved == "gpu" or "paddle" in sys.modules:
        set_paddle_device(resolved)
    return resolved


def set_paddle_device(device: str) -> None:
    import_paddle().set_device(device)
