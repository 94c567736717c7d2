"""The simulated outside of the pipeline: a Bot API double (in process: the HTTP fake is too slow
for tens of thousands of steps) with outages, slow uploads, lost answers and errors after an
accepted upload; and an engine that takes virtual time and writes a tiny file.

Every call that takes time is a gate (tests/pipeline/sim_world.py); what the world does at that
moment (record an accepted upload, check who holds the job) is the Effects the simulation gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

from telegram.error import NetworkError, TimedOut

from engine import CancelToken, EngineError, RenderCancelled, RenderResult
from pipeline.paths import job_id_of
from tests.pipeline.sim_world import CLAIM, HERE, ProcessDied, World


class Effects(Protocol):
    """What the simulation does when a fake makes something happen outside the database."""

    async def output(self, what: str, job_id: int, claim: Any) -> None:
        """An engine result (render, conversion, template) for `job_id` is about to be written by
        the work of `claim`."""

    async def accepted(self, job_key: int, how: str, claim: Any) -> None:
        """Telegram took an upload for the job sent as a reply to message `job_key`; `how`: "clean"
        (the sender gets the answer) or why the sender will not know ("answer lost", ...)."""

    def poison(self, job_id: int) -> bool:
        """Whether rendering this job kills the process (out of memory, a native crash)."""

    def cursed(self, job_key: int) -> bool:
        """Whether every upload of this job ends in an unexpected error after Telegram took it."""


@dataclass
class Telegram:
    """The state of the simulated Bot API."""

    down_until: float = 0.0
    slow_until: float = 0.0
    lost_answer_p: float = 0.03  # an upload accepted whose answer never arrives (connection reset)
    calls: int = 0
    uploads: int = 0
    edits: list[tuple[int, int, str]] = field(default_factory=list)

    def down(self, t: float) -> bool:
        return t < self.down_until

    def slow(self, t: float) -> bool:
        return t < self.slow_until


def _message(file_id: str) -> SimpleNamespace:
    media = SimpleNamespace(file_id=file_id)
    return SimpleNamespace(message_id=1, video=media, video_note=media, sticker=media, animation=media)


class FakeFile:
    def __init__(self, file_id: str) -> None:
        self.file_id = file_id

    async def download_to_drive(self, target: Path | str) -> Path:
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8 simulated photo " + self.file_id.encode())
        return path


class FakeBot:
    """The parts of telegram.Bot the stages call."""

    username = "sim_bot"

    def __init__(self, world: World, telegram: Telegram, effects: Effects) -> None:
        self.world = world
        self.tg = telegram
        self.effects = effects
        self._files = 0

    def _refuse_if_down(self) -> None:
        self.tg.calls += 1
        if self.tg.down(self.world.t):
            raise NetworkError("Bad Gateway")

    async def get_file(self, file_id: str, **_: Any) -> FakeFile:
        rng = self.world.rng
        self.tg.calls += 1
        if self.tg.down(self.world.t):
            delay = rng.uniform(0.5, 5.0)

            async def refused() -> FakeFile:
                raise NetworkError("Bad Gateway")

            return await self.world.gate(delay, refused, "getFile")
        delay = rng.uniform(0.2, 3.0) if not self.tg.slow(self.world.t) else rng.uniform(10.0, 60.0)

        async def answered() -> FakeFile:
            return FakeFile(file_id)

        return await self.world.gate(delay, answered, "getFile")

    async def _upload(self, reply_parameters: Any, read_timeout: float | None) -> SimpleNamespace:
        world, rng = self.world, self.world.rng
        self.tg.calls += 1
        self.tg.uploads += 1
        key = int(reply_parameters.message_id) if reply_parameters is not None else 0
        timeout = float(read_timeout or 300.0)
        if self.tg.down(world.t):
            async def refused() -> SimpleNamespace:
                raise NetworkError("Bad Gateway")

            return await world.gate(rng.uniform(0.5, 5.0), refused, "upload refused")
        took = rng.uniform(1.0, 8.0) if not self.tg.slow(world.t) else rng.uniform(30.0, 900.0)
        if took > timeout:  # the answer comes after the sender gave up: maybe it went through
            went_through = rng.random() < 0.5
            claim_then = CLAIM.get()

            async def timed_out() -> SimpleNamespace:
                if went_through:
                    await self.effects.accepted(key, "answer after the timeout", claim_then)
                raise TimedOut()

            return await world.gate(timeout, timed_out, "upload timed out")
        lost = rng.random() < self.tg.lost_answer_p
        dies = rng.random() < 0.01  # the process is killed between Telegram's answer and the commit
        self._files += 1
        file_id = f"file-{key}-{self._files}"

        here, claim = HERE.get(), CLAIM.get()

        async def accepted() -> SimpleNamespace:
            if self.effects.cursed(key):
                await self.effects.accepted(key, "unexpected error after the upload", claim)
                raise OSError("simulated: shared storage went away while the answer was read")
            if lost:
                await self.effects.accepted(key, "answer lost", claim)
                raise NetworkError("Connection reset by peer")
            if dies:
                await self.effects.accepted(key, "process died before recording it", claim)
                if here is not None:
                    world.kill(here.host)
                raise ProcessDied()
            await self.effects.accepted(key, "clean", claim)
            return _message(file_id)

        return await world.gate(took, accepted, "upload")

    async def send_video(self, chat_id: int, video: Any, *, reply_parameters: Any = None,
                         read_timeout: float | None = None, **_: Any) -> SimpleNamespace:
        return await self._upload(reply_parameters, read_timeout)

    async def send_video_note(self, chat_id: int, video_note: Any, *, reply_parameters: Any = None,
                              read_timeout: float | None = None, **_: Any) -> SimpleNamespace:
        return await self._upload(reply_parameters, read_timeout)

    async def send_sticker(self, chat_id: int, sticker: Any, *, reply_parameters: Any = None,
                           read_timeout: float | None = None, **_: Any) -> SimpleNamespace:
        return await self._upload(reply_parameters, read_timeout)

    async def send_animation(self, chat_id: int, animation: Any, *, reply_parameters: Any = None,
                             read_timeout: float | None = None, **_: Any) -> SimpleNamespace:
        return await self._upload(reply_parameters, read_timeout)

    async def send_message(self, chat_id: int, text: str, **_: Any) -> SimpleNamespace:
        self._refuse_if_down()
        return SimpleNamespace(message_id=2, text=text)

    async def edit_message_text(self, text: str, chat_id: int | None = None, message_id: int | None = None,
                                **_: Any) -> bool:
        self._refuse_if_down()
        self.tg.edits.append((int(chat_id or 0), int(message_id or 0), text))
        if len(self.tg.edits) > 200:
            del self.tg.edits[:100]
        return True

    async def send_chat_action(self, chat_id: int, action: str, **_: Any) -> bool:
        self._refuse_if_down()
        return True


def _job_of(path: Path) -> int:
    """The job a file belongs to: data/tmp/<job id>/... or a result file (pipeline.paths)."""
    if path.parent.name.isdigit():
        return int(path.parent.name)
    job_id = job_id_of(path)
    assert job_id is not None, f"not a job's file: {path}"
    return job_id


class FakeEngine:
    """engine.Engine's render calls (and, patched in, convert and import_template): they take
    virtual time, may fail as the engine can, and write a tiny file."""

    def __init__(self, world: World, effects: Effects) -> None:
        self.world = world
        self.effects = effects

    async def _run(self, what: str, job_id: int, seconds: float, cancel: CancelToken | None,
                   out: Path | None) -> None:
        rng = self.world.rng
        fails = rng.random() < 0.04  # ffmpeg failed or got stuck: maybe not next time
        here, claim = HERE.get(), CLAIM.get()

        async def finished() -> None:
            if what == "render" and self.effects.poison(job_id) and here is not None:
                self.world.note(f"job {job_id}: its render kills {here.host.name}")
                self.world.kill(here.host)
                raise ProcessDied()
            if cancel is not None and cancel.cancelled:
                raise RenderCancelled("cancelled")
            if fails:
                raise EngineError("simulated: ffmpeg exited with 1")
            await self.effects.output(what, job_id, claim)
            if out is not None:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(b"simulated " + what.encode())

        await self.world.gate(seconds, finished, what)

    async def render(self, photo: Path, template: Any, out: Path, options: Any, progress: Any,
                     cancel: CancelToken | None = None) -> RenderResult:
        return await self._render(out, cancel, 1)

    async def render_grid(self, photos: list[Path], template: Any, out: Path, options: Any, progress: Any,
                          cancel: CancelToken | None = None, max_tiles: int = 9) -> RenderResult:
        return await self._render(out, cancel, len(photos))

    async def _render(self, out: Path, cancel: CancelToken | None, faces: int) -> RenderResult:
        seconds = self.world.rng.uniform(5.0, 170.0)
        await self._run("render", _job_of(out), seconds, cancel, out)
        return RenderResult(path=out, width=64, height=64, duration=1.0, frames=10, faces=faces, seconds=seconds)

    async def convert(self, render: Path, kind: Any, out: Path, faces: Any = None,
                      cancel: CancelToken | None = None) -> SimpleNamespace:
        await self._run("conversion", _job_of(out), self.world.rng.uniform(1.0, 40.0), cancel, out)
        return SimpleNamespace(path=out, width=64, height=64, duration=1.0)

    async def import_template(self, video: Path, title: str, templates_dir: Path, engine: Any = None,
                              min_seconds: float = 1.0, max_seconds: float = 30.0, **kwargs: Any) -> SimpleNamespace:
        job_id = _job_of(video)
        await self._run("template", job_id, self.world.rng.uniform(5.0, 60.0), kwargs.get("cancel"), None)
        return SimpleNamespace(id=f"imported-{job_id}", title_for=lambda lang: title)
