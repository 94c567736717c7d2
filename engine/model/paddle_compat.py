"""Import paddle the one way the engine does: threads set first, `paddle.fluid` shimmed for ppgan.

ppgan 2.1.0 still references `paddle.fluid`, which paddle >= 2.6 removed. FOMM needs three names
from it (`resize_nearest`, `matmul`, `soft_relu`, the last only because `ppgan.models` imports
StarGAN-v2 eagerly). We provide them as a tiny fake module before ppgan is imported.

paddle pins OMP_NUM_THREADS to 1 at import unless it is already set, so the thread count must be
in the environment before the first `import paddle` anywhere in the process.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import types
import warnings
from typing import Any

_THREADS_ENV = "OMP_NUM_THREADS"

# paddle.utils.cpp_extension (imported by `import paddle`) warns at import when no `ccache` is on
# PATH; it is for compiling C++ extensions, which this project never does. A process-wide filter
# for that one warning holds wherever paddle is first imported (a direct `import paddle` too), and
# unlike catch_warnings() it is not undone by another thread.
warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning,
                        module=r"paddle\.utils\.cpp_extension")


def set_threads(threads: int = 0) -> int:
    """Set the CPU thread count paddle will use (0: every CPU this process may use, a container's
    CPU limit included). Only effective before paddle loads."""
    from ..cpu_features import usable_cpus

    n = threads if threads > 0 else usable_cpus()
    if "paddle" not in sys.modules:
        os.environ[_THREADS_ENV] = str(n)
        # paddle's C++ INFO lines (glog) would drown the CLI's one-line messages.
        os.environ.setdefault("GLOG_minloglevel", "2")
    return n


def _quiet_import() -> types.ModuleType:
    # paddle prints an OMP_NUM_THREADS lecture to stderr and warns about ccache on import.
    with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import paddle
    return paddle


def _resize_nearest(x: Any, scale: float | None = None, out_shape: Any = None, **_: Any) -> Any:
    # Upstream PaddleGAN replaced this call by the strided slice `x[:, :, ::k, ::k]` (scale 1/k),
    # which is exactly what fluid's nearest resize did for integer down-scales.
    if scale is not None and scale < 1:
        k = round(1 / scale)
        if abs(k * scale - 1) < 1e-6:
            return x[:, :, ::k, ::k]
    import paddle.nn.functional as F

    if out_shape is not None:
        return F.interpolate(x, size=list(out_shape), mode="nearest")
    return F.interpolate(x, scale_factor=scale, mode="nearest")


def _soft_relu(x: Any, threshold: float = 40.0, name: str | None = None) -> Any:
    import paddle

    return paddle.log1p(paddle.exp(paddle.clip(x, -threshold, threshold)))


def _matmul(x: Any, y: Any, transpose_x: bool = False, transpose_y: bool = False,
            alpha: float = 1.0, name: str | None = None) -> Any:
    import paddle

    out = paddle.matmul(x, y, transpose_x=transpose_x, transpose_y=transpose_y)
    return out * alpha if alpha != 1.0 else out


def install_fluid_shim() -> None:
    """Register `paddle.fluid`, `paddle.fluid.layers` and `paddle.fluid.layers.nn` (idempotent)."""
    import paddle

    if getattr(paddle, "fluid", None) is not None and "paddle.fluid.layers.nn" in sys.modules:
        return
    fluid = types.ModuleType("paddle.fluid")
    layers = types.ModuleType("paddle.fluid.layers")
    nn = types.ModuleType("paddle.fluid.layers.nn")
    for mod in (layers, nn):
        mod.resize_nearest = _resize_nearest
        mod.soft_relu = _soft_relu
        mod.matmul = _matmul
    layers.nn = nn
    fluid.layers = layers
    sys.modules.update({"paddle.fluid": fluid, "paddle.fluid.layers": layers,
                        "paddle.fluid.layers.nn": nn})
    paddle.fluid = fluid


def import_paddle(threads: int = 0) -> types.ModuleType:
    """Return the `paddle` module with threads configured and the fluid shim installed."""
    set_threads(threads)
    paddle = sys.modules.get("paddle") or _quiet_import()

    install_fluid_shim()
    return paddle
