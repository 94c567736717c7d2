"""The conversion stage: claim → convert → hand over. A kept render becomes a round video note, a
sticker or a GIF (ffmpeg only, engine/convert.py), beside the render stage and never behind it;
the delivery stage sends the result.

Conversions are jobs like renders: restart-safe (the output is written aside and handed over in
one commit), delivered exactly once, cancellable with /cancel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from telegram import Bot

from engine import BadRender, CancelToken, EngineError, OutputKind, OutputTooLarge, RenderCancelled, convert
from engine.faces import Box
from ops import metrics
from pipeline.job_run import CANCEL_OWNER, CANCEL_SHUTDOWN, JobRun
from pipeline.paths import conversions_dir, tmp_dir
from pipeline.stage_base import Stage
from pipeline.status_messages import StatusMessage
from pipeline.tuning import Tuning
from settings import Settings
from storage import Database, Job, JobKind, jobs

log = logging.getLogger(__name__)

EXTENSIONS = {OutputKind.NOTE: "mp4", OutputKind.STICKER: "webm", OutputKind.GIF: "mp4", OutputKind.PACK: "webm"}


def face_boxes(job: Job) -> list[Box] | None:
    """The animated faces of a render, in its pixels (what a round note centres on, what a sticker
    cuts out)."""
    if job.face_boxes is None:  # () is a render without faces: the whole frame
        return None
    return [Box(b.x, b.y, b.w, b.h) for b in job.face_boxes]


class ConversionStage(Stage):
    name = "conversion stage"
    kinds = (JobKind.CONVERT,)

    def __init__(self, bot: Bot, db: Database, settings: Settings, tuning: Tuning, owner: str,
                 on_handed_over: Callable[[], None]) -> None:
        super().__init__(db, tuning, owner, concurrency=settings.limits.conversions_at_once)
        self.bot = bot
        self.settings = settings
        self.on_handed_over = on_handed_over
        self._runs: dict[int, JobRun] = {}

    async def claim(self, job_id: int | None = None) -> Job | None:
        return await jobs.claim_conversion(self.db, self.owner, self.tuning.conversion_lease, job_id=job_id)

    def interrupt(self) -> None:
        for run in list(self._runs.values()):
            run.token.cancel(CANCEL_SHUTDOWN)

    def cancel(self, job_id: int) -> bool:
        run = self._runs.get(job_id)
        if run is None:
            return False
        run.token.cancel(CANCEL_OWNER)
        return True

    async def work(self, job: Job) -> None:
        run = JobRun(job, self.bot, self.db, self.settings, self.tuning, self.owner,
                     tmp_dir(self.settings.storage.data_dir, job.id), CancelToken(),
                     StatusMessage.for_job(self.bot, job, self.tuning.status_interval), self.tuning.conversion_lease,
                     self.redispatch)
        self._runs[job.id] = run
        try:
            async with run.leased():
                await self._convert(run)
        except Exception as err:  # e.g. the database went away mid-job: keep the stage alive
            log.exception("job %s failed unexpectedly", job.id)
            try:
                await run.retry_or_fail(f"internal error: {err!r}", "conversion_failed")
            except Exception:
                log.exception("job %s: bookkeeping failed; taken up again when its lease expires", job.id)
        finally:
            self._runs.pop(job.id, None)

    async def _convert(self, run: JobRun) -> None:
        job = run.job
        parent = await jobs.get(self.db, job.parent_job_id) if job.parent_job_id else None
        render = Path(parent.result_path) if parent is not None and parent.result_path else None
        if render is None or not render.is_file():  # past retention: the render is gone
            await run.fail("render_expired", "render gone")
            return
        kind = OutputKind(job.output_kind)
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
        if not await jobs.hand_over(self.db, job.id, self.owner, path=str(result.path), width=result.width,
                                    height=result.height, duration=result.duration, seconds=0.0):
            log.warning("job %s: lease lost before the hand-over; its new stage delivers it", job.id)
            return
        metrics.job_entered("delivering", job.kind)
        self.on_handed_over()
