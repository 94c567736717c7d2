"""What the pipeline needs of the engine, and nothing more: the `Renderer` protocol.

The stages, the template jobs and the bot's intake hold a `Renderer`, never an `engine.Engine`:
`EngineRenderer` is the real one (FOMM on Paddle/OpenVINO, built from settings by
`renderer_from_settings`); the tests run most of the pipeline on a fake one (tests/fake_engine.py)
that writes real, small videos without the networks. Every call that passes more than the
subject of the call passes keyword arguments, so a wrapper never has to unpick a positional one.

Conversions (engine.convert) are plain ffmpeg, not the model: the conversion stage calls them
directly and they are not part of this seam.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from engine import CancelToken, Engine, EngineStatus, RenderOptions, RenderResult, Template
from engine.from_settings import make_engine
from engine.tools.prepare import PrepareReport, prepare
from settings import Settings

Progress = Callable[[float], None]  # a render's fraction done, 0..1, from the render thread
PrepareProgress = Callable[[str, float], None]  # (the step, the fraction 0..1 of all of it)


class Renderer(Protocol):
    """A photo (or several) + a template -> a video file; the templates' motion prepared ahead.

    Blocking calls (the stages run them in a thread). Errors are engine.EngineError subclasses:
    NoFaceFound, BadImage, GridTooSmall, TemplateMissing, RenderCancelled after `cancel.cancel()`..."""

    @property
    def status(self) -> EngineStatus:
        """Loading, ready, degraded or failed, with the runner's name (for /healthz and metrics)."""
        ...

    def prepare(self, templates: Sequence[Template], *, progress: PrepareProgress | None = None,
                cancel: CancelToken | None = None) -> PrepareReport:
        """Load the model, then every template's motion (the start-up preparation). Raises what
        loading raises; a template that fails is reported and the rest go on."""
        ...

    def prepare_template(self, template: Template, cancel: CancelToken | None = None) -> None:
        """Compute and cache one template's motion (an import); RenderCancelled when cancelled."""
        ...

    def forget_template(self, template: Template) -> int:
        """Drop a template's motion from memory and the disk cache; how many cache files went."""
        ...

    def render(self, photo: bytes | Path, template: Template, out_path: Path, *, options: RenderOptions,
               progress: Progress | None = None, cancel: CancelToken | None = None) -> RenderResult:
        """One photo's faces animated by the template, with its sound, as an MP4 at out_path."""
        ...

    def render_grid(self, photos: Sequence[bytes | Path], template: Template, out_path: Path, *,
                    options: RenderOptions, max_tiles: int, progress: Progress | None = None,
                    cancel: CancelToken | None = None) -> RenderResult:
        """Several photos' largest faces in one grid video."""
        ...


class EngineRenderer:
    """The real engine behind the protocol (engine.Engine and engine.prepare)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def status(self) -> EngineStatus:
        return self.engine.status

    def prepare(self, templates: Sequence[Template], *, progress: PrepareProgress | None = None,
                cancel: CancelToken | None = None) -> PrepareReport:
        return prepare(self.engine, templates, progress, cancel=cancel)

    def prepare_template(self, template: Template, cancel: CancelToken | None = None) -> None:
        self.engine.prepare_template(template, cancel)

    def forget_template(self, template: Template) -> int:
        return self.engine.forget_template(template)

    def render(self, photo: bytes | Path, template: Template, out_path: Path, *, options: RenderOptions,
               progress: Progress | None = None, cancel: CancelToken | None = None) -> RenderResult:
        return self.engine.render(photo, template, out_path, options=options, progress=progress, cancel=cancel)

    def render_grid(self, photos: Sequence[bytes | Path], template: Template, out_path: Path, *,
                    options: RenderOptions, max_tiles: int, progress: Progress | None = None,
                    cancel: CancelToken | None = None) -> RenderResult:
        return self.engine.render_grid(photos, template, out_path, options=options, progress=progress,
                                       cancel=cancel, max_tiles=max_tiles)


def renderer_from_settings(settings: Settings) -> Renderer:
    """The real engine as [engine] configures it (not loaded yet: `prepare` loads it)."""
    return EngineRenderer(make_engine(settings))
