"""Which precision each runner uses on this machine, and the quality each must keep.

Paddle Inference: fp32 on any x86 CPU (oneDNN), bf16 on CPUs with AMX or AVX512-BF16; on a CUDA
build bf16 on GPUs that have it (Ampere and later), fp16 on older ones, fp32 as the fallback.
OpenVINO (CPU): bf16 where the CPU has AMX or AVX512-BF16 (OpenVINO's INFERENCE_PRECISION_HINT),
fp32 elsewhere; int8 (engine/model/int8_gate.py) only where its gate passed.
Every lossy path must stay within MIN_PSNR_DB of the fp32 reference frame (engine/model/reference.py),
else fp32 is used.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..cpu_features import BF16_FLAGS, cpu_flags

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
OPENVINO_PRECISIONS = ("auto", "fp32", "bf16", "int8")
MIN_PSNR_DB = 35.0  # a lossy precision (bf16, fp16) must stay this close to the fp32 reference
# fp32 on a GPU: TF32 (on by default from Ampere) rounds convolution and matmul inputs to a 10-bit
# mantissa but sums in fp32: 3 bits more than bf16 (~18 dB), whose frames are ~42 dB from the
# reference on random weights, so ~60 dB is expected; 45 dB leaves room for cuDNN's choice of
# algorithms and still catches a wrong kernel (below ~30 dB).
MIN_GPU_FP32_PSNR_DB = 45.0
INT8_DIR = "int8"  # under an OpenVINO model's folder: the int8 generator and its gate.json


def min_psnr_db(device: str, precision: str) -> float | None:
    """The PSNR floor of a path against the CPU reference; None for CPU fp32 (checked to 1e-3)."""
    if precision == "fp32":
        return None if device == "cpu" else MIN_GPU_FP32_PSNR_DB
    return MIN_PSNR_DB


def explain_precision(device: str, precision: str, gpu_id: int = 0) -> tuple[str, str, bool]:
    """`[engine].precision` on this device for Paddle Inference -> (fp32 | bf16 | fp16, why,
    whether the setting was overridden). ValueError for a setting that is not a precision at all."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if device == "gpu":
        from .device import gpu_info

        bf16_gpu = gpu_info().supports_bf16(gpu_id)
        if precision == "bf16" and not bf16_gpu:
            return ("fp16", "this GPU has no bf16 (compute capability below 8.0); using fp16",
                    True)
        if precision == "auto":
            # bf16 keeps fp32's range (no fp16 overflow) at fp16's speed on tensor cores
            if bf16_gpu:
                return "bf16", ("auto: the GPU has bf16 (compute capability 8.0+), checked "
                                f"against the CPU reference at load (>= {MIN_PSNR_DB:.0f} dB)"), False
            return "fp16", ("auto on a GPU without bf16: fp16, checked against the CPU reference "
                            f"at load (>= {MIN_PSNR_DB:.0f} dB)"), False
        return precision, f"{precision} as configured", False
    if precision == "fp16":
        return "fp32", "fp16 runs only on a GPU; using fp32 on the CPU", True
    bf16 = sorted(BF16_FLAGS & cpu_flags())
    if precision == "bf16" and not bf16:
        return ("fp32", "this CPU has neither AMX nor AVX512-BF16; bf16 would be emulated, using "
                "fp32", True)
    if precision == "auto":
        if bf16:
            return "bf16", f"auto: the CPU has {'/'.join(bf16)}, so bf16 on oneDNN", False
        return "fp32", "auto: the CPU has neither AMX nor AVX512-BF16, so fp32 on oneDNN", False
    return precision, f"{precision} as configured", False


def resolve_precision(device: str, precision: str, gpu_id: int = 0) -> str:
    """Map `[engine].precision` onto what this device runs on Paddle Inference: fp32, bf16, fp16."""
    resolved, why, overridden = explain_precision(device, precision, gpu_id)
    if overridden:
        log.warning("%s", why)
    return resolved


def read_int8_gate(directory: Path) -> dict[str, Any] | None:
    """The int8 gate's result for an OpenVINO model folder (engine/model/int8_gate.py), or None
    when int8 was never calibrated there."""
    try:
        gate = json.loads((Path(directory) / INT8_DIR / "gate.json").read_text())
    except (OSError, ValueError):
        return None
    return gate if isinstance(gate, dict) else None


def explain_openvino_precision(precision: str, directory: Path | None = None) -> tuple[str, str]:
    """`[engine].precision` on this CPU for OpenVINO -> (fp32 | bf16 | int8, why)."""
    bf16 = sorted(BF16_FLAGS & cpu_flags())
    gate = read_int8_gate(directory) if directory is not None else None
    if precision == "int8" or (precision == "auto" and gate and gate.get("used")):
        if gate and gate.get("used"):
            return "int8", (f"int8 passed its gate ({gate['psnr']:.1f} dB >= "
                            f"{gate['threshold']:.0f} dB against fp32 on the templates)")
        why = ("int8 failed its gate" if gate else "int8 not calibrated (run `python -m engine "
               "prepare`)")
        if precision == "int8":
            return ("bf16" if bf16 else "fp32"), why
    how = "auto: " if precision == "auto" else ""
    if precision in ("auto", "bf16", "int8") and bf16:
        return "bf16", f"{how}the CPU has {'/'.join(bf16)}, so bf16 on OpenVINO"
    if precision == "bf16":
        return "fp32", "this CPU has neither AMX nor AVX512-BF16: fp32 on OpenVINO"
    return "fp32", ("fp32 as configured" if precision == "fp32"
                    else f"{how}the CPU has neither AMX nor AVX512-BF16, so fp32 on OpenVINO")
