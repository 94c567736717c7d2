"""Equivalent forwards of ppgan's FOMM layers that export to Paddle Inference and run fast on oneDNN.

Each rewrite computes the same function as ppgan's layer (tests check max |diff| < 1e-4 in fp32);
they exist because the unmodified graph does not run under oneDNN (slice assignment `set_value`
and `nearest_interp` fail to convert) and because some of ppgan's ops are far slower than an
equivalent single op:

- nearest x2 upsample + 3x3 conv (+ eval BatchNorm) -> one 4x4 stride-2 `conv2d_transpose`
  (2.25x fewer MACs), or for bf16 a 3x3 conv to the 4 output phases + `pixel_shuffle`;
- anti-alias pad + Gaussian conv + `[::4]` -> one strided, padded depthwise conv;
- the final 7x7 conv (64->3) -> `conv2d_transpose` (im2col of the conv costs ~0.4 s per frame);
- Gaussian heatmaps as outer products of 1-D Gaussians, the keypoint affines as one matmul,
  closed-form 2x2 inverse;
- the occlusion map's border slice assignments -> `occ * inner + border` with constant buffers;
- the warp of the 256-channel feature map: `grid_sample` -> four row gathers (~3x faster);
- the generator split into `encode` (source only: once per photo) and `decode` (every frame).

The fast layers share the unchanged sublayers (and their parameters) with ppgan's networks and
only own the re-arranged weights. Only what the animation needs is computed ("prediction";
ppgan also returns masks and deformed images for visualisation).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .paddle_compat import import_paddle

paddle = import_paddle()
import paddle.nn.functional as F  # noqa: E402
from paddle import nn  # noqa: E402
from ppgan.models.generators.occlusion_aware import OcclusionAwareGenerator  # noqa: E402
from ppgan.modules.dense_motion import DenseMotionNetwork  # noqa: E402
from ppgan.modules.first_order import AntiAliasInterpolation2d, Hourglass, UpBlock2d, make_coordinate_grid  # noqa: E402
from ppgan.modules.keypoint_detector import KPDetector  # noqa: E402

# Per-axis taps turning "nearest x2 upsample, then 3-tap conv (pad 1)" into a 4-tap stride-2
# transposed conv (pad 1): output taps [w2, w1+w2, w0+w1, w0].
_UPSAMPLE_TAPS = np.array([[0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]], dtype=np.float64)


def _separable_taps(rows: np.ndarray, cols: np.ndarray, w: np.ndarray) -> np.ndarray:
    """einsum("ak,bl,oikl->oiab", rows, cols, w) as one matrix product: numpy's einsum takes
    seconds per layer on the full-size weights, this tens of milliseconds. The small matrix goes
    first: `w2d @ kron.T` (a tall, thin product) was 3-4x slower."""
    out_c, in_c, kh, kw = w.shape
    taps: np.ndarray = np.kron(rows, cols) @ w.reshape(out_c * in_c, kh * kw).T  # kron[(a, b), (k, l)]
    return taps.T.reshape(out_c, in_c, rows.shape[0], cols.shape[0])


def _param(layer: nn.Layer, value: np.ndarray) -> Any:
    # A constant first value: the default random initialiser took seconds per export.
    p = layer.create_parameter(list(value.shape), dtype="float32",
                               default_initializer=nn.initializer.Constant(0.0))
    p.set_value(value.astype(np.float32))
    p.stop_gradient = True
    return p


def _padding(conv: nn.Conv2D) -> int:
    """The conv's symmetric padding as one int (paddle keeps int, [p, p] or [p, p, p, p])."""
    pad = conv._padding
    if isinstance(pad, int):
        return pad
    assert not isinstance(pad, str) and len(set(pad)) == 1, f"asymmetric padding {pad}"
    first = pad[0]
    assert isinstance(first, int), f"padding {pad}"
    return first


def _buffer(layer: nn.Layer, name: str, value: np.ndarray) -> None:
    layer.register_buffer(name, paddle.to_tensor(np.ascontiguousarray(value, np.float32)))


