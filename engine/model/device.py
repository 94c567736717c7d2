"""Which paddle device the engine runs on, and what paddle can see (for `python -m engine doctor`).

`[engine].gpu_id` picks the GPU among those the process sees (CUDA_VISIBLE_DEVICES renumbers them
from 0). The export and its reference frame are always computed on the CPU (`on_cpu`), whatever the
device: the CPU fp32 model is checked against a CPU reference, and a GPU path against that same
reference with a PSNR floor that fits its precision (engine/model/precision.py).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import EngineError
from .paddle_compat import import_paddle

DEVICES = ("auto", "gpu", "cpu")
DEFAULT_BATCH_SIZE = {"cpu": 4, "gpu": 16}  # [engine].batch_size = 0: frames per generator call
_BF16_MIN_CAPABILITY = (8, 0)  # Ampere: bf16 tensor cores (and TF32, on by default in cuDNN/cuBLAS)


@dataclass(frozen=True)
class GpuInfo:
    cuda_build: bool  # paddle was compiled with CUDA (the GPU wheel)
    cuda_version: str | None  # the CUDA paddle was built against, e.g. "12.6"
    names: tuple[str, ...]  # the GPUs paddle sees (CUDA_VISIBLE_DEVICES applies)
    capabilities: tuple[tuple[int, int], ...] = ()  # compute capability of each, e.g. (9, 0)

    def supports_bf16(self, gpu_id: int = 0) -> bool:
        """bf16 tensor cores: compute capability 8.0 (Ampere) and later."""
        return gpu_id < len(self.capabilities) and self.capabilities[gpu_id] >= _BF16_MIN_CAPABILITY

    def tf32(self, gpu_id: int = 0) -> str:
        """Whether paddle's GPU convolutions and matmuls run in TF32 on this GPU, one phrase."""
        if gpu_id >= len(self.names):
            return "not used (no GPU)"
        if not self.supports_bf16(gpu_id):  # the same generation brought TF32
            return "not available (compute capability below 8.0)"
        if os.environ.get("NVIDIA_TF32_OVERRIDE") == "0":
            return "off (NVIDIA_TF32_OVERRIDE=0)"
        return ("on (paddle's default for cuDNN and cuBLAS; NVIDIA_TF32_OVERRIDE=0 turns it off): "
                "the GPU paths are checked by PSNR against the CPU reference")


def gpu_info() -> GpuInfo:
    paddle = import_paddle()
    if not paddle.is_compiled_with_cuda():
        return GpuInfo(False, None, ())
    cuda = getattr(paddle.version, "cuda", lambda: None)()
    names, capabilities = [], []
    try:
        for i in range(paddle.device.cuda.device_count()):
            names.append(paddle.device.cuda.get_device_name(i))
            capabilities.append(tuple(paddle.device.cuda.get_device_capability(i)))
    except Exception:  # a CUDA build on a host without a driver raises here rather than count 0
        pass
    return GpuInfo(True, cuda if cuda and cuda != "False" else None, tuple(names),
                   tuple(capabilities[:len(names)]))


def nvidia_device_nodes() -> bool:
    """An NVIDIA driver exposes a GPU to this process (/dev/nvidia0...): only then is Paddle asked,
    so a CPU host decides without importing it (~1.5 s, ~0.4 GB)."""
    return any(Path("/dev").glob("nvidia[0-9]*"))


def explain_device(device: str, gpu_id: int = 0) -> tuple[str, str]:
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
    if device != "cpu" and info.names and gpu_id >= len(info.names):
        raise EngineError(f"[engine].gpu_id = {gpu_id} but paddle sees {len(info.names)} GPU(s), "
                          f"numbered from 0 (CUDA_VISIBLE_DEVICES renumbers them)")
    if device != "auto":
        return device, f"{device} as configured" + (f", GPU {gpu_id}: {info.names[gpu_id]}"
                                                     if device == "gpu" else "")
    if info.names:
        return "gpu", f"auto: paddle sees {info.names[gpu_id]} (GPU {gpu_id})"
    if info.cuda_build:
        return "cpu", "auto: paddle is a CUDA build but sees no GPU"
    return "cpu", "auto: paddle is a CPU build, without CUDA"


def paddle_device(device: str, gpu_id: int = 0) -> str:
    """The name paddle.set_device takes: "cpu" or "gpu:<id>"."""
    return f"gpu:{gpu_id}" if device == "gpu" else "cpu"


def resolve_device(device: str, gpu_id: int = 0) -> str:
    """"auto" -> "gpu" when paddle has CUDA and sees a GPU, else "cpu"; sets paddle's device
    (gpu:<gpu_id> on a GPU)."""
    resolved, _ = explain_device(device, gpu_id)
    if resolved == "gpu" or "paddle" in sys.modules:  # a CPU host renders without paddle (OpenVINO)
        set_paddle_device(paddle_device(resolved, gpu_id))
    return resolved


def set_paddle_device(device: str) -> None:
    """`device` as paddle.set_device takes it ("cpu", "gpu:0")."""
    import_paddle().set_device(device)


@contextlib.contextmanager
def on_cpu() -> Iterator[None]:
    """Paddle's dynamic graph on the CPU inside (networks loaded here keep their weights there),
    the previous device restored after: the export and its reference frame never depend on the
    GPU (no TF32), so they are the same on every host."""
    paddle = import_paddle()
    previous = paddle.get_device()
    paddle.set_device("cpu")
    try:
        yield
    finally:
        paddle.set_device(previous)
