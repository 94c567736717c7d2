"""Each equivalent-forward rewrite computes what ppgan's original layer computes (fp32, random inputs).

Small channel counts keep this fast; the rewrites do not depend on the widths, and the full-size
vox-256 networks are compared end to end in test_fast_runner.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.model.paddle_compat import import_paddle

paddle = import_paddle()

from ppgan.models.generators.occlusion_aware import OcclusionAwareGenerator  # noqa: E402
from ppgan.modules.dense_motion import DenseMotionNetwork  # noqa: E402
from ppgan.modules.first_order import AntiAliasInterpolation2d, UpBlock2d, kp2gaussian  # noqa: E402
from ppgan.modules.keypoint_detector import KPDetector  # noqa: E402

from engine import rewrites  # noqa: E402

TOL = 1e-4
NUM_KP = 10


def _max_diff(a, b) -> float:
    return float(np.abs(np.asarray(a.numpy() if hasattr(a, "numpy") else a)
                        - np.asarray(b.numpy() if hasattr(b, "numpy") else b)).max())


def _randomise(layer, rng: np.random.Generator) -> None:
    """Non-trivial BatchNorm statistics and every weight random (ppgan zero-inits the jacobian head)."""
    for sub in layer.sublayers(include_self=True):
        if isinstance(sub, paddle.nn.BatchNorm):
            sub._mean.set_value(rng.normal(0, 0.1, sub._mean.shape).astype("float32"))
            sub._variance.set_value(rng.uniform(0.5, 1.5, sub._variance.shape).astype("float32"))
            sub.weight.set_value(rng.uniform(0.5, 1.5, sub.weight.shape).astype("float32"))
            sub.bias.set_value(rng.normal(0, 0.1, sub.bias.shape).astype("float32"))
    layer.eval()


def _keypoints(rng: np.random.Generator, batch: int) -> dict:
    value = rng.uniform(-0.8, 0.8, (batch, NUM_KP, 2)).astype("float32")
    jacobian = (np.eye(2) + rng.normal(0, 0.3, (batch, NUM_KP, 2, 2))).astype("float32")
    return {"value": paddle.to_tensor(value), "jacobian": paddle.to_tensor(jacobian)}


@pytest.fixture
def rng() -> np.random.Generator:
    paddle.seed(1234)
    return np.random.default_rng(1234)


@pytest.mark.parametrize("rewrite", [rewrites.UpsampleConvTransposed, rewrites.UpsamplePixelShuffle])
def test_upsample_conv_as_one_conv(rng, rewrite):
    block = UpBlock2d(16, 8, kernel_size=3, padding=1)
    _randomise(block, rng)
    x = paddle.to_tensor(rng.normal(size=(2, 16, 9, 12)).astype("float32"))
    with paddle.no_grad():
        diff = _max_diff(rewrite(block)(x), block(x))
    assert diff < TOL


def test_anti_alias_as_strided_depthwise_conv(rng):
    aa = AntiAliasInterpolation2d(3, 0.25)
    x = paddle.to_tensor(rng.uniform(size=(2, 3, 256, 256)).astype("float32"))
    with paddle.no_grad():
        fast, ref = rewrites.StridedAntiAlias(aa)(x), aa(x)
    assert fast.shape == ref.shape == [2, 3, 64, 64]
    assert _max_diff(fast, ref) < TOL


@pytest.mark.parametrize("kernel,padding", [(7, 3), (3, 1), (7, 0)])
def test_conv_as_transposed_conv(rng, kernel, padding):
    conv = paddle.nn.Conv2D(64, 3, kernel_size=(kernel, kernel), padding=(padding, padding))
    x = paddle.to_tensor(rng.normal(size=(2, 64, 40, 36)).astype("float32"))
    with paddle.no_grad():
        fast, ref = rewrites.ConvAsTransposed(conv)(x), conv(x)
    assert fast.shape == ref.shape
    assert _max_diff(fast, ref) < TOL


def test_closed_form_2x2_inverse(rng):
    m = paddle.to_tensor((np.eye(2) + rng.normal(0, 0.3, (4, NUM_KP, 2, 2))).astype("float32"))
    assert _max_diff(rewrites.inverse_2x2(m), paddle.inverse(m)) < TOL


def _dense_motion() -> DenseMotionNetwork:
    return DenseMotionNetwork(block_expansion=8, num_blocks=5, max_features=64, num_kp=NUM_KP,
                              num_channels=3, estimate_occlusion_map=True, scale_factor=0.25)


def test_outer_product_heatmaps_and_matmul_sparse_motions(rng):
    dm = _dense_motion()
    fast = rewrites.FastDenseMotion(dm, 256)
    source = paddle.zeros([2, 3, 64, 64])
    kd, ks = _keypoints(rng, 2), _keypoints(rng, 2)
    with paddle.no_grad():
        heat = fast._heatmaps(kd["value"], ks["value"])
        ref_heat = (kp2gaussian(kd, spatial_size=(64, 64), kp_variance=dm.kp_variance)
                    - kp2gaussian(ks, spatial_size=(64, 64), kp_variance=dm.kp_variance))
        motions = fast._sparse_motions(kd["value"], kd["jacobian"], ks["value"], ks["jacobian"])
        ref_motions = dm.create_sparse_motions(source, kd, ks)  # [B, K+1, h, w, 2]
    assert _max_diff(heat, ref_heat) < TOL
    assert _max_diff(motions.reshape(ref_motions.shape), ref_motions) < TOL


def test_dense_motion_network(rng):
    dm = _dense_motion()
    _randomise(dm, rng)
    source = paddle.to_tensor(rng.uniform(size=(2, 3, 256, 256)).astype("float32"))
    kd, ks = _keypoints(rng, 2), _keypoints(rng, 2)
    with paddle.no_grad():
        deformation, occlusion = rewrites.FastDenseMotion(dm, 256)(
            source, kd["value"], kd["jacobian"], ks["value"], ks["jacobian"])
        ref = dm(source, kp_driving=kd, kp_source=ks)
    assert _max_diff(deformation, ref["deformation"]) < TOL
    assert _max_diff(occlusion, ref["occlusion_map"]) < TOL


@pytest.mark.parametrize("upsample", ["transposed", "shuffle"])
def test_generator_with_occlusion_border_as_mask(rng, upsample):
    # inference=True is how FirstOrderPredictor builds it: blended deformation, occlusion border = 1
    gen = OcclusionAwareGenerator(num_channels=3, num_kp=NUM_KP, block_expansion=8, max_features=32,
                                  num_down_blocks=2, num_bottleneck_blocks=2,
                                  estimate_occlusion_map=True, estimate_jacobian=True, inference=True,
                                  dense_motion_params={"block_expansion": 8, "max_features": 64,
                                                       "num_blocks": 5, "scale_factor": 0.25})
    _randomise(gen, rng)
    source = paddle.to_tensor(rng.uniform(size=(2, 3, 256, 256)).astype("float32"))
    kd, ks = _keypoints(rng, 2), _keypoints(rng, 2)
    fast = rewrites.FastGenerator(gen, 256, upsample)
    with paddle.no_grad():
        out = fast(source, kd["value"], kd["jacobian"], ks["value"], ks["jacobian"])
        split = fast.decode(fast.encode(source), source, kd["value"], kd["jacobian"],
                            ks["value"], ks["jacobian"])
        ref = gen(source, kp_driving=kd, kp_source=ks)["prediction"]
    assert _max_diff(out, ref) < TOL
    assert _max_diff(split, ref) < TOL
    assert list(fast.encode(source).shape[1:]) == fast.feature_shape()


def test_keypoint_detector(rng):
    kp = KPDetector(block_expansion=8, num_kp=NUM_KP, num_channels=3, max_features=64, num_blocks=5,
                    temperature=0.1, estimate_jacobian=True, scale_factor=0.25)
    _randomise(kp, rng)
    kp.jacobian.weight.set_value(rng.normal(0, 0.01, kp.jacobian.weight.shape).astype("float32"))
    frames = paddle.to_tensor(rng.uniform(size=(2, 3, 256, 256)).astype("float32"))
    with paddle.no_grad():
        value, jacobian = rewrites.FastKPDetector(kp, 256)(frames)
        ref = kp(frames)
    assert _max_diff(value, ref["value"]) < TOL
    assert _max_diff(jacobian, ref["jacobian"]) < TOL


def test_grid_sample_as_row_gathers(rng):
    features = paddle.to_tensor(rng.normal(size=(2, 32, 20, 24)).astype("float32"))
    # beyond [-1, 1] too, where zeros padding matters, and exact pixel centres
    grid = rng.uniform(-1.3, 1.3, (2, 16, 18, 2)).astype("float32")
    grid[0, 0, :5, 0] = [-1.0, 1.0, 0.0, -1.0 + 2 / 23, 1.0]
    grid = paddle.to_tensor(grid)
    ref = paddle.nn.functional.grid_sample(features, grid, mode="bilinear", padding_mode="zeros",
                                           align_corners=True)
    assert _max_diff(rewrites.grid_sample_gather(features, grid), ref) < TOL
