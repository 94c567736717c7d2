"""Export: FOMM traced once per checkpoint into a Paddle Inference model.

The rewritten networks (engine/model/rewrites.py) are traced with `paddle.jit.to_static` and saved
under `cache_dir/inference/v<RUNNER_VERSION>-pd<paddle version>-<checkpoint sha256>/`; later
processes load that directly (engine/model/runner_inference.py). The paddle version is in the name
because the saved program format is paddle's own (Paddle 3 writes PIR `.json` programs, 2.6 wrote
`.pdmodel`): a cache written by another paddle (a shared volume, an upgrade) is never loaded, this
paddle exports its own. Paddle 2.x cannot run these exports at all; the runner then says so in its
`fallback_reason` (engine/model/choose.py). The export and its reference frame
(engine/model/reference.py) are computed on the CPU whatever the device (engine/model/device.py
`on_cpu`), so the export never depends on a GPU's TF32.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

from ..hashing import sha256_file
from .errors import ExportError, one_line
from .networks import IMAGE_SIZE, NUM_KP, Networks
from .paddle_compat import import_paddle
from .reference import write_reference
from .runner_inference import InferenceRunner, check_accuracy

log = logging.getLogger(__name__)

# Bump whenever rewrites.py or the exported signatures change: old caches are then ignored.
RUNNER_VERSION = "5"
_MODELS = ("kp_detector", "encoder", "generator", "generator_bf16")
MIN_PADDLE_MAJOR = 3  # exports are PIR programs (.json) that Paddle 2.x neither writes nor reads

NetworksSource = Networks | Callable[[], Networks]


def resolve_networks(networks: NetworksSource) -> Networks:
    return networks() if callable(networks) else networks


def checkpoint_digest(checkpoint: Path) -> str:
    """sha256 of the checkpoint (hashed once per process; the engine's keypoint caches share it)."""
    return sha256_file(checkpoint)


def paddle_version() -> str:
    return str(import_paddle().__version__)


def model_dir(cache_dir: Path, digest: str, paddle: str | None = None) -> Path:
    """Where this runner version and `paddle` (default: the running one) keep a checkpoint's export."""
    version = paddle or paddle_version()
    return Path(cache_dir) / "inference" / f"v{RUNNER_VERSION}-pd{version}-{digest[:24]}"


def is_complete(directory: Path) -> bool:
    return (directory / "manifest.json").is_file()


def exports_by_other_paddles(cache_dir: Path, digest: str) -> list[str]:
    """Paddle versions that exported this checkpoint into cache_dir, other than the running one."""
    current = model_dir(cache_dir, digest)
    found = set()
    for directory in (Path(cache_dir) / "inference").glob(f"v*-{digest[:24]}"):
        if directory == current or not is_complete(directory):
            continue
        try:
            found.add(str(json.loads((directory / "manifest.json").read_text())["paddle"]))
        except (OSError, ValueError, KeyError, TypeError):
            found.add("unknown")
    return sorted(found)


def check_paddle_version() -> None:
    """ExportError naming the fix when this paddle cannot export or load the compiled model."""
    version = paddle_version()
    try:
        major = int(version.split(".")[0])
    except ValueError:
        return  # not a release number: let it try
    if 0 < major < MIN_PADDLE_MAJOR:  # 0: a develop build, which reports 0.0.0
        raise ExportError(f"Paddle {version} cannot export or load the compiled model (PIR .json "
                          f"programs need Paddle {MIN_PADDLE_MAJOR}): install Paddle "
                          f"{MIN_PADDLE_MAJOR} (requirements-cpu.txt, or the Dockerfile's GPU wheel)")


def export_models(networks: Networks, target: Path) -> Path:
    """Trace the rewritten networks and save them into `target` atomically (tmp dir + rename)."""
    if is_complete(target):
        return target
    paddle = import_paddle()
    from paddle.static import InputSpec

    from .rewrites import FastGenerator, FastKPDetector, GeneratorDecoder, GeneratorEncoder

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    started = time.monotonic()
    try:
        generator = FastGenerator(networks.generator, IMAGE_SIZE, "transposed")
        generator_bf16 = FastGenerator(networks.generator, IMAGE_SIZE, "shuffle", generator.dense_motion)
        kp_detector = FastKPDetector(networks.kp_detector, IMAGE_SIZE)
        image = InputSpec([None, 3, IMAGE_SIZE, IMAGE_SIZE], "float32", "source")
        value = [None, NUM_KP, 2]
        jacobian = [None, NUM_KP, 2, 2]
        encoder = GeneratorEncoder(generator)
        feature_shape = [None, *encoder.output_shape()]
        decoder_spec = [InputSpec(feature_shape, "float32", "features"), image,
                        InputSpec(value, "float32", "kd_value"),
                        InputSpec(jacobian, "float32", "kd_jacobian"),
                        InputSpec(value, "float32", "ks_value"),
                        InputSpec(jacobian, "float32", "ks_jacobian")]
        specs = {
            "kp_detector": (kp_detector, [InputSpec(image.shape, "float32", "frames")]),
            "encoder": (encoder, [image]),
            "generator": (GeneratorDecoder(generator), decoder_spec),
            "generator_bf16": (GeneratorDecoder(generator_bf16), decoder_spec),
        }
        with warnings.catch_warnings():  # tracing warns about PIR internals, nothing to act on
            warnings.simplefilter("ignore")
            for name, (layer, spec) in specs.items():
                layer.eval()
                static = paddle.jit.to_static(layer, input_spec=spec, full_graph=True)
                paddle.jit.save(static, str(tmp / name))
        write_reference(tmp, networks)  # on the CPU: load_inference_runner holds on_cpu()
        # fp32 on CPU must match here, before the export is published in the cache
        check_accuracy(InferenceRunner(tmp, "cpu", "fp32"), tmp)
        manifest = {"runner_version": RUNNER_VERSION, "paddle": paddle.__version__,
                    "models": list(_MODELS), "feature_shape": feature_shape[1:]}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        try:
            os.rename(tmp, target)
        except OSError:
            if not is_complete(target):  # another process did not win the race: a real error
                raise
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(f"exporting the FOMM networks failed: {type(exc).__name__}: "
                          f"{one_line(exc)}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("exported FOMM to %s in %.1f s", target, time.monotonic() - started)
    _remove_stale_versions(target)
    return target



def _remove_stale_versions(current: Path) -> None:
    """Exports of the same checkpoint by older runner versions or other paddles are dead weight
    (~330 MB each) once this one is in place."""
    digest = current.name.rsplit("-", 1)[1]
    for old in current.parent.glob(f"v*-{digest}"):
        if old != current and is_complete(old):
            shutil.rmtree(old, ignore_errors=True)
