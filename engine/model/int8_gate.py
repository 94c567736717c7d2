"""int8 for the OpenVINO generator, kept only behind a measured quality gate.

NNCF's post-training quantization is calibrated on the installed templates' own motion (each
template's first frame animated by its keypoints, every other sampled frame), then the int8
generator's frames are compared with the fp32 generator's on the held-out frames between them.
It is used only when the worst of those frames is at least THRESHOLD_DB from fp32: 38 dB is about
where an 8-bit video frame's own rounding noise lies (a uniform ±0.5/255 error is ~59 dB, x264 at
the render's quality ~40 dB), so int8 that passes adds less than the encoder already does. On a
random checkpoint int8 typically fails (the weights have no structure for the ranges to fit; ~25 dB
measured), which is the gate doing its job.

The result (figure, threshold, templates, used or not) is written to
`<openvino model dir>/int8/gate.json`, per checkpoint; `python -m engine doctor` prints it and the
runner reads it (engine/model/runner_openvino.py). Nothing here imports Paddle.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .precision import INT8_DIR, read_int8_gate
from .quality import psnr
from .runner_openvino import OpenVinoRunner

log = logging.getLogger(__name__)

Batch = dict[str, np.ndarray]  # the generator's inputs by name, one fixed batch

THRESHOLD_DB = 38.0
SAMPLES_PER_TEMPLATE = 16  # frames taken evenly from each template: half calibrate, half judge


@dataclass(frozen=True)
class Sample:
    """One template: its first frame (the source) and the keypoints of frames to animate it by."""
    template: str
    source: np.ndarray  # [3, 256, 256] float32 0..1
    kp_source: tuple[np.ndarray, np.ndarray]  # [10, 2], [10, 2, 2]
    kp_driving: tuple[np.ndarray, np.ndarray]  # [N, 10, 2], [N, 10, 2, 2]


def _batches(runner: OpenVinoRunner, sample: Sample, rows: np.ndarray) -> list[Batch]:
    """Generator inputs (fixed batch, padded) for the given driving rows of a sample."""
    b = runner.batch
    features = runner.source_features(sample.source[None])[0]
    out = []
    for start in range(0, len(rows), b):
        idx = rows[start:start + b]
        idx = np.concatenate([idx, np.repeat(idx[-1:], b - len(idx))]) if len(idx) < b else idx
        out.append({"features": np.repeat(features[None], b, 0),
                    "source": np.repeat(sample.source[None], b, 0),
                    "kd_value": sample.kp_driving[0][idx], "kd_jacobian": sample.kp_driving[1][idx],
                    "ks_value": np.repeat(sample.kp_source[0][None], b, 0),
                    "ks_jacobian": np.repeat(sample.kp_source[1][None], b, 0)})
    return out


def split(runner: OpenVinoRunner, samples: Sequence[Sample]) -> tuple[list[Batch], list[Batch]]:
    """(calibration batches, held-out batches): even and odd sampled frames of every template."""
    calibration: list[Batch] = []
    held_out: list[Batch] = []
    for sample in samples:
        n = len(sample.kp_driving[0])
        rows = np.unique(np.linspace(0, n - 1, min(n, SAMPLES_PER_TEMPLATE)).round().astype(int))
        calibration += _batches(runner, sample, rows[0::2])
        if len(rows) > 1:
            held_out += _batches(runner, sample, rows[1::2])
    return calibration, held_out or calibration


def quantize(fp32: OpenVinoRunner, calibration: Sequence[Batch]) -> Path:
    """NNCF post-training quantization of the generator -> `<dir>/int8/generator.xml`."""
    import nncf
    import nncf.telemetry.decorator
    import openvino as ov
    from nncf.telemetry.wrapper import NNCFTelemetryStub

    # NNCF sends usage telemetry to Google Analytics unless told otherwise (its opt-out is a file in
    # the user's home, or its CI variable); the bot quantizes on the operator's host, quietly.
    nncf.telemetry.decorator.telemetry = NNCFTelemetryStub()

    directory = fp32.directory / INT8_DIR
    directory.mkdir(exist_ok=True)
    started = time.monotonic()
    model = ov.Core().read_model(str(fp32.directory / "generator.xml"))
    quantized = nncf.quantize(model, nncf.Dataset(list(calibration)), subset_size=len(calibration),
                              fast_bias_correction=True)
    tmp = directory / f".generator.{os.getpid()}.{uuid.uuid4().hex[:6]}"
    ov.save_model(quantized, str(tmp) + ".xml", compress_to_fp16=False)
    for ext in (".bin", ".xml"):  # .xml last: its presence means the pair is whole
        os.replace(str(tmp) + ext, directory / f"generator{ext}")
    log.info("int8 generator quantized on %d batches in %.1f s", len(calibration),
             time.monotonic() - started)
    return directory / "generator.xml"


def judge(fp32: OpenVinoRunner, held_out: Sequence[Batch], templates: Sequence[str],
          threshold: float = THRESHOLD_DB) -> dict[str, Any]:
    """Compare the int8 generator with fp32 on the held-out frames; write and return the gate.
    A refused int8 model is deleted (the figure stays in gate.json)."""
    int8 = OpenVinoRunner(fp32.directory, "int8")
    worst = 200.0
    for batch in held_out:
        a, b = int8.generate_features(batch), fp32.generate_features(batch)
        worst = min(worst, min(psnr(x, y) for x, y in zip(a, b, strict=True)))
    gate = {"psnr": round(worst, 2), "threshold": threshold, "used": worst >= threshold,
            "templates": sorted(templates), "frames": len(held_out) * fp32.batch,
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    directory = fp32.directory / INT8_DIR
    if not gate["used"]:
        for ext in (".xml", ".bin"):
            (directory / f"generator{ext}").unlink(missing_ok=True)
    tmp = directory / f".gate.{os.getpid()}.json"
    tmp.write_text(json.dumps(gate, indent=1))
    os.replace(tmp, directory / "gate.json")
    log.info("int8 gate: worst held-out frame %.1f dB against fp32 (threshold %.0f dB): %s",
             worst, threshold, "used" if gate["used"] else "refused, fp32/bf16 kept")
    return gate


def calibrate(fp32: OpenVinoRunner, samples: Sequence[Sample], threshold: float = THRESHOLD_DB,
              force: bool = False) -> dict[str, Any] | None:
    """Quantize and judge once per checkpoint (cached in gate.json, which names the templates it
    was calibrated on); `force` does it again (say after the templates changed)."""
    if not samples:
        return None
    templates = sorted(s.template for s in samples)
    known = read_int8_gate(fp32.directory)
    if not force and known and known.get("threshold") == threshold:
        return known
    calibration, held_out = split(fp32, samples)
    try:
        quantize(fp32, calibration)
        return judge(fp32, held_out, templates, threshold)
    except Exception:
        shutil.rmtree(fp32.directory / INT8_DIR, ignore_errors=True)
        raise
