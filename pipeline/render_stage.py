"""The render stage: claim → download → render → hand over, one job at a time under the render lock.

It never sends a video: a finished render becomes a `delivering` job for pipeline/delivery_stage.py, so
a slow chat or a flood wait never keeps the GPU idle. Template imports and deletions are GPU-side
work too and run here, under the same lock (pipeline/template_jobs.py).

The stage holds a lease on the job it works on (renewed every heartbeat, pipeline/stage_base.py) so
that a stage in another process can take over the job of one that died; in the one-box set-up the
bot releases its own leases at start-up instead (storage.jobs.release_all_leases).

The engine runs in a thread (asyncio.to_thread): the event loop keeps answering everyone while a
render is under way. A job's CancelToken stops it between batches and kills its ffmpeg at once.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from telegram import Bot

from engine import (
    BadImage,
    CancelToken,
    Engine,
    EngineError,
    GridTooSmall,
    ImageTooLarge,
    ImageTooSmall,
    NoFaceFound,
    RenderCancelled,
    RenderOptions,
    RenderResult,
    TemplateMissing,
    list_templates,
)
from engine.prepare import prepare
from i18n.texts import t
from ops import metrics
from pipeline import own_templates, template_jobs
from pipeline.job_run import CANCEL_LEASE_LOST, CANCEL_OWNER, CANCEL_SHUTDOWN, JobRun, tell_owners_failed
from pipeline.paths import render_path, tmp_dir
from pipeline.render_choices import effective_options, render_notes
from pipeline.stage_base import Lease, Stage
from pipeline.status_messages import StatusMessage
from pipeline.telegram_calls import chat_action
from pipeline.tuning import Tuning
from settings import Settings
from storage import Database, JobKind, jobs
from storage.jobs import ClaimedJob, JobRecord
from storage.models import RENDER_STAGE_KINDS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Readiness:
    """What the stage is doing before it can render (for /healthz)."""

    step: str
    fraction: float  # 0..1
    ready: bool = False


class RenderStage(Stage):
    name = "render stage"
    kinds = RENDER_STAGE_KINDS

    def __init__(self, *, bot: Bot, db: Database, engine: Engine, settings: Settings, options: RenderOptions,
                 tuning: Tuning, owner: str, on_handed_over: Callable[[], None]) -> None:
        super().__init__(db=db, settings=settings, tuning=tuning, owner=owner, concurrency=1,
                         lease_seconds=settings.queue.render_lease_seconds, max_attempts=settings.limits.max_attempts)
        self.bot = bot
        self.engine = engine
        self.options = options
        self.on_handed_over = on_handed_over
        self.lock = asyncio.Lock()  # exactly one render (or template import/delete) at a time
        self.readiness = Readiness("loading the model", 0.0)
        self.current: JobRun | None = None
        self._progress = 0.0
        self._preparing = CancelToken()  # stops the start-up preparation on a shutdown

    def interrupt(self) -> None:
        """A shutdown: the running job stops at its next batch and goes back in line."""
        self._preparing.cancel(CANCEL_SHUTDOWN)
        if self.current is not None:
            self.current.token.cancel(CANCEL_SHUTDOWN)

    def cancel(self, job_id: int) -> bool:
        """Stop this job now if it is the one in progress here (its owner asked)."""
        run = self.current
        if run is None or run.job.id != job_id:
            return False
        run.token.cancel(CANCEL_OWNER)
        return True

    async def claim(self, job_id: int | None = None) -> ClaimedJob | None:
        return await jobs.claim_render(self.db, self.owner, self.lease_seconds, max_attempts=self.max_attempts,
                                       job_id=job_id)

    def make_lease(self, job: ClaimedJob) -> Lease:
        def fire(reason: str) -> None:
            run = self.current
            if run is not None and run.job.id == job.id:
                run.token.cancel(reason)

        return Lease(self.db, job, self.lease_seconds, self.tuning.heartbeat,
                     on_lost=lambda: fire(CANCEL_LEASE_LOST), on_cancel_requested=lambda: fire(CANCEL_OWNER))

    async def tell_given_up(self, given_up: Sequence[JobRecord]) -> None:
        await tell_owners_failed(self.bot, given_up, self.tuning, "render_failed_attempts", n=self.max_attempts)

    def _new_run(self, job: ClaimedJob) -> JobRun:
        return JobRun(job=job, bot=self.bot, db=self.db, settings=self.settings, tuning=self.tuning,
                      work=tmp_dir(self.settings.storage.data_dir, job.id),
                      status=StatusMessage.for_job(self.bot, job, self.tuning.status_interval),
                      redispatch=self.redispatch)

    async def after_error(self, job: ClaimedJob, error: Exception) -> None:
        """E.g. the database went away mid-job: back in line after a pause, or failed at the last attempt."""
        await self._new_run(job).retry_or_fail(f"internal error: {error!r}")

    async def before_first_claim(self) -> bool:
        return await self._prepare()

    async def _prepare(self) -> bool:
        """Load the model and every template's motion before the first render (the bot answers
        meanwhile; /healthz shows the progress). False when the model cannot load (nothing will
        render until it is fixed) or the stage was stopped first."""

        def progress(step: str, fraction: float) -> None:  # from the preparing thread
            self.readiness = Readiness(step, fraction)

        templates = list_templates(self.settings.templates.dir)
        try:
            report = await asyncio.to_thread(prepare, self.engine, templates, progress, cancel=self._preparing)
        except Exception:
            status = self.engine.status
            log.exception("engine failed to load, no renders will run: %s", status.detail)
            metrics.set_engine_info(status.state, status.runner, status.precision, status.device)
            self.readiness = Readiness("the model failed to load", 0.0)
            return False
        status = self.engine.status
        metrics.set_engine_info(status.state, status.runner, status.precision, status.device)
        if status.detail:
            log.warning("engine is %s: %s", status.state, status.detail)
        for failed in report.failed:  # a broken template must not keep the others from rendering
            log.warning("template %s cannot be prepared: %s", failed.id, failed.error)
        if report.cancelled:
            return False
        log.info("ready in %.1fs (%s%s)", report.seconds, status.runner, ", warm cache" if report.warm else "")
        self.readiness = Readiness("ready", 1.0, ready=True)
        return True

    async def work(self, job: ClaimedJob, lease: Lease) -> None:
        """One job under the render lock: claimed → (downloaded → rendered → handed over) or ended."""
        run = self._new_run(job)
        async with self.lock:
            started = time.monotonic()
            self.current = run
            metrics.job_entered("running", job.kind)
            metrics.render_started(job.kind, job.attempts, job.created_at, job.started_at)
            log.info("job %s claimed (%s, attempt %d, template %s, chat %s)", job.id, job.kind, job.attempts,
                     job.template_id, job.chat_id)
            try:
                shutil.rmtree(run.work, ignore_errors=True)  # leftovers of a run killed mid-way
                run.work.mkdir(parents=True, exist_ok=True)
                await self._run_by_kind(run)
            finally:
                shutil.rmtree(run.work, ignore_errors=True)  # temp files go, whatever the outcome
                self.current = None
                metrics.RENDER_BUSY_SECONDS.inc(time.monotonic() - started)
                await self._update_queue_gauge()

    async def _run_by_kind(self, run: JobRun) -> None:
        if run.job.kind == JobKind.TEMPLATE_IMPORT:
            await template_jobs.import_template_job(run, self.engine)
        elif run.job.kind == JobKind.OWN_TEMPLATE:
            await template_jobs.import_own_template_job(run, self.engine)
        elif run.job.kind == JobKind.TEMPLATE_DELETE:
            await template_jobs.delete_template_job(run, self.engine)
        else:
            await self._render_job(run)

    # --- renders -----------------------------------------------------------------------------
    async def _render_job(self, run: JobRun) -> None:
        """A render (one photo) or a grid (several): download, render, hand over."""
        job, lang = run.job, run.lang
        try:
            template = own_templates.load_job_template(self.settings, job.template_id or "")
        except TemplateMissing:
            await run.fail("template_gone", "template missing")
            return
        title = job.template_title or template.title_for(lang)
        await run.status.show(t(lang, "rendering", pct=0, title=title), force=True)
        if job.kind == JobKind.GRID:
            inputs = json.loads(job.inputs or "[]")
            photos = [run.work / f"photo-{n}" for n in range(1, len(inputs) + 1)]
            for path, item in zip(photos, inputs, strict=True):
                if not await run.fetch_input(path, item["file_id"]):
                    return
            render = functools.partial(self.engine.render_grid, photos, max_tiles=self.settings.limits.max_tiles)
        else:
            photo = run.work / "photo"
            if not await run.fetch_input(photo):
                return
            render = functools.partial(self.engine.render, photo)
        if await jobs.cancel_requested(self.db, job.id):  # /cancel while the photos downloaded
            run.token.cancel(CANCEL_OWNER)
        reporter = asyncio.create_task(self._report(run, title))
        try:
            result = await asyncio.to_thread(render, template, run.work / "render.mp4",
                                             effective_options(self.options, job.options), self._on_progress,
                                             run.token)
        except RenderCancelled:
            await run.stopped()
            return
        except GridTooSmall as err:
            await run.fail("grid_too_small", str(err))
            return
        except NoFaceFound:
            await run.fail("no_face", "no face")
            return
        except (BadImage, ImageTooLarge, ImageTooSmall) as err:
            await run.fail("bad_image", str(err))
            return
        except TemplateMissing:
            await run.fail("template_gone", "template missing")
            return
        except EngineError as err:  # ffmpeg failed or timed out: maybe not next time
            await run.retry_or_fail(str(err))
            return
        finally:
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)
        final = render_path(self.settings.storage.data_dir, job.id)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(result.path, final)
        metrics.RENDER_SECONDS.observe(result.seconds)
        if result.seconds > 0:
            metrics.RENDER_FPS.observe(result.frames / result.seconds)
        log.info("job %s rendered: %d frames, %d face(s), %.1fs", job.id, result.frames, result.faces,
                 result.seconds)
        await self._hand_over(run, final, result, title)

    async def _hand_over(self, run: JobRun, final: Path, result: RenderResult, title: str) -> None:
        boxes = json.dumps([[round(b.x, 1), round(b.y, 1), round(b.w, 1), round(b.h, 1)] for b in result.boxes])
        if not await jobs.hand_over(self.db, run.job, path=str(final), width=result.width,
                                    height=result.height, duration=result.duration, seconds=result.seconds,
                                    face_boxes=boxes, notes=render_notes(result)):
            log.warning("job %s: claim lost before the hand-over; its new stage delivers it", run.job.id)
            return
        metrics.job_entered("delivering", run.job.kind)
        await run.status.show(t(run.lang, "sending", title=title), force=True)
        self.on_handed_over()

    def _on_progress(self, fraction: float) -> None:  # called from the render thread
        self._progress = max(0.0, min(1.0, fraction))

    async def _report(self, run: JobRun, title: str) -> None:
        """While rendering: the status message shows the percentage, the chat shows 'sending video'."""
        self._progress = 0.0
        last_action = float("-inf")
        # A chat action lasts 5 s. Groups allow a bot about 20 messages a minute, edits and actions
        # included, so there the action is refreshed less often.
        action_every = 4.5 if run.job.chat_id > 0 else 15.0
        while True:
            await run.status.show(t(run.lang, "rendering", pct=int(self._progress * 100), title=title))
            if time.monotonic() - last_action >= action_every:
                last_action = time.monotonic()
                await chat_action(self.bot, run.status.chat_id)
            await asyncio.sleep(min(1.0, self.tuning.status_interval))

    async def _update_queue_gauge(self) -> None:
        try:
            metrics.QUEUE_LENGTH.set(await jobs.queue_length(self.db))
        except Exception:  # a metric is never worth a crash
            log.debug("queue gauge not updated", exc_info=True)
