"""The delivery stage: claim a finished job → send it → record the outcome. A few sends at a time,
never under the render lock. What is sent depends on the job (pipeline/result_senders.py): the video,
or a round note, a sticker, a GIF, a sticker for the user's pack.

A send that Telegram refuses for good (the user blocked the bot, a bad request) fails the job with
a notice when one can still be sent. A send that cannot get through (timeouts, network errors,
5xx, a long flood wait) past the immediate retries is parked with a growing pause and tried again
until the delivery deadline ([limits].delivery_deadline_hours after the render); meanwhile the
status message says it is waiting for Telegram.

Exactly once: 'done' and the result's file_id are one commit right after Telegram's answer, under
the delivery's claim; the lease is renewed every heartbeat while the send lasts, so a slow upload
is never taken over and sent again by another slot or host. A duplicate is still possible in two
windows: the process dies between Telegram accepting the file and that commit, or Telegram takes
the upload but answers later than [telegram].upload_timeout (the send is then retried). Both
resend rather than lose the video, and at most [limits].max_delivery_attempts times: every
unexpected error (the commit failing, shared storage unreadable, an unknown error from the send)
parks the delivery with its attempt counted, and a delivery out of attempts fails with a notice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Sequence
from datetime import timedelta

from telegram import Bot
from telegram.constants import ChatAction

from i18n.texts import t
from ops import metrics
from pipeline.job_run import tell_owners_failed
from pipeline.result_senders import Sent, media_of, send_result
from pipeline.retry_policy import retry_time
from pipeline.stage_base import Lease, Stage
from pipeline.status_messages import StatusMessage
from pipeline.sticker_pack import PACK_LIMIT, PackFull, UserUnknown
from pipeline.telegram_calls import TelegramRefused, TelegramUnavailable, call_with_retries, chat_action
from pipeline.tuning import Tuning
from settings import Settings
from storage import Database, JobStatus, jobs
from storage.jobs import ClaimedJob, JobRecord
from storage.models import OutputKind, utcnow

log = logging.getLogger(__name__)

_ACTIONS = {OutputKind.VIDEO: ChatAction.UPLOAD_VIDEO, OutputKind.NOTE: ChatAction.UPLOAD_VIDEO_NOTE,
            OutputKind.STICKER: ChatAction.CHOOSE_STICKER, OutputKind.GIF: ChatAction.UPLOAD_VIDEO,
            OutputKind.PACK: ChatAction.CHOOSE_STICKER}


class DeliveryStage(Stage):
    name = "delivery stage"
    waits_in = JobStatus.DELIVERING
    leased_in = JobStatus.DELIVERING

    def __init__(self, *, bot: Bot, db: Database, settings: Settings, tuning: Tuning, owner: str) -> None:
        super().__init__(db=db, settings=settings, tuning=tuning, owner=owner,
                         concurrency=settings.limits.deliveries_at_once,
                         lease_seconds=settings.queue.delivery_lease_seconds,
                         max_attempts=settings.limits.max_delivery_attempts)
        self.bot = bot

    async def claim(self, job_id: int | None = None) -> ClaimedJob | None:
        job = await jobs.claim_delivery(self.db, self.owner, self.lease_seconds, max_attempts=self.max_attempts)
        if job is None:
            metrics.DELIVERIES_PARKED.set(await jobs.parked_deliveries(self.db))
        return job

    def make_lease(self, job: ClaimedJob) -> Lease:
        def lost() -> None:  # a send cannot be taken back; its outcome will not be recorded by us
            log.warning("job %s: delivery claim lost mid-send (the database was away past the lease)", job.id)

        return Lease(self.db, job, self.lease_seconds, self.tuning.heartbeat, on_lost=lost)

    async def tell_given_up(self, given_up: Sequence[JobRecord]) -> None:
        await tell_owners_failed(self.bot, given_up, self.tuning, "delivery_failed")

    async def work(self, job: ClaimedJob, lease: Lease) -> None:
        try:
            await self.deliver(job)
        except asyncio.CancelledError:  # stopped mid-send: free the job for the next run at once
            await asyncio.shield(self._release(job))
            raise

    async def after_error(self, job: ClaimedJob, error: Exception) -> None:
        """An error nobody foresaw (the commit after Telegram's answer failing, shared storage
        unreadable, an unknown error type): tried again later with the attempt counted, so that it
        is never resent for ever; failed when the attempts are used up."""
        status = StatusMessage.for_job(self.bot, job, self.tuning.status_interval)
        if job.delivery_attempts >= self.max_attempts:
            await self._fail(job, status, "delivery_failed", f"internal error: {error!r}")
            return
        delay = self.tuning.retry.park_delay(job.delivery_attempts)
        if await jobs.reschedule_delivery(self.db, job, delay, f"internal error: {error!r}", uncount_attempt=False):
            metrics.DELIVERY_RETRIES.inc()
            log.warning("job %s: delivery attempt %d of %d failed (%r); again in %.0fs", job.id,
                        job.delivery_attempts, self.max_attempts, error, delay)

    async def _release(self, job: ClaimedJob) -> None:
        try:
            await jobs.reschedule_delivery(self.db, job, 0.0, "stopped mid-send")
        except Exception:  # the next start releases it anyway
            log.debug("job %s: lease not released", job.id, exc_info=True)

    # --- one delivery --------------------------------------------------------------------------
    async def deliver(self, job: ClaimedJob) -> None:
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
        target: JobRecord = job  # where it goes: a group that became a supergroup moves it

        async def migrated(new_chat_id: int) -> None:
            nonlocal target
            await jobs.migrate_chat(self.db, target.chat_id, new_chat_id)
            # The messages this job answers and edits stayed in the old chat; their ids mean other
            # messages in the new one.
            target = dataclasses.replace(target, chat_id=new_chat_id, source_message_id=0)
            status.chat_id, status.message_id = new_chat_id, None

        def send() -> Awaitable[Sent]:
            return send_result(self.bot, self.db, self.settings, target, media, self.tuning.retry)

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
        if not await self._record_done(job, sent):
            return
        metrics.job_entered("done", job.kind)
        metrics.video_delivered(job.kind, kind, job.created_at)
        log.info("job %s delivered (%s%s)", job.id, kind, ", from the file_id cache" if job.from_cache else "")
        await status.show(t(lang, "done", title=job.template_title or ""), force=True)

    async def _record_done(self, job: ClaimedJob, sent: Sent) -> bool:
        """Telegram has the file: record it, trying the commit again over a short database blip
        (a failure after the last try is after_error's: parked with the attempt counted)."""
        policy = self.tuning.retry
        for failures in range(1, policy.immediate_attempts + 1):
            try:
                if await jobs.mark_done(self.db, job, sent.file_id):
                    return True
                log.warning("job %s: sent, but its claim was lost meanwhile; the stage holding it now decides",
                            job.id)
                return False
            except Exception as err:
                if failures == policy.immediate_attempts:
                    raise
                log.warning("job %s: sent, recording it failed (%s); trying again", job.id, err)
                await asyncio.sleep(policy.immediate_delay(failures))
        return False

    async def _park(self, job: ClaimedJob, status: StatusMessage, err: TelegramUnavailable) -> None:
        now = utcnow()
        deadline = (job.rendered_at or now) + timedelta(hours=self.settings.limits.delivery_deadline_hours)
        at = retry_time(self.tuning.retry, job.parked_tries + 1, now, deadline, err.retry_after_s)
        if at is None:
            await self._fail(job, status, "delivery_failed", f"{err}; deadline passed")
            return
        if not await jobs.reschedule_delivery(self.db, job, (at - now).total_seconds(), str(err)):
            log.warning("job %s: delivery claim lost before it was parked", job.id)
            return
        metrics.DELIVERY_RETRIES.inc()
        log.info("job %s: %s; delivery parked until %s", job.id, err, at.isoformat(timespec="seconds"))
        await status.show(t(job.language, "waiting_telegram"), force=True)

    async def _fail(self, job: ClaimedJob, status: StatusMessage, notice: str | None, error: str,
                    **values: object) -> None:
        """`notice`: the text key to tell the user, None when nothing can reach them (blocked)."""
        if not await jobs.mark_failed(self.db, job, f"delivery: {error}"):
            log.warning("job %s: delivery lease lost before it failed (%s); left to the stage that has it",
                        job.id, error)
            return
        metrics.job_entered("failed", job.kind)
        log.warning("job %s not delivered: %s", job.id, error)
        if notice is not None:
            await status.final(t(job.language, notice, **values), job.source_message_id)
