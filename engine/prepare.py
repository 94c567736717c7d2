"""Ready before the first user: load (and if needed export) the model, then compute every
template's driving motion, reporting progress.

The bot calls `prepare` at start-up while it already answers; `python -m engine prepare` does the
same ahead of time (an image build step, an init container), so that a restart finds both in
`[engine].cache_dir` and is ready in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import EngineError, RenderCancelled

if TYPE_CHECKING:
    from .cancel import CancelToken
    from .engine import Engine
    from .templates import Template

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
            cancel: CancelToken | None = None) -> PrepareReport:
    """Load the model (exporting it if needed), then compute every template's motion.

    Raises what `engine.load()` raises (CheckpointMissing, EngineError): nothing renders without
    the model. A template that fails is reported in its TemplateReport and the rest go on.
    `cancelled` is polled between steps; `cancel` (a CancelToken) also stops a template's motion
    mid-way. A cancelled preparation returns early with `cancelled=True`.
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
    report("ready", 1.0)
    return _report(engine, model_seconds, exported, done, t0)


def _report(engine: Engine, model_seconds: float, exported: bool, done: list[TemplateReport],
            t0: float, cancelled: bool = False) -> PrepareReport:
    runner = engine.runner if engine.loaded else None  # a cancel may come before the load
    return PrepareReport(
        runner=getattr(runner, "name", ""), precision=getattr(runner, "precision", ""),
        device=getattr(runner, "device", ""), fallback_reason=getattr(runner, "fallback_reason", None),
        model_seconds=model_seconds, exported=exported, templates=tuple(done),
        seconds=time.monotonic() - t0, cancelled=cancelled)
