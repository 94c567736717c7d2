"""ppgan's FOMM networks with the vox-256 hyper-parameters, loaded from PaddleGAN's checkpoint.

The checkpoint is PaddleGAN's `vox-cpk.pdparams`: `paddle.load` gives
{"generator": state_dict, "kp_detector": state_dict}.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckpointMissing, EngineError
from .paddle_compat import import_paddle

# The defaults of ppgan.apps.first_order_predictor.FirstOrderPredictor (vox-256, not mobile).
VOX256: dict[str, Any] = {
    "common_params": {"num_kp": 10, "num_channels": 3, "estimate_jacobian": True},
    "kp_detector_cfg": {
        "temperature": 0.1,
        "block_expansion": 32,
        "max_features": 1024,
        "scale_factor": 0.25,
        "num_blocks": 5,
    },
    "generator_cfg": {
        "block_expansion": 64,
        "max_features": 512,
        "num_down_blocks": 2,
        "num_bottleneck_blocks": 6,
        "estimate_occlusion_map": True,
        "dense_motion_params": {
            "block_expansion": 64,
            "max_features": 1024,
            "num_blocks": 5,
            "scale_factor": 0.25,
        },
    },
}
IMAGE_SIZE = 256  # FOMM vox-256 works on 256x256 RGB in 0..1
NUM_KP = VOX256["common_params"]["num_kp"]
WEIGHTS_FETCH_HINT = "run `python -m engine weights fetch`"


@dataclass
class Networks:
    kp_detector: Any  # ppgan.modules.keypoint_detector.KPDetector, eval mode
    generator: Any  # ppgan.models.generators.occlusion_aware.OcclusionAwareGenerator, eval mode
    config: dict[str, Any]


def build_networks(config: dict[str, Any] = VOX256) -> Networks:
    """Randomly initialised networks (eval mode) with the given hyper-parameters."""
    import_paddle()
    from ppgan.models.generators.occlusion_aware import OcclusionAwareGenerator
    from ppgan.modules.keypoint_detector import KPDetector

    generator = OcclusionAwareGenerator(**config["generator_cfg"], **config["common_params"],
                                        inference=True)
    kp_detector = KPDetector(**config["kp_detector_cfg"], **config["common_params"])
    generator.eval()
    kp_detector.eval()
    return Networks(kp_detector=kp_detector, generator=generator, config=config)


def _load_state(layer: Any, state: Any, name: str, path: Path) -> None:
    if not isinstance(state, dict):
        raise EngineError(f"checkpoint {path} has no '{name}' weights")
    expected = layer.state_dict()
    missing = [k for k in expected if k not in state]
    wrong = [k for k in expected if k in state and list(state[k].shape) != list(expected[k].shape)]
    if missing or wrong:
        bad = (missing or wrong)[0]
        raise EngineError(f"checkpoint {path} does not fit the vox-256 {name} (e.g. '{bad}')")
    layer.set_state_dict(state)


def load_networks(checkpoint: Path, config: dict[str, Any] = VOX256) -> Networks:
    """Build the networks and load PaddleGAN's checkpoint; clear errors for missing/corrupt files."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise CheckpointMissing(f"checkpoint not found at {checkpoint}: {WEIGHTS_FETCH_HINT}")
    paddle = import_paddle()
    try:
        state = paddle.load(str(checkpoint))
    except Exception as exc:  # paddle raises many kinds for a truncated/garbage file
        raise EngineError(f"checkpoint {checkpoint} is unreadable ({type(exc).__name__}); "
                          f"{WEIGHTS_FETCH_HINT} again") from exc
    if not isinstance(state, dict):
        raise EngineError(f"checkpoint {checkpoint} is not a PaddleGAN FOMM checkpoint")
    nets = build_networks(config)
    _load_state(nets.generator, state.get("generator"), "generator", checkpoint)
    _load_state(nets.kp_detector, state.get("kp_detector"), "kp_detector", checkpoint)
    return nets


def save_checkpoint(nets: Networks, path: Path) -> None:
    """Write `nets` in PaddleGAN's layout (used by tests and benchmarks for a random checkpoint)."""
    paddle = import_paddle()
    path.parent.mkdir(parents=True, exist_ok=True)
    paddle.save({"generator": nets.generator.state_dict(),
                 "kp_detector": nets.kp_detector.state_dict()}, str(path))
