"""A job claimed by the render or conversion stage, and the ways it can end there.

Everything those stages do to a job besides the work itself and the hand-over lives here, so the
stages and the template jobs read as their steps: fetch the input (parked while Telegram is
unreachable), then fail, cancel or put back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from telegram import Bot

from engine import CancelToken
from i18n.texts import t
from ops import metrics
from pipeline.retry_policy import retry_time
from pipeline.status_messages import StatusMessage
from pipeline.telegram_calls import TelegramRefused, TelegramUnavailable, call_with_retries
from pipeline.tuning import Tuning
from settings import Settings
from storage import Database, jobs
from storage.jobs import ClaimedJob, JobRecord
from storage.models import utcnow

log = logging.getLogger(__name__)

# Why a job's CancelToken fired.
CANCEL_OWNER = "owner"  # /cancel
CANCEL_SHUTDOWN = "shutdown"  # SIGTERM: the job goes back in line
CANCEL_LEASE_LOST = "lease lost"  # another stage took the job over (ours was presumed dead)


@dataclass(kw_only=True)
class JobRun:
    job: ClaimedJob  # the job as claimed; every change to it names its claim
    bot: Bot
    db: Database
    settings: Settings
    tuning: Tuning
    work: Path  # the job's temp folder
    status: StatusMessage
    token: CancelToken = field(default_factory=CancelToken)
    # Called when the job goes back in line (parked, retried, a shutdown): with several processes
    # its task must be sent again; on one box the stages find it themselves (a no-op).
    redispatch: Callable[[int, datetime | None], None] = lambda job_id, at: None

    @property
    def lang(self) -> str:
        return self.job.language

    async def fetch_input(self, target: Path, file_id: str | None = None) -> bool:
        """Download the job's photo (or video; or `file_id`, one of a grid's) to `target`. False
        when the job cannot go on now: it failed (Telegram refused the file) or was parked until
        Telegram answers again."""
        job = self.job

        async def fetch() -> None:
            file = await self.bot.get_file(file_id or job.input_file_id)
            await file.download_to_drive(target)

        try:
            await call_with_retries(fetch, self.tuning.retry, f"job {job.id} download")
            return True
        except TelegramRefused as err:
            await self.fail("download_failed", f"download: {err}")
        except TelegramUnavailable as err:
            deadline = job.created_at + timedelta(hours=self.settings.limits.delivery_deadline_hours)
            at = retry_time(self.tuning.retry, job.parked_tries + 1, utcnow(), deadline, err.retry_after_s)
            if at is None:
                await self.fail("download_failed", f"download: {err}; deadline passed")
            elif await self._release(retry_at=at, error=str(err)):
                log.info("job %s: %s; download parked until %s", job.id, err, at.isoformat(timespec="seconds"))
                await self.status.show(t(self.lang, "waiting_telegram"), force=True)
        return False

    async def _release(self, retry_at: datetime | None = None, error: str | None = None,
                       uncount_attempt: bool = True) -> bool:
        """Back in line (jobs.release_render) and dispatched again; False, and nothing done, when
        this stage lost the job's lease meanwhile."""
        retry_in = max(0.0, (retry_at - utcnow()).total_seconds()) if retry_at is not None else None
        if not await jobs.release_render(self.db, self.job, retry_in=retry_in, error=error,
                                         uncount_attempt=uncount_attempt):
            self.lost()
            return False
        self.redispatch(self.job.id, retry_at)
        return True

    def lost(self) -> None:
        log.warning("job %s: its claim was lost meanwhile; left to the stage that has it now", self.job.id)

    async def fail(self, key: str, error: str, **values: object) -> None:
        if not await jobs.mark_failed(self.db, self.job, f"{key}: {error}" if key != error else key):
            self.lost()
            return
        metrics.job_entered("failed", self.job.kind)
        log.info("job %s failed: %s (%s)", self.job.id, key, error)
        await self.status.final(t(self.lang, key, **values), self.job.source_message_id)

    async def stopped(self) -> None:
        """The work stopped on its token: cancelled by the owner, put back for a shutdown, or
        left alone when another stage took the job over."""
        reason = self.token.reason
        if reason == CANCEL_OWNER:
            if not await jobs.mark_cancelled(self.db, self.job):
                self.lost()
                return
            metrics.job_entered("cancelled", self.job.kind)
            log.info("job %s cancelled by its owner", self.job.id)
            await self.status.final(t(self.lang, "cancelled"), self.job.source_message_id)
        elif reason == CANCEL_SHUTDOWN:
            if await self._release():
                log.info("job %s re-queued: shutting down", self.job.id)
        else:
            log.warning("job %s: %s; left to the stage that has it now", self.job.id, reason)

    async def retry_or_fail(self, error: str, failed_key: str = "render_failed_attempts") -> None:
        """Something that may not happen again (a crash, a stuck ffmpeg): back in line after a
        pause, unless this was the job's last allowed attempt."""
        limit = self.settings.limits.max_attempts
        if self.job.attempts >= limit:
            await self.fail(failed_key, error, n=limit)
            return
        at = utcnow() + timedelta(seconds=self.tuning.retry.park_delay(self.job.attempts))
        if not await self._release(retry_at=at, error=error, uncount_attempt=False):
            return
        log.warning("job %s: attempt %d of %d failed (%s); again at %s", self.job.id, self.job.attempts, limit,
                    error, at.isoformat(timespec="seconds"))


async def tell_owners_failed(bot: Bot, records: Sequence[JobRecord], tuning: Tuning, key: str,
                             **values: object) -> None:
    """Jobs failed outside a run (out of attempts): each owner's status message says so."""
    for record in records:
        metrics.job_entered("failed", record.kind)
        try:
            await StatusMessage.for_job(bot, record, tuning.status_interval).final(
                t(record.language, key, **values), record.source_message_id)
        except Exception:  # a notice is not worth a stage: the job is failed either way
            log.warning("job %s: the failure notice was not sent", record.id, exc_info=True)
