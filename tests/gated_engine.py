"""Gates for the tests that keep the real engine, and the engine of the process harnesses.

The fake engine (tests/fake_engine.py) has its gates built in; `GatedRenderer` puts the same gates
in front of any Renderer (the real engine's `EngineRenderer` in the end-to-end runs), so a test can
hold a render open for as long as it needs (instead of hoping the render is slower than a few
HTTP round trips). Every call through the Renderer protocol passes keyword arguments: nothing to
unpick.

Across processes (tests/gated_bot.py, tests/gated_worker.py): `--gate DIR` gives a FileGate; the
render is held until the test creates DIR/open. The harnesses render with the fake engine unless
their command line says `--real-engine`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine import CancelToken, EngineStatus, RenderOptions, RenderResult, Template
from engine.tools.prepare import PrepareReport
from pipeline.renderer import Renderer
from tests.fake_engine import FakeEngine, FileGate, Gate

__all__ = ["FileGate", "Gate", "GatedRenderer", "gated_process_args", "process_engine"]


class GatedRenderer:
    """Delegates to the wrapped Renderer; `render` and `render_grid` first wait at the gate (in the
    render thread, where the stage's cancel token still stops them). With a `prepare_gate`, so does
    `prepare_template` (start-up preparation and template imports)."""

    def __init__(self, inner: Renderer, gate: Gate, prepare_gate: Gate | None = None) -> None:
        self._inner = inner
        self.gate = gate
        self.prepare_gate = prepare_gate

    @property
    def status(self) -> EngineStatus:
        return self._inner.status

    def prepare(self, templates: Sequence[Template], *, progress: Callable[[str, float], None] | None = None,
                cancel: CancelToken | None = None) -> PrepareReport:
        return self._inner.prepare(templates, progress=progress, cancel=cancel)

    def prepare_template(self, template: Template, cancel: CancelToken | None = None) -> None:
        if self.prepare_gate is not None:
            self.prepare_gate.wait(cancel)
        self._inner.prepare_template(template, cancel)

    def forget_template(self, template: Template) -> int:
        return self._inner.forget_template(template)

    def render(self, photo: bytes | Path, template: Template, out_path: Path, *, options: RenderOptions,
               progress: Callable[[float], None] | None = None, cancel: CancelToken | None = None) -> RenderResult:
        self.gate.wait(cancel)
        return self._inner.render(photo, template, out_path, options=options, progress=progress, cancel=cancel)

    def render_grid(self, photos: Sequence[bytes | Path], template: Template, out_path: Path, *,
                    options: RenderOptions, max_tiles: int, progress: Callable[[float], None] | None = None,
                    cancel: CancelToken | None = None) -> RenderResult:
        self.gate.wait(cancel)
        return self._inner.render_grid(photos, template, out_path, options=options, max_tiles=max_tiles,
                                       progress=progress, cancel=cancel)


def _is_a_renderer(renderer: GatedRenderer) -> Renderer:
    return renderer  # mypy holds GatedRenderer to the protocol here


def _take(argv: list[str], flag: str, value: bool) -> tuple[str | None, list[str]]:
    """`flag VALUE` (or a bare `flag` when not `value`) taken out of argv."""
    if flag not in argv:
        return None, argv
    at = argv.index(flag)
    if value:
        return argv[at + 1], argv[:at] + argv[at + 2:]
    return flag, argv[:at] + argv[at + 1:]


def gated_process_args(argv: list[str]) -> tuple[FileGate, bool, list[str], Any]:
    """For tests/gated_bot.py and tests/gated_worker.py: `--gate DIR` and `--real-engine` taken out of
    the command line; returns the gate, whether the real engine renders, the rest of the arguments,
    and the settings their `--config` names."""
    from settings import load_settings

    gate_dir, rest = _take(argv, "--gate", True)
    real, rest = _take(rest, "--real-engine", False)
    assert gate_dir is not None, "--gate DIR is required"
    return FileGate(Path(gate_dir)), real is not None, rest, load_settings(rest[rest.index("--config") + 1])


def process_engine(settings: Any, gate: FileGate, real: bool) -> Renderer:
    """The harness's renderer: the fake engine with its gate, or the real one behind a GatedRenderer,
    with paddle imported here as the process's main does for its own engine: after the logging is
    set up (paddle's import adds a root handler of its own, which would keep setup_logging from
    adding the stderr one) and before the process hooks its stop signals."""
    if not real:
        return FakeEngine.from_settings(settings, gate=gate)
    from engine.model.paddle_compat import import_paddle
    from ops.log_masking import setup_logging
    from pipeline.renderer import renderer_from_settings

    setup_logging(settings.logging.level, settings.telegram.token)
    import_paddle(settings.engine.threads)
    return GatedRenderer(renderer_from_settings(settings), gate)
