"""Ready before the first user: load (and if needed export) the model, then compute every
template's driving motion, reporting progress.

The bot calls `prepare` at start-up while it already answers; `python -m engine prepare` does the
same ahead of time (an image build step, an init container), so that a restart finds both in
`[engine].cache_dir` and is ready in seconds.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import EngineError, RenderCancelled

if TYPE_CHECKING:
    from ..cancel import CancelToken
    from ..engine import Engine
    from ..templates import Template

Progress = Callable[[str, float], None]  # (what is being done now, fraction 0..1 of all of it)


@dataclass(frozen=True)
class TemplateReport:
    id: str
    seconds: float
    computed: bool  # False: the motion came from the disk cache (or memory)
    error: str | None = None  # one line when this template could not be prepared


@dataclass(frozen=True)
class PrepareReport:
    runner: str  # e.g. "inference-cpu-bf16"
    precision: str
    device: str
    fallback_reason: str | None  # None on the fast path
    model_seconds: float
    exported: bool  # this call exported the compiled model (a cold start)
    templates: tuple[TemplateReport, ...]
    seconds: float  # everything, model included
    cancelled: bool = False
    int8: str | None = None  # the int8 gate's verdict in one line (OpenVINO on the CPU only)

    @property
    def warm(self) -> bool:
        """Nothing had to be exported or computed: everything came from the cache."""
        return not self.exported and not any(t.computed for t in self.templates)

    @property
    def failed(self) -> tuple[TemplateReport, ...]:
        return tuple(t for t in self.templates if t.error is not None)


def exported_models(cache_dir: Path) -> set[Path]:
    """The complete compiled-model exports in cache_dir (one folder each)."""
    return {p.parent for p in (Path(cache_dir) / "inference").glob("*/manifest.json")}


def _motion_files(cache_dir: Path) -> set[Path]:
    return set((Path(cache_dir) / "driving").glob("*.npz"))


def prepare(engine: Engine, templates: Iterable[Template], progress: Progress | None = None,
            cancelled: Callable[[], bool] | None = None,
            cancel: CancelToken | None = None, int8: bool = False) -> PrepareReport:
    """Load the model (exporting it if needed), then compute every template's motion.

    Raises what `engine.load()` raises (CheckpointMissing, EngineError): nothing renders without
    the model. A template that fails is reported in its TemplateReport and the rest go on.
    `cancelled` is polled between steps; `cancel` (a CancelToken) also stops a template's motion
    mid-way. A cancelled preparation returns early with `cancelled=True`. With `int8` (the CLI's
    `python -m engine prepare`, not the bot's start-up) int8 is calibrated and judged once per
    checkpoint (engine/model/int8_gate.py: minutes, so never on a bot's start).
    """
    templates = list(templates)
    steps = len(templates) + 1
    report = progress or (lambda what, fraction: None)

    def stop() -> bool:
        return bool((cancelled is not None and cancelled()) or (cancel is not None and cancel.cancelled))

    t0 = time.monotonic()
    before = exported_models(engine.cache_dir)
    report("loading the model", 0.0)
    if stop():
        return _report(engine, 0.0, False, [], t0, cancelled=True)
    engine.load()
    model_seconds = time.monotonic() - t0
    exported = bool(exported_models(engine.cache_dir) - before)
    runner = engine.runner
    report(f"model ready: {runner.name}", 1 / steps)

    done: list[TemplateReport] = []
    for i, template in enumerate(templates, start=1):
        if stop():
            return _report(engine, model_seconds, exported, done, t0, cancelled=True)
        report(f"preparing template {template.id}", i / steps)
        started, files = time.monotonic(), _motion_files(engine.cache_dir)
        error = None
        try:
            engine.prepare_template(template, cancel)
        except RenderCancelled:
            return _report(engine, model_seconds, exported, done, t0, cancelled=True)
        except EngineError as exc:
            error = " ".join(str(exc).split()) or type(exc).__name__
        computed = bool(_motion_files(engine.cache_dir) - files)
        done.append(TemplateReport(template.id, time.monotonic() - started, computed, error))
    verdict = None
    if int8 and not stop() and engine.precision in ("auto", "int8"):
        report("int8 quality gate", 1.0)
        verdict = int8_verdict(engine, [t for t, d in zip(templates, done) if d.error is None])
    report("ready", 1.0)
    return dataclasses.replace(_report(engine, model_seconds, exported, done, t0), int8=verdict)


def int8_verdict(engine: Engine, templates: list[Template]) -> str | None:
    """Calibrate and judge int8 once per checkpoint on the OpenVINO runner (engine/model/int8_gate.py);
    one line for the report, None where int8 does not apply (Paddle, GPU, nncf missing)."""
    import importlib.util

    from ..model.runner_openvino import OpenVinoRunner

    runner = engine.runner
    if not isinstance(runner, OpenVinoRunner) or importlib.util.find_spec("nncf") is None:
        return None
    from ..face_crop import SIZE
    from ..model.int8_gate import Sample, calibrate
    from ..video_io import read_frames

    samples = []
    for template in templates:
        motion = engine.motion(template)
        first = next(read_frames(template.video, SIZE, motion.crop, max_frames=1), None)
        if first is None:
            continue
        samples.append(Sample(
            template.id, (first.astype("float32") / 255).transpose(2, 0, 1),
            (motion.value[0], motion.jacobian[0]), (motion.value, motion.jacobian)))
    fp32 = runner if runner.precision == "fp32" else OpenVinoRunner(runner.directory, "fp32")
    try:
        gate = calibrate(fp32, samples)
    except Exception as exc:  # int8 is an extra: a failure leaves fp32/bf16 as they are
        return f"int8 not calibrated: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
    if gate is None:
        return None
    return (f"int8 {'used' if gate['used'] else 'refused'}: worst frame {gate['psnr']:.1f} dB "
            f"against fp32 (gate {gate['threshold']:.0f} dB)")


def _report(engine: Engine, model_seconds: float, exported: bool, done: list[TemplateReport],
            t0: float, cancelled: bool = False) -> PrepareReport:
    runner = engine.runner if engine.loaded else None  # a cancel may come before the load
    return PrepareReport(
        runner=getattr(runner, "name", ""), precision=getattr(runner, "precision", ""),
        device=getattr(runner, "device", ""), fallback_reason=getattr(runner, "fallback_reason", None),
        model_seconds=model_seconds, exported=exported, templates=tuple(done),
        seconds=time.monotonic() - t0, cancelled=cancelled)
