"""Keypoint normalisation on numpy equals ppgan's paddle version; best frame."""

from __future__ import annotations

import numpy as np
import pytest

from engine.model.paddle_compat import import_paddle
from engine.motion import best_frame, normalize_kp

paddle = import_paddle()


def _kp(rng, n):
    value = rng.uniform(-0.8, 0.8, (n, 10, 2)).astype(np.float32)
    jac = (np.eye(2) + rng.normal(0, 0.2, (n, 10, 2, 2))).astype(np.float32)
    return value, jac


@pytest.mark.parametrize("relative, adapt", [(True, True), (True, False), (False, False)])
def test_matches_ppgan_normalize_kp(relative, adapt):
    from ppgan.utils.animate import normalize_kp as ppgan_normalize

    rng = np.random.default_rng(3)
    src, drv, init = _kp(rng, 1), _kp(rng, 6), _kp(rng, 1)
    t = lambda k: {"value": paddle.to_tensor(k[0]), "jacobian": paddle.to_tensor(k[1])}  # noqa: E731
    expected = ppgan_normalize(t(src), t(drv), t(init), adapt_movement_scale=adapt,
                               use_relative_movement=relative, use_relative_jacobian=relative)
    value, jac = normalize_kp((src[0][0], src[1][0]), drv, (init[0][0], init[1][0]),
                              relative=relative, adapt_scale=adapt)
    np.testing.assert_allclose(value, expected["value"].numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(jac, expected["jacobian"].numpy(), rtol=1e-4, atol=1e-5)


def test_best_frame_finds_the_same_pose_up_to_shift_and_scale():
    rng = np.random.default_rng(5)
    frames = rng.uniform(-0.8, 0.8, (20, 10, 2)).astype(np.float32)
    source = frames[13] * 0.5 + 0.1  # same layout, smaller and moved
    assert best_frame(source, frames) == 13
