"""Loading PaddleGAN's checkpoint layout into ppgan's vox-256 networks."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import CheckpointMissing, EngineError
from engine.model.networks import SMALL, VOX256, load_networks
from engine.model.paddle_compat import import_paddle
from engine.model.runner_dygraph import DygraphRunner

paddle = import_paddle()
# The full-size checkpoint is built on one worker (test_openvino.py's full-size export shares it).
pytestmark = pytest.mark.xdist_group("full_size")


@pytest.fixture(scope="module")
def networks(random_checkpoint):
    return load_networks(random_checkpoint)


def test_checkpoint_round_trips_into_the_networks(networks, random_checkpoint):
    state = paddle.load(str(random_checkpoint))
    assert set(state) == {"generator", "kp_detector"}
    for name, layer in (("generator", networks.generator), ("kp_detector", networks.kp_detector)):
        loaded = layer.state_dict()
        key = next(iter(state[name]))
        np.testing.assert_array_equal(loaded[key].numpy(), state[name][key].numpy())
    assert networks.config is VOX256


def test_a_small_checkpoint_loads_as_the_small_configuration(small_checkpoint):
    small = load_networks(small_checkpoint)
    assert small.config is SMALL
    state = paddle.load(str(small_checkpoint))
    key = next(iter(state["generator"]))
    np.testing.assert_array_equal(small.generator.state_dict()[key].numpy(), state["generator"][key].numpy())
    frames = np.random.default_rng(0).random((1, 3, 256, 256), dtype=np.float32)
    value, jacobian = DygraphRunner(small).keypoints(frames)
    assert value.shape == (1, 10, 2) and jacobian.shape == (1, 10, 2, 2)  # the full size's outputs


def test_dygraph_runner_shapes(networks):
    runner = DygraphRunner(networks)
    frames = np.random.default_rng(0).random((2, 3, 256, 256), dtype=np.float32)
    value, jacobian = runner.keypoints(frames)
    assert value.shape == (2, 10, 2) and jacobian.shape == (2, 10, 2, 2)
    assert value.dtype == np.float32 and np.all(np.abs(value) <= 1.0)
    pred = runner.generate(frames[:1], (value[:1], jacobian[:1]), (value[1:], jacobian[1:]))
    assert pred.shape == (1, 3, 256, 256) and pred.dtype == np.float32
    assert 0.0 <= pred.min() and pred.max() <= 1.0


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointMissing, match="weights fetch"):
        load_networks(tmp_path / "absent.pdparams")


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "garbage.pdparams"
    bad.write_bytes(b"\x00not a pickle" * 100)
    with pytest.raises(EngineError, match="unreadable") as err:
        load_networks(bad)
    assert not isinstance(err.value, CheckpointMissing)


def test_wrong_layout_is_a_clear_error(tmp_path):
    other = tmp_path / "other.pdparams"
    paddle.save({"generator": {"w": paddle.ones([2])}}, str(other))
    with pytest.raises(EngineError, match="does not fit|no 'kp_detector'"):
        load_networks(other)