def _folded_batch_norm(norm: nn.Layer) -> tuple[np.ndarray, np.ndarray]:
    """Eval-mode BatchNorm as per-channel (scale, shift) in float64."""
    var = norm._variance.numpy().astype(np.float64)
    scale = norm.weight.numpy().astype(np.float64) / np.sqrt(var + norm._epsilon)
    shift = norm.bias.numpy().astype(np.float64) - norm._mean.numpy().astype(np.float64) * scale
    return scale, shift


class UpsampleConvTransposed(nn.Layer):
    """ppgan's UpBlock2d (nearest x2, 3x3 conv, BN, ReLU) as one transposed conv (+ ReLU).

    The upsample and conv become a 4x4 stride-2 transposed conv; the eval-mode BatchNorm folds into
    its weight and bias (under bf16 an unfused BN costs two fp32 passes over a 256x256 map).
    """

    def __init__(self, block: UpBlock2d) -> None:
        super().__init__()
        conv = block.conv
        assert list(conv._kernel_size) == [3, 3] and conv._groups == 1
        assert _padding(conv) == 1
        w = conv.weight.numpy().astype(np.float64)  # [out, in, 3, 3]
        w4 = _separable_taps(_UPSAMPLE_TAPS, _UPSAMPLE_TAPS, w).transpose(1, 0, 2, 3)  # [in, out, 4, 4]
        scale, shift = _folded_batch_norm(block.norm)
        bias = conv.bias.numpy().astype(np.float64) if conv.bias is not None else 0.0
        self.weight = _param(self, w4 * scale[None, :, None, None])
        self.bias = _param(self, bias * scale + shift)

    def forward(self, x: Any) -> Any:
        return F.relu(F.conv2d_transpose(x, self.weight, self.bias, stride=2, padding=1))


# Per output phase (even/odd row or column), the input taps of the 3-tap conv after a nearest x2
# upsample: even rows see x[i-1], x[i] with [w0, w1+w2]; odd rows see x[i], x[i+1] with [w0+w1, w2].
_PHASE_TAPS = (np.array([[1, 0, 0], [0, 1, 1]], dtype=np.float64),
               np.array([[1, 1, 0], [0, 0, 1]], dtype=np.float64))


class UpsamplePixelShuffle(nn.Layer):
    """ppgan's UpBlock2d as a 3x3 conv to 4x the channels (one per output phase) + pixel_shuffle.

    2.25x the MACs of UpsampleConvTransposed, yet ~25% faster for the whole generator under
    oneDNN bf16 (its transposed conv is slow there); slower in fp32, so only the bf16 export uses it.
    """

    def __init__(self, block: UpBlock2d) -> None:
        super().__init__()
        conv = block.conv
        assert list(conv._kernel_size) == [3, 3] and conv._groups == 1 and _padding(conv) == 1
        w = conv.weight.numpy().astype(np.float64)  # [out, in, 3, 3]
        out_c, in_c = w.shape[:2]
        kernel = np.zeros((out_c, 2, 2, in_c, 3, 3))  # pixel_shuffle's channel order: (c, a, b)
        for a in range(2):
            for b in range(2):
                taps = _separable_taps(_PHASE_TAPS[a], _PHASE_TAPS[b], w)
                kernel[:, a, b, :, a:a + 2, b:b + 2] = taps  # phase (a, b) reads rows a..a+1
        scale, shift = _folded_batch_norm(block.norm)
        bias = conv.bias.numpy().astype(np.float64) if conv.bias is not None else 0.0
        kernel *= scale[:, None, None, None, None, None]
        self.weight = _param(self, kernel.reshape(out_c * 4, in_c, 3, 3))
        self.bias = _param(self, np.repeat(bias * scale + shift, 4))

    def forward(self, x: Any) -> Any:
        return F.relu(F.pixel_shuffle(F.conv2d(x, self.weight, self.bias, padding=1), 2))


