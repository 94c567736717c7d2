"""Export time for OpenVINO: the Paddle Inference export (engine/model/export.py) converted to
OpenVINO IR, Paddle program (PIR .json) -> paddle2onnx -> OpenVINO IR (`.xml`/`.bin`, fp32 weights),
checked against the same reference frame. OpenVINO's own Paddle frontend reads only the old
`.pdmodel` programs, not Paddle 3's PIR `.json`, hence paddle2onnx. The generator is re-traced with
a fixed batch (`[engine].batch_size`): its dynamic-batch ONNX does not compile in OpenVINO
("to_shape was called on a dynamic shape"). Needs Paddle, paddle2onnx and OpenVINO; the running
(engine/model/runner_openvino.py) needs OpenVINO alone.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
import warnings
from pathlib import Path

from .errors import OpenVinoUnavailable
from .networks import Networks
from .reference import REFERENCE
from .runner_openvino import MODELS, VERSION, OpenVinoRunner, check, import_openvino, is_complete

log = logging.getLogger(__name__)


def convert(networks: Networks, paddle_dir: Path, target: Path, batch: int) -> Path:
    """Convert a Paddle Inference export (engine/model/export.py) into OpenVINO IR in
    `target`, atomically; the generator is re-traced with a fixed batch. Raises
    OpenVinoUnavailable when a step fails or the fp32 model misses the reference."""
    if is_complete(target):
        return target
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        tmp.mkdir()
        _export_fixed_generator(networks, tmp / "paddle", batch)
        sources = {"kp_detector": paddle_dir / "kp_detector", "encoder": paddle_dir / "encoder",
                   "generator": tmp / "paddle" / "generator"}
        for name, prefix in sources.items():
            _to_ir(prefix, tmp / f"{name}.xml", tmp / f"{name}.onnx")
        shutil.rmtree(tmp / "paddle")
        shutil.copy(paddle_dir / REFERENCE, tmp / REFERENCE)
        quality = check(OpenVinoRunner(tmp, "fp32"), strict=True)
        (tmp / "manifest.json").write_text(json.dumps(
            {"version": VERSION, "batch": batch, "models": list(MODELS),
             "fp32_reference_db": round(quality, 2)}, indent=1))
        try:
            os.rename(tmp, target)
        except OSError:
            if not is_complete(target):
                raise
    except OpenVinoUnavailable:
        raise
    except Exception as exc:
        raise OpenVinoUnavailable(f"converting to OpenVINO failed: {type(exc).__name__}: "
                                  f"{' '.join(str(exc).split())[:200]}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted FOMM to OpenVINO IR in %s (%.1f s)", target, time.monotonic() - started)
    for old in target.parent.glob(f"v*-{target.name.split('-')[1]}-b*"):
        if old != target and old.name.split("-b")[-1] == str(batch):
            shutil.rmtree(old, ignore_errors=True)
    return target


def _export_fixed_generator(networks: Networks, prefix_dir: Path, batch: int) -> None:
    from .paddle_compat import import_paddle

    paddle = import_paddle()
    from paddle.static import InputSpec

    from .networks import IMAGE_SIZE, NUM_KP
    from .rewrites import FastGenerator, GeneratorDecoder, GeneratorEncoder

    generator = FastGenerator(networks.generator, IMAGE_SIZE, "transposed")
    feature = [batch, *GeneratorEncoder(generator).output_shape()]
    value, jacobian = [batch, NUM_KP, 2], [batch, NUM_KP, 2, 2]
    spec = [InputSpec(feature, "float32", "features"),
            InputSpec([batch, 3, IMAGE_SIZE, IMAGE_SIZE], "float32", "source"),
            InputSpec(value, "float32", "kd_value"), InputSpec(jacobian, "float32", "kd_jacobian"),
            InputSpec(value, "float32", "ks_value"), InputSpec(jacobian, "float32", "ks_jacobian")]
    layer = GeneratorDecoder(generator)
    layer.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        static = paddle.jit.to_static(layer, input_spec=spec, full_graph=True)
        paddle.jit.save(static, str(prefix_dir / "generator"))


def _to_ir(prefix: Path, xml: Path, onnx_file: Path) -> None:
    import contextlib
    import io

    import paddle2onnx

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paddle2onnx.export(str(prefix) + ".json", str(prefix) + ".pdiparams", str(onnx_file),
                           opset_version=17, enable_onnx_checker=True, enable_optimize=False,
                           optimize_tool="none")
    # OpenVINO's own ONNX reader, not `ovc.convert_model`: the same frames (save_model applies the
    # same offline passes), a third of the time, and no usage telemetry, which convert_model sends
    # to Google Analytics by default (forking the exporting process for each event).
    ov = import_openvino()
    model = ov.Core().read_model(str(onnx_file))
    ov.save_model(model, str(xml), compress_to_fp16=False)  # fp32 weights: the gates compare to them
    onnx_file.unlink()
