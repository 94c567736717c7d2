"""The paddle.fluid shim that lets ppgan 2.1.0 import on paddle >= 2.6, and the thread setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.model.paddle_compat import import_paddle

paddle = import_paddle()


def test_fluid_names_exist_for_ppgan():
    from paddle.fluid.layers import matmul, resize_nearest, soft_relu  # noqa: F401
    from paddle.fluid.layers.nn import soft_relu as nn_soft_relu  # starganv2_model's import

    assert nn_soft_relu is not None
    # the three FOMM modules import through ppgan.models' package __init__ (which pulls StarGAN-v2)
    from ppgan.models.generators.occlusion_aware import OcclusionAwareGenerator  # noqa: F401
    from ppgan.modules.keypoint_detector import KPDetector  # noqa: F401
    from ppgan.utils.animate import normalize_kp  # noqa: F401


def test_resize_nearest_quarter_is_the_strided_slice():
    x = paddle.to_tensor(np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32))
    out = paddle.fluid.layers.resize_nearest(x, scale=0.25)
    np.testing.assert_array_equal(out.numpy(), x.numpy()[:, :, ::4, ::4])
    half = paddle.fluid.layers.resize_nearest(x, scale=0.5)
    np.testing.assert_array_equal(half.numpy(), x.numpy()[:, :, ::2, ::2])


def test_soft_relu_and_matmul():
    v = np.array([-100.0, -1.0, 0.0, 2.0, 100.0], np.float32)
    got = paddle.fluid.layers.soft_relu(paddle.to_tensor(v)).numpy()
    expected = np.log1p(np.exp(np.clip(v, -40, 40)))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    a = np.random.default_rng(1).random((3, 2, 2), dtype=np.float32)
    b = np.random.default_rng(2).random((3, 2, 2), dtype=np.float32)
    out = paddle.fluid.layers.matmul(paddle.to_tensor(a), paddle.to_tensor(b), transpose_y=True)
    np.testing.assert_allclose(out.numpy(), a @ b.transpose(0, 2, 1), rtol=1e-5)


def test_anti_alias_downsample_runs_through_the_shim():
    from ppgan.modules.first_order import AntiAliasInterpolation2d

    down = AntiAliasInterpolation2d(3, 0.25)
    out = down(paddle.to_tensor(np.ones((1, 3, 256, 256), np.float32)))
    assert list(out.shape) == [1, 3, 64, 64]


def test_threads_are_set_before_paddle_imports():
    code = ("import os; from engine.model.paddle_compat import import_paddle; import_paddle(3); "
            "print(os.environ['OMP_NUM_THREADS'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"
    code = ("import os; from engine.model.paddle_compat import import_paddle; import_paddle(0); "
            "from engine.cpu_features import usable_cpus; "
            "print(os.environ['OMP_NUM_THREADS'], usable_cpus())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    threads, cores = out.stdout.split()
    assert threads == cores


def test_threads_follow_the_cpus_this_process_may_use():
    """As in a container given one CPU (cpuset): paddle gets one thread, not the host's count."""
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from engine.model.paddle_compat import import_paddle; import_paddle(0); "
            "print(os.environ['OMP_NUM_THREADS'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


@pytest.mark.parametrize("cpu_max, cpus", [("max 100000", None), ("150000 100000", 1.5),
                                           ("100000 100000", 1.0), ("50000 100000", 0.5),
                                           ("", None), ("garbage", None)])
def test_a_cgroup_cpu_quota_is_read(cpu_max, cpus):
    from engine.cpu_features import cgroup_cpu_limit, usable_cpus

    assert cgroup_cpu_limit(cpu_max) == cpus
    assert 1 <= usable_cpus() <= len(os.sched_getaffinity(0))


def test_importing_paddle_after_the_engine_prints_no_ccache_warning(tmp_path):
    """paddle warns at import when no ccache is on PATH; the engine filters that one warning, so a
    direct `import paddle` anywhere after `import engine` (every CLI) prints nothing about it."""
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))  # no ccache on this PATH
    out = subprocess.run([sys.executable, "-c", "import engine, paddle; print('imported')"],
                         capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "imported"
    assert "ccache" not in out.stderr
