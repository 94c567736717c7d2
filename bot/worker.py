"""The render worker: one endless task, one job at a time, jobs claimed from SQLite in FIFO order.

The engine runs in a thread (asyncio.to_thread) so the event loop keeps answering everyone while a
render is under way. A lock makes "one render at a time on the GPU" explicit, template imports
included. Stopping (SIGTERM) asks the engine to stop between batches and puts the job back in line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from pathlib import Path

from telegram import Bot

from bot import metrics
from bot.delivery import DeliveryRefused, RetryPolicy, VideoReply, deliver_job, upload_action, with_retries
from bot.paths import render_path, tmp_dir
from bot.status_messages import StatusMessage
from bot.texts import t
from engine import (
    BadImage,
    BadTemplateVideo,
    Engine,
    EngineError,
    ImageTooLarge,
    ImageTooSmall,
    NoFaceFound,
    RenderCancelled,
    RenderOptions,
    Template,
    TemplateMissing,
    import_template,
    load_template,
)
from settings import Settings
from storage import Database, Job, JobKind, jobs

log = logging.getLogger(__name__)


def render_options(settings: Settings) -> RenderOptions:
    e = settings.engine
    return RenderOptions(relative=e.relative, adapt_scale=e.adapt_scale, best_frame=e.best_frame,
                         max_faces=e.max_faces, max_side=e.max_side)


class Worker:
    def __init__(self, bot: Bot, db: Database, engine: Engine, settings: Settings, *,
                 status_interval: float = 3.0, idle_poll: float = 5.0,
                 retry: RetryPolicy = RetryPolicy()) -> None:
        self.bot = bot
        self.db = db
        self.engine = engine
        self.settings = settings
        self.status_interval = status_interval
        self.idle_poll = idle_poll
        self.retry = retry
        self.options = render_options(settings)
        self.lock = asyncio.Lock()  # exactly one render (or template import) at a time
        self.current_job_id: int | None = None
        self._wake = asyncio.Event()
        self._cancel: set[int] = set()
        self._stopping = False
        self._progress = 0.0
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="render-worker")

    async def stop(self, timeout: float = 60.0) -> None:
        """Stop taking jobs; a running render is stopped between batches and re-queued."""
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=timeout)
        if not done:  # e.g. a delivery stuck in flood waits: the job stays 'delivering', re-sent next start
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def wake(self) -> None:
        self._wake.set()

    def request_cancel(self, job_id: int) -> None:
        self._cancel.add(job_id)

    # --- loop ------------------------------------------------------------------------------
    async def _run(self) -> None:
        if not self.engine.loaded:
            try:
                await asyncio.to_thread(self.engine.load)
            except Exception as err:  # a broken checkpoint surfaces as whatever paddle raises
                log.error("engine failed to load, no renders will run: %r", err)
                return
        while not self._stopping:
            self._wake.clear()  # before claiming, so an enqueue during the claim is not missed
            try:
                job = await jobs.claim_next(self.db)
            except Exception:
                log.exception("claiming a job failed")
                await asyncio.sleep(self.idle_poll)
                continue
            if job is None:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.idle_poll)
                except TimeoutError:
                    pass
                continue
            async with self.lock:
                try:
                    await self._process(job)
                except Exception:  # e.g. the database went away mid-job: keep the worker alive
                    log.exception("job %s: bookkeeping failed; it is re-queued at the next start", job.id)
        log.info("worker stopped")

    async def _process(self, job: Job) -> None:
        self.current_job_id = job.id
        self._progress = 0.0
        metrics.JOBS.labels("running").inc()
        log.info("job %s claimed (%s, template %s, chat %s)", job.id, job.kind, job.template_id, job.chat_id)
        work = tmp_dir(self.settings.storage.data_dir, job.id)
        try:
            shutil.rmtree(work, ignore_errors=True)  # leftovers of a run killed mid-way
            work.mkdir(parents=True, exist_ok=True)
            if job.kind == JobKind.TEMPLATE_IMPORT:
                await self._import(job, work)
            else:
                await self._render(job, work)
        except Exception:
            log.exception("job %s failed unexpectedly", job.id)
            await self._fail(job, self._status(job), "error", "internal error")
        finally:
            shutil.rmtree(work, ignore_errors=True)  # temp files go, whatever the outcome
            self._cancel.discard(job.id)
            self.current_job_id = None
            await self._update_queue_gauge()

    # --- renders ---------------------------------------------------------------------------
    async def _render(self, job: Job, work: Path) -> None:
        status = self._status(job)
        lang = job.language
        try:
            template = load_template(job.template_id or "", self.settings.templates.dir)
        except TemplateMissing:
            await self._fail(job, status, "template_gone", "template missing")
            return
        title = template.title_for(lang)
        if job.from_cache and job.result_file_id:  # a cache answer a crash interrupted: resend, no render
            await self._deliver(job, status, title, job.result_file_id, None, None, None)
            return
        final = Path(job.result_path) if job.result_path else None
        if final is not None and final.is_file():
            log.info("job %s already rendered, delivering %s", job.id, final.name)
            width, height, duration = job.result_width, job.result_height, job.result_duration
        else:
            rendered = await self._render_file(job, template, title, status, work)
            if rendered is None:
                return
            final, width, height, duration = rendered
        await self._deliver(job, status, title, final, width, height, duration)

    async def _render_file(self, job: Job, template: Template, title: str, status: StatusMessage,
                           work: Path) -> tuple[Path, int, int, float] | None:
        lang = job.language
        await status.show(t(lang, "rendering", pct=0, title=title), force=True)
        photo = work / "photo"
        if not await self._download(job, photo, status):
            return None
        reporter = asyncio.create_task(self._report(job, status, title))
        try:
            result = await asyncio.to_thread(
                self.engine.render, photo, template, work / "render.mp4", self.options,
                self._on_progress, lambda: self._should_stop(job.id),
            )
        except RenderCancelled:
            if job.id in self._cancel:
                await jobs.mark_cancelled(self.db, job.id)
                metrics.JOBS.labels("cancelled").inc()
                log.info("job %s cancelled by its owner", job.id)
                await status.final(t(lang, "cancelled"), job.source_message_id)
            else:
                await jobs.requeue(self.db, job.id)
                log.info("job %s re-queued: shutting down", job.id)
            return None
        except NoFaceFound:
            await self._fail(job, status, "no_face", "no face")
            return None
        except (BadImage, ImageTooLarge, ImageTooSmall) as err:
            await self._fail(job, status, "bad_image", str(err))
            return None
        except TemplateMissing:
            await self._fail(job, status, "template_gone", "template missing")
            return None
        except EngineError as err:
            await self._fail(job, status, "render_failed", str(err))
            return None
        finally:
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)
        final = render_path(self.settings.storage.data_dir, job.id)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(result.path, final)
        metrics.RENDER_SECONDS.observe(result.seconds)
        if result.seconds > 0:
            metrics.RENDER_FPS.observe(result.frames / result.seconds)
        await jobs.mark_rendered(self.db, job.id, path=str(final), width=result.width, height=result.height,
                                 duration=result.duration, seconds=result.seconds)
        log.info("job %s rendered: %d frames, %d face(s), %.1fs", job.id, result.frames, result.faces,
                 result.seconds)
        return final, result.width, result.height, result.duration

    def _on_progress(self, fraction: float) -> None:  # called from the render thread
        self._progress = max(0.0, min(1.0, fraction))

    def _should_stop(self, job_id: int) -> bool:  # polled from the render thread between batches
        return self._stopping or job_id in self._cancel

    async def _report(self, job: Job, status: StatusMessage, title: str) -> None:
        """While rendering: the status message shows the percentage, the chat shows 'sending video'."""
        last_action = float("-inf")
        # A chat action lasts 5 s. Groups allow a bot about 20 messages a minute, edits and actions
        # included, so there the action is refreshed less often.
        action_every = 4.5 if job.chat_id > 0 else 15.0
        while True:
            await status.show(t(job.language, "rendering", pct=int(self._progress * 100), title=title))
            if time.monotonic() - last_action >= action_every:
                last_action = time.monotonic()
                await upload_action(self.bot, job.chat_id)
            await asyncio.sleep(min(1.0, self.status_interval))

    async def _deliver(self, job: Job, status: StatusMessage, title: str, video: Path | str,
                       width: int | None, height: int | None, duration: float | None) -> None:
        lang = job.language
        await status.show(t(lang, "sending", title=title), force=True)
        await upload_action(self.bot, job.chat_id)
        reply = VideoReply(job.chat_id, job.source_message_id, t(lang, "caption", title=title), width, height, duration)

        async def migrated(new_chat_id: int) -> None:
            await jobs.migrate_chat(self.db, job.chat_id, new_chat_id)
            status.chat_id = new_chat_id

        if await deliver_job(self.bot, self.db, job.id, reply, video, self.retry, migrated) is None:
            await status.final(t(lang, "delivery_failed"), job.source_message_id)
            return
        await status.show(t(lang, "done", title=title), force=True)  # the video itself says it

    # --- template imports (admins) -----------------------------------------------------------
    async def _import(self, job: Job, work: Path) -> None:
        status = self._status(job)
        lang = job.language
        video = work / "video.mp4"
        if not await self._download(job, video, status):
            return
        lim = self.settings.limits
        try:
            template = await asyncio.to_thread(
                import_template, video, job.template_title or "template", self.settings.templates.dir,
                self.engine, lim.template_min_seconds, lim.template_max_seconds,
            )
        except EngineError as err:  # BadTemplateVideo, NoFaceFound...: the engine's reason, verbatim
            reason = str(err) if isinstance(err, (BadTemplateVideo, NoFaceFound)) else "processing failed"
            await self._fail(job, status, "template_refused", str(err), reason=reason)
            return
        await jobs.set_template(self.db, job.id, template.id)
        await jobs.mark_done(self.db, job.id)
        metrics.JOBS.labels("done").inc()
        log.info("job %s imported template %s", job.id, template.id)
        await status.final(t(lang, "template_added", title=template.title_for(lang), id=template.id),
                           job.source_message_id)

    # --- helpers -----------------------------------------------------------------------------
    def _status(self, job: Job) -> StatusMessage:
        # Groups (negative ids) get half the edit rate: their 20-a-minute budget is shared.
        interval = self.status_interval if job.chat_id > 0 else 2 * self.status_interval
        return StatusMessage(self.bot, job.chat_id, job.status_message_id, interval)

    async def _download(self, job: Job, target: Path, status: StatusMessage) -> bool:
        async def fetch() -> None:
            file = await self.bot.get_file(job.input_file_id)
            await file.download_to_drive(target)

        try:
            await with_retries(fetch, self.retry, f"job {job.id} download")
            return True
        except DeliveryRefused as err:
            await self._fail(job, status, "download_failed", f"download: {err}")
            return False

    async def _fail(self, job: Job, status: StatusMessage, key: str, error: str, **values: object) -> None:
        await jobs.mark_failed(self.db, job.id, f"{key}: {error}" if key != error else key)
        metrics.JOBS.labels("failed").inc()
        log.info("job %s failed: %s (%s)", job.id, key, error)
        await status.final(t(job.language, key, **values), job.source_message_id)

    async def _update_queue_gauge(self) -> None:
        try:
            metrics.QUEUE_LENGTH.set(await jobs.queue_length(self.db))
        except Exception:  # a metric is never worth a crash
            log.debug("queue gauge not updated", exc_info=True)
