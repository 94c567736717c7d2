"""The delivery stage: claim a finished job → send it → record the outcome. A few sends at a time,
never under the render lock. What is sent depends on the job (pipeline/result_senders.py): the video,
or a round note, a sticker, a GIF, a sticker for the user's pack.

A send that Telegram refuses for good (the user blocked the bot, a bad request) fails the job with
a notice when one can still be sent. A send that cannot get through (timeouts, network errors,
5xx, a long flood wait) past the immediate retries is parked with a growing pause and tried again
until the delivery deadline ([limits].delivery_deadline_hours after the render); meanwhile the
status message says it is waiting for Telegram.

Exactly once: 'done' and the result's file_id are one commit right after Telegram's answer. A
duplicate is still possible in two windows: the process dies between Telegram accepting the file
and that commit, or Telegram takes the upload but answers later than [telegram].upload_timeout
(the send is then retried). Both resend rather than lose the video.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import timedelta

from telegram import Bot
from telegram.constants import ChatAction

from i18n.texts import t
from ops import metrics
from pipeline.result_senders import Sent, media_of, send_result
from pipeline.retry_policy import retry_time
from pipeline.stage_base import Stage
from pipeline.status_messages import StatusMessage
from pipeline.sticker_pack import PACK_LIMIT, PackFull, UserUnknown
from pipeline.telegram_calls import TelegramRefused, TelegramUnavailable, call_with_retries, chat_action
from pipeline.tuning import Tuning
from settings import Settings
from storage import Database, Job, JobStatus, jobs
from engine import OutputKind
from storage.models import utcnow

log = logging.getLogger(__name__)

_ACTIONS = {OutputKind.VIDEO: ChatAction.UPLOAD_VIDEO, OutputKind.NOTE: ChatAction.UPLOAD_VIDEO_NOTE,
            OutputKind.STICKER: ChatAction.CHOOSE_STICKER, OutputKind.GIF: ChatAction.UPLOAD_VIDEO,
            OutputKind.PACK: ChatAction.CHOOSE_STICKER}


class DeliveryStage(Stage):
    name = "delivery stage"
    waits_in = JobStatus.DELIVERING

    def __init__(self, bot: Bot, db: Database, settings: Settings, tuning: Tuning, owner: str) -> None:
        super().__init__(db, tuning, owner, concurrency=settings.limits.deliveries_at_once)
        self.bot = bot
        self.settings = settings

    async def claim(self, job_id: int | None = None) -> Job | None:
        job = await jobs.claim_delivery(self.db, self.owner, self.tuning.delivery_lease)
        if job is None:
            metrics.DELIVERIES_PARKED.set(await jobs.parked_deliveries(self.db))
        return job

    async def work(self, job: Job) -> None:
        try:
            await self.deliver(job)
        except asyncio.CancelledError:  # stopped mid-send: free the job for the next run at once
            await asyncio.shield(self._release(job))
            raise

    async def _release(self, job: Job) -> None:
        try:
            await jobs.reschedule_delivery(self.db, job.id, self.owner, utcnow(), "stopped mid-send")
        except Exception:  # the next start releases it anyway
            log.debug("job %s: lease not released", job.id, exc_info=True)

    # --- one delivery --------------------------------------------------------------------------
    async def deliver(self, job: Job) -> None:
        """Send the job's result (its file or a cached file_id) and record what happened."""
        lang, kind = job.language, OutputKind(job.output_kind)
        status = StatusMessage.for_job(self.bot, job, self.tuning.status_interval)
        media = media_of(job)
        if media is None or (not isinstance(media, str) and not media.is_file()):
            await self._fail(job, status, "render_expired" if job.parent_job_id else "delivery_failed",
                             "the file to send is gone")
            return
        if not job.parked_tries:  # a retry keeps "waiting for Telegram" up rather than flicker back
            await status.show(t(lang, "sending", title=job.template_title or ""), force=True)
        await chat_action(self.bot, job.chat_id, _ACTIONS[kind])

        async def migrated(new_chat_id: int) -> None:
            await jobs.migrate_chat(self.db, job.chat_id, new_chat_id)
            job.chat_id = status.chat_id = new_chat_id
            # The messages this job answers and edits stayed in the old chat; their ids mean other
            # messages in the new one.
            job.source_message_id, status.message_id = 0, None

        def send() -> Awaitable[Sent]:
            return send_result(self.bot, self.db, self.settings, job, media, self.tuning.retry)

        try:
            if kind == OutputKind.PACK:  # retried inside, call by call: an add is never repeated
                sent = await send()
            else:
                sent = await call_with_retries(send, self.tuning.retry, f"job {job.id} send {kind}", migrated)
        except PackFull:
            await self._fail(job, status, "pack_full", "sticker pack full", n=PACK_LIMIT)
            return
        except UserUnknown as err:
            await self._fail(job, status, "pack_needs_chat", str(err))
            return
        except TelegramRefused as err:
            await self._fail(job, status, None if err.forbidden else "delivery_failed", str(err))
            return
        except TelegramUnavailable as err:
            await self._park(job, status, err)
            return
        await jobs.mark_done(self.db, job.id, sent.file_id)
        metrics.job_entered("done", job.kind)
        metrics.video_delivered(job.kind, kind, job.created_at)
        log.info("job %s delivered (%s%s)", job.id, kind, ", from the file_id cache" if job.from_cache else "")
        await status.show(t(lang, "done", title=job.template_title or ""), force=True)

    async def _park(self, job: Job, status: StatusMessage, err: TelegramUnavailable) -> None:
        deadline = (job.rendered_at or utcnow()) + timedelta(hours=self.settings.limits.delivery_deadline_hours)
        at = retry_time(self.tuning.retry, job.parked_tries + 1, utcnow(), deadline, err.retry_after_s)
        if at is None:
            await self._fail(job, status, "delivery_failed", f"{err}; deadline passed")
            return
        await jobs.reschedule_delivery(self.db, job.id, self.owner, at, str(err))
        metrics.DELIVERY_RETRIES.inc()
        log.info("job %s: %s; delivery parked until %s", job.id, err, at.isoformat(timespec="seconds"))
        await status.show(t(job.language, "waiting_telegram"), force=True)

    async def _fail(self, job: Job, status: StatusMessage, notice: str | None, error: str, **values: object) -> None:
        """`notice`: the text key to tell the user, None when nothing can reach them (blocked)."""
        if not await jobs.mark_failed(self.db, job.id, f"delivery: {error}", self.owner):
            log.warning("job %s: delivery lease lost before it failed (%s); left to the stage that has it",
                        job.id, error)
            return
        metrics.job_entered("failed", job.kind)
        log.warning("job %s not delivered: %s", job.id, error)
        if notice is not None:
            await status.final(t(job.language, notice, **values), job.source_message_id)