class StridedAntiAlias(nn.Layer):
    """AntiAliasInterpolation2d as one padded depthwise conv with stride 1/scale."""

    def __init__(self, aa: AntiAliasInterpolation2d) -> None:
        super().__init__()
        inv = 1 / aa.scale
        assert aa.scale < 1 and abs(inv - round(inv)) < 1e-9 and aa.ka == aa.kb
        self.stride = int(round(inv))
        self.padding = aa.ka
        self.groups = aa.groups
        self.register_buffer("weight", aa.weight)

    def forward(self, x: Any) -> Any:
        return F.conv2d(x, self.weight, stride=self.stride, padding=self.padding, groups=self.groups)


class ConvAsTransposed(nn.Layer):
    """A stride-1 conv as the equivalent conv2d_transpose (in/out swapped, kernel flipped).

    Same function; paddle's dynamic graph runs the transposed form without the huge im2col buffer
    its conv builds for 7x7 at 256x256.
    """

    def __init__(self, conv: nn.Conv2D) -> None:
        super().__init__()
        assert conv._groups == 1 and list(conv._stride) == [1, 1]
        k = conv.weight.shape[-1]
        assert conv.weight.shape[-2] == k, "square kernels only"
        pad = _padding(conv)
        w = conv.weight.numpy()[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # [in, out, k, k]
        self.weight = _param(self, np.ascontiguousarray(w))
        self.bias = conv.bias
        self.padding = k - 1 - pad

    def forward(self, x: Any) -> Any:
        return F.conv2d_transpose(x, self.weight, self.bias, padding=self.padding)


def inverse_2x2(m: Any) -> Any:
    """Closed-form inverse of [..., 2, 2] (paddle.inverse exports badly and is slow for 2x2)."""
    a, b = m[..., 0, 0], m[..., 0, 1]
    c, d = m[..., 1, 0], m[..., 1, 1]
    det = a * d - b * c
    row0 = paddle.stack([d, -b], axis=-1)
    row1 = paddle.stack([-c, a], axis=-1)
    return paddle.stack([row0, row1], axis=-2) / det.unsqueeze(-1).unsqueeze(-1)


_GRID_OFFSET = 256  # small: x + offset keeps ~3e-5 px of fraction in fp32


def grid_sample_gather(features: Any, grid: Any) -> Any:
    """F.grid_sample(bilinear, zeros padding, align_corners=True) as four row gathers.

    paddle's CPU grid_sample costs ~25 ms on the generator's 256x64x64 feature map; gathering
    channel-last rows is ~3x faster. Pixel indices are integer tensors, so oneDNN's bf16 pass
    (which turns float multiply/add into bf16) cannot round them.
    """
    channels, height, width = features.shape[1], features.shape[2], features.shape[3]
    h, w = grid.shape[1], grid.shape[2]
    # Integer part by a cast after an offset that makes x positive (cast truncates): the predictor
    # runs floor/trunc in place and then x - floor(x) reads 0. Points left of -_GRID_OFFSET pixels
    # truncate the other way but are outside the map either way (zero weight).
    x = paddle.scale(grid[..., 0], scale=0.5 * (width - 1), bias=0.5 * (width - 1) + _GRID_OFFSET)
    y = paddle.scale(grid[..., 1], scale=0.5 * (height - 1), bias=0.5 * (height - 1) + _GRID_OFFSET)
    x0i, y0i = x.astype("int64"), y.astype("int64")
    fx, fy = x - x0i.astype(x.dtype), y - y0i.astype(y.dtype)
    x0i, y0i = x0i - _GRID_OFFSET, y0i - _GRID_OFFSET
    # first row of each image in the flattened [B*H*W, C] map
    ones = paddle.ones_like(x0i[:, :1, :1])
    base = (paddle.cumsum(ones, axis=0) - 1) * (height * width)
    rows = features.transpose([0, 2, 3, 1]).reshape([-1, channels])

    def corner(xi: Any, yi: Any, weight: Any) -> Any:
        inside = (xi >= 0) & (xi <= width - 1) & (yi >= 0) & (yi <= height - 1)
        index = base + paddle.clip(yi, 0, height - 1) * width + paddle.clip(xi, 0, width - 1)
        weight = weight * inside.astype(features.dtype)
        return paddle.gather(rows, index.reshape([-1])) * weight.reshape([-1, 1])

    gx, gy = paddle.scale(fx, scale=-1.0, bias=1.0), paddle.scale(fy, scale=-1.0, bias=1.0)
    out = (corner(x0i, y0i, gx * gy) + corner(x0i + 1, y0i, fx * gy)
           + corner(x0i, y0i + 1, gx * fy) + corner(x0i + 1, y0i + 1, fx * fy))
    return out.reshape([-1, h, w, channels]).transpose([0, 3, 1, 2])


class FastHourglass(nn.Layer):
    """ppgan's Hourglass with the up blocks as transposed convs (encoder blocks shared)."""

    def __init__(self, hg: Hourglass) -> None:
        super().__init__()
        self.down_blocks = hg.encoder.down_blocks
        self.up_blocks = nn.LayerList([UpsampleConvTransposed(b) for b in hg.decoder.up_blocks])

    def forward(self, x: Any) -> Any:
        skips = [x]
        for block in self.down_blocks:
            skips.append(block(skips[-1]))
        out = skips[-1]
        for i, block in enumerate(self.up_blocks):
            out = paddle.concat([block(out), skips[-2 - i]], axis=1)
        return out


class FastDenseMotion(nn.Layer):
    """DenseMotionNetwork -> (deformation [B,h,w,2], occlusion [B,1,h,w]) at the low resolution."""

    def __init__(self, dm: DenseMotionNetwork, image_size: int) -> None:
        super().__init__()
        assert dm.occlusion is not None and dm.scale_factor != 1
        self.down = StridedAntiAlias(dm.down)
        self.hourglass = FastHourglass(dm.hourglass)
        self.mask = dm.mask
        self.occlusion = dm.occlusion
        self.num_kp = dm.num_kp
        self.kp_variance = dm.kp_variance
        size = int(round(image_size * dm.scale_factor))
        self.size = size
        axis = np.linspace(-1.0, 1.0, size, dtype=np.float64)  # make_coordinate_grid's axis
        _buffer(self, "axis_x", axis.reshape(1, 1, 1, size))
        _buffer(self, "axis_y", axis.reshape(1, 1, size, 1))
        grid = make_coordinate_grid((size, size), "float32").numpy().reshape(size * size, 2)
        homogeneous = np.concatenate([grid, np.ones((size * size, 1), np.float32)], axis=1)
        _buffer(self, "homogeneous", homogeneous.reshape(1, 1, size * size, 3))  # rows [x, y, 1]
        _buffer(self, "identity_affine", np.array([[1, 0], [0, 1], [0, 0]]).reshape(1, 1, 3, 2))

    def _heatmaps(self, kd_v: Any, ks_v: Any) -> Any:
        """Driving minus source keypoint Gaussians [B, K, h, w], each an outer product:
        exp(-0.5*|g-m|^2/var) = exp(-0.5*(y-my)^2/var) * exp(-0.5*(x-mx)^2/var)."""
        value = paddle.concat([kd_v, ks_v], axis=1)  # [B, 2K, 2]
        mx = value[:, :, 0].unsqueeze(-1).unsqueeze(-1)
        my = value[:, :, 1].unsqueeze(-1).unsqueeze(-1)
        gx = paddle.exp(-0.5 * (self.axis_x - mx) ** 2 / self.kp_variance)  # [B, 2K, 1, w]
        gy = paddle.exp(-0.5 * (self.axis_y - my) ** 2 / self.kp_variance)  # [B, 2K, h, 1]
        gaussians = paddle.matmul(gy, gx)  # [B, 2K, h, w]
        return gaussians[:, :self.num_kp] - gaussians[:, self.num_kp:]

    def _sparse_motions(self, kd_v: Any, kd_j: Any, ks_v: Any, ks_j: Any) -> Any:
        """Per keypoint (and the identity first) the affine map z -> J (z - kd) + ks on every grid
        point, as one matmul of the grid's [x, y, 1] rows: [B, K+1, h*w, 2]."""
        jac = paddle.matmul(ks_j, inverse_2x2(kd_j))  # [B, K, 2, 2]
        shift = ks_v - paddle.matmul(jac, kd_v.unsqueeze(-1)).squeeze(-1)  # [B, K, 2]
        affine = paddle.concat([jac.transpose([0, 1, 3, 2]), shift.unsqueeze(2)], axis=2)
        identity = paddle.expand_as(self.identity_affine, affine[:, :1])
        affine = paddle.concat([identity, affine], axis=1)  # [B, K+1, 3, 2]
        return paddle.matmul(self.homogeneous, affine)

    def forward(self, source: Any, kd_v: Any, kd_j: Any, ks_v: Any, ks_j: Any) -> tuple[Any, Any]:
        k1, h, w = self.num_kp + 1, self.size, self.size
        x = self.down(source)  # [B, C, h, w]
        heat = self._heatmaps(kd_v, ks_v)
        heat = paddle.concat([paddle.zeros_like(heat[:, :1]), heat], axis=1).unsqueeze(2)
        sparse = self._sparse_motions(kd_v, kd_j, ks_v, ks_j)  # [B, K+1, h*w, 2]
        channels = x.shape[1]
        src_rep = paddle.expand(x.unsqueeze(1), [-1, k1, channels, h, w])
        src_rep = src_rep.reshape([-1, channels, h, w])
        deformed = F.grid_sample(src_rep, sparse.reshape([-1, h, w, 2]), mode="bilinear",
                                 padding_mode="zeros", align_corners=True)
        deformed = deformed.reshape([-1, k1, channels, h, w])
        temp = paddle.concat([heat, deformed], axis=2).reshape([-1, k1 * (channels + 1), h, w])
        prediction = self.hourglass(temp)
        mask = F.softmax(self.mask(prediction), axis=1).reshape([-1, k1, h * w, 1])
        deformation = (sparse * mask).sum(axis=1).reshape([-1, h, w, 2])
        occlusion = F.sigmoid(self.occlusion(prediction))
        return deformation, occlusion


class FastGenerator(nn.Layer):
    """OcclusionAwareGenerator(inference=True) -> prediction only, from flat keypoint tensors."""

    def __init__(self, gen: OcclusionAwareGenerator, image_size: int = 256,
                 upsample: str = "transposed", dense_motion: FastDenseMotion | None = None) -> None:
        """upsample: "transposed" (best in fp32) or "shuffle" (best under oneDNN bf16).
        dense_motion: another FastGenerator's of the same `gen`, shared (its rewrite takes a
        second at full size and is the same for both upsamples)."""
        super().__init__()
        assert gen.dense_motion_network is not None and gen.estimate_occlusion_map
        assert gen.inference and not gen.mobile_net
        self.first = gen.first
        self.down_blocks = gen.down_blocks
        self.dense_motion = dense_motion or FastDenseMotion(gen.dense_motion_network, image_size)
        self.bottleneck = gen.bottleneck
        up_block = {"transposed": UpsampleConvTransposed, "shuffle": UpsamplePixelShuffle}[upsample]
        self.up_blocks = nn.LayerList([up_block(b) for b in gen.up_blocks])
        self.final = ConvAsTransposed(gen.final)
        size = image_size // 2 ** len(gen.down_blocks)
        # Deformation and occlusion come at the dense-motion resolution; ppgan resizes them when it
        # differs from the feature map's. vox-256 has them equal, the only case written here.
        assert size == self.dense_motion.size
        self._constants(gen.pad, size)

    def _constants(self, pad: int, size: int) -> None:
        import cv2  # the same blur ppgan's deform_input applies at every call

        vis = np.zeros((size, size), np.float32)
        vis[pad:size - pad, pad:size - pad] = 1.0
        blur = cv2.GaussianBlur(vis, (9, 9), 0.0, borderType=cv2.BORDER_ISOLATED)
        _buffer(self, "blend", blur.reshape(1, size, size, 1))
        grid = make_coordinate_grid((size, size), "float32").numpy().reshape(1, size, size, 2)
        _buffer(self, "blend_identity", (1 - blur.reshape(1, size, size, 1)) * grid)
        inner = np.zeros((1, 1, size, size), np.float32)
        inner[..., pad:size - pad, pad:size - pad] = 1.0
        _buffer(self, "occ_inner", inner)
        _buffer(self, "occ_border", 1.0 - inner)

    def encode(self, source: Any) -> Any:
        """The part that depends on the source image only (the same for every frame)."""
        out = self.first(source)
        for block in self.down_blocks:
            out = block(out)
        return out

    def decode(self, features: Any, source: Any, kd_v: Any, kd_j: Any, ks_v: Any, ks_j: Any) -> Any:
        deformation, occlusion = self.dense_motion(source, kd_v, kd_j, ks_v, ks_j)
        deformation = self.blend * deformation + self.blend_identity
        out = grid_sample_gather(features, deformation)
        out = out * (occlusion * self.occ_inner + self.occ_border)
        out = self.bottleneck(out)
        for block in self.up_blocks:
            out = block(out)
        return F.sigmoid(self.final(out))

    def forward(self, source: Any, kd_v: Any, kd_j: Any, ks_v: Any, ks_j: Any) -> Any:
        return self.decode(self.encode(source), source, kd_v, kd_j, ks_v, ks_j)

    def feature_shape(self) -> list[int]:
        """[C, h, w] of `encode`'s output."""
        channels = self.down_blocks[-1].conv.weight.shape[0]
        return [channels, self.dense_motion.size, self.dense_motion.size]


class GeneratorEncoder(nn.Layer):
    """FastGenerator.encode as its own layer, for export."""

    def __init__(self, generator: FastGenerator) -> None:
        super().__init__()
        self.generator = generator

    def output_shape(self) -> list[int]:
        return self.generator.feature_shape()

    def forward(self, source: Any) -> Any:
        return self.generator.encode(source)


class GeneratorDecoder(nn.Layer):
    """FastGenerator.decode as its own layer, for export."""

    def __init__(self, generator: FastGenerator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, features: Any, source: Any, kd_v: Any, kd_j: Any, ks_v: Any, ks_j: Any) -> Any:
        return self.generator.decode(features, source, kd_v, kd_j, ks_v, ks_j)


class FastKPDetector(nn.Layer):
    """KPDetector -> (value [B,K,2], jacobian [B,K,2,2])."""

    def __init__(self, kp: KPDetector, image_size: int = 256) -> None:
        super().__init__()
        assert kp.jacobian is not None and kp.scale_factor != 1 and kp.num_jacobian_maps > 1
        self.down = StridedAntiAlias(kp.down)
        self.predictor = FastHourglass(kp.predictor)
        self.kp = kp.kp
        self.jacobian = kp.jacobian
        self.temperature = kp.temperature
        k = kp.kp._kernel_size[0]
        pad = _padding(kp.kp)
        size = int(round(image_size * kp.scale_factor)) - k + 1 + 2 * pad
        self.num_kp = kp.kp.weight.shape[0]
        self.hw = size * size
        grid = make_coordinate_grid((size, size), "float32").numpy().reshape(size * size, 2)
        _buffer(self, "grid", grid)

    def forward(self, x: Any) -> tuple[Any, Any]:
        feature_map = self.predictor(self.down(x))
        heat = self.kp(feature_map).reshape([-1, self.num_kp, self.hw])
        heat = F.softmax(heat / self.temperature, axis=2)  # [B, K, hw]
        value = paddle.matmul(heat, self.grid)  # [B, K, 2]
        jac_map = self.jacobian(feature_map).reshape([-1, self.num_kp, 4, self.hw])
        jacobian = (heat.unsqueeze(2) * jac_map).sum(axis=-1).reshape([-1, self.num_kp, 2, 2])
        return value, jacobian
