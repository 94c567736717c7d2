"""The conversion stage: claim → convert → hand over. A kept render becomes a round video note, a
sticker or a GIF (ffmpeg only, engine/convert.py), beside the render stage and never behind it;
the delivery stage sends the result.

Conversions are jobs like renders: restart-safe (the output is written aside and handed over in
one commit), delivered exactly once, cancellable with /cancel.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from telegram import Bot

from engine import BadRender, EngineError, OutputTooLarge, RenderCancelled, convert
from engine import OutputKind as Format
from engine.faces import Box
from ops import metrics
from pipeline.job_run import CANCEL_LEASE_LOST, CANCEL_OWNER, CANCEL_SHUTDOWN, JobRun, tell_owners_failed
from pipeline.paths import conversions_dir, tmp_dir
from pipeline.stage_base import Lease, Stage
from pipeline.status_messages import StatusMessage
from pipeline.tuning import Tuning
from settings import Settings
from storage import Database, JobKind, jobs
from storage.jobs import ClaimedJob, JobRecord
from storage.models import OutputKind

log = logging.getLogger(__name__)

FORMATS = {OutputKind.NOTE: Format.NOTE, OutputKind.STICKER: Format.STICKER, OutputKind.GIF: Format.GIF,
           OutputKind.PACK: Format.STICKER}
EXTENSIONS = {Format.NOTE: "mp4", Format.STICKER: "webm", Format.GIF: "mp4"}


def face_boxes(job: JobRecord) -> list[Box] | None:
    """The animated faces of a render, in its pixels (what a round note centres on, what a sticker
    cuts out)."""
    if not job.face_boxes:
        return None
    return [Box(*map(float, b)) for b in json.loads(job.face_boxes)]


class ConversionStage(Stage):
    name = "conversion stage"
    kinds = (JobKind.CONVERT,)

    def __init__(self, *, bot: Bot, db: Database, settings: Settings, tuning: Tuning, owner: str,
                 on_handed_over: Callable[[], None]) -> None:
        super().__init__(db=db, settings=settings, tuning=tuning, owner=owner,
                         concurrency=settings.limits.conversions_at_once,
                         lease_seconds=settings.queue.conversion_lease_seconds,
                         max_attempts=settings.limits.max_attempts)
        self.bot = bot
        self.on_handed_over = on_handed_over
        self._runs: dict[int, JobRun] = {}

    async def claim(self, job_id: int | None = None) -> ClaimedJob | None:
        return await jobs.claim_conversion(self.db, self.owner, self.lease_seconds, max_attempts=self.max_attempts,
                                           job_id=job_id)

    def make_lease(self, job: ClaimedJob) -> Lease:
        def fire(reason: str) -> None:
            run = self._runs.get(job.id)
            if run is not None:
                run.token.cancel(reason)

        return Lease(self.db, job, self.lease_seconds, self.tuning.heartbeat,
                     on_lost=lambda: fire(CANCEL_LEASE_LOST), on_cancel_requested=lambda: fire(CANCEL_OWNER))

    async def tell_given_up(self, given_up: Sequence[JobRecord]) -> None:
        await tell_owners_failed(self.bot, given_up, self.tuning, "conversion_failed")

    def interrupt(self) -> None:
        for run in list(self._runs.values()):
            run.token.cancel(CANCEL_SHUTDOWN)

    def cancel(self, job_id: int) -> bool:
        run = self._runs.get(job_id)
        if run is None:
            return False
        run.token.cancel(CANCEL_OWNER)
        return True

    def _new_run(self, job: ClaimedJob) -> JobRun:
        return JobRun(job=job, bot=self.bot, db=self.db, settings=self.settings, tuning=self.tuning,
                      work=tmp_dir(self.settings.storage.data_dir, job.id),
                      status=StatusMessage.for_job(self.bot, job, self.tuning.status_interval),
                      redispatch=self.redispatch)

    async def work(self, job: ClaimedJob, lease: Lease) -> None:
        run = self._runs[job.id] = self._new_run(job)
        try:
            await self._convert(run)
        finally:
            self._runs.pop(job.id, None)

    async def after_error(self, job: ClaimedJob, error: Exception) -> None:
        """E.g. the database went away mid-job: back in line after a pause, or failed at the last attempt."""
        await self._new_run(job).retry_or_fail(f"internal error: {error!r}", "conversion_failed")

    async def _convert(self, run: JobRun) -> None:
        job = run.job
        parent = await jobs.get(self.db, job.parent_job_id) if job.parent_job_id else None
        render = Path(parent.result_path) if parent is not None and parent.result_path else None
        if parent is None or render is None or not render.is_file():  # past retention: the render is gone
            await run.fail("render_expired", "render gone")
            return
        kind = FORMATS[OutputKind(job.output_kind)]
        out = conversions_dir(self.settings.storage.data_dir) / f"{job.id}.{EXTENSIONS[kind]}"
        out.parent.mkdir(parents=True, exist_ok=True)
        log.info("job %s: converting the render of job %s to a %s", job.id, parent.id, kind)
        try:
            result = await asyncio.to_thread(convert, render, kind, out, face_boxes(parent), run.token)
        except RenderCancelled:
            await run.stopped()
            return
        except (BadRender, OutputTooLarge) as err:  # the same render would fail the same way again
            await run.fail("conversion_failed", str(err))
            return
        except EngineError as err:  # ffmpeg failed or got stuck: maybe not next time
            await run.retry_or_fail(str(err), "conversion_failed")
            return
        if not await jobs.hand_over(self.db, job, path=str(result.path), width=result.width,
                                    height=result.height, duration=result.duration, seconds=0.0):
            log.warning("job %s: claim lost before the hand-over; its new stage delivers it", job.id)
            return
        metrics.job_entered("delivering", job.kind)
        self.on_handed_over()
