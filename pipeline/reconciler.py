"""With workers on other hosts: dispatch again what looks forgotten.

Celery keeps a message until a worker has finished its job (late acks), so this is a safety net for
what can still slip: a task whose publishing failed (the broker was away), a broker restarted
without persistence. Every minute (Tuning.reconcile_every) the bot sends the task again for jobs
that have waited in line, due, for longer than Tuning.stuck_after (10 min), and for jobs whose
worker's lease expired. Sending twice
is harmless: a worker takes a job only by a conditional update. Jobs out of attempts (their workers
died with them each time) are failed here first, their owners told, so none is sent again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Bot

from pipeline.dispatch import Dispatcher
from pipeline.job_run import tell_owners_failed
from pipeline.tuning import Tuning
from storage import Database, JobKind, jobs
from storage.models import RENDER_STAGE_KINDS

log = logging.getLogger(__name__)


async def give_up_exhausted(db: Database, bot: Bot, tuning: Tuning, max_attempts: int) -> int:
    """Fail render-stage jobs and conversions out of attempts that no stage holds, and tell their
    owners. Returns how many."""
    error = f"failed after {max_attempts} attempts without an outcome"
    renders = await jobs.give_up_exhausted(db, RENDER_STAGE_KINDS, max_attempts, error)
    await tell_owners_failed(bot, renders, tuning, "render_failed_attempts", n=max_attempts)
    conversions = await jobs.give_up_exhausted(db, (JobKind.CONVERT,), max_attempts, error)
    await tell_owners_failed(bot, conversions, tuning, "conversion_failed")
    if renders or conversions:
        log.warning("job(s) %s failed after %d attempts", [j.id for j in renders + conversions], max_attempts)
    return len(renders) + len(conversions)


async def redispatch_forgotten(db: Database, dispatch: Dispatcher, waited: timedelta) -> int:
    """Returns how many jobs were dispatched again."""
    forgotten = await jobs.forgotten(db, waited)
    for job_id, kind in forgotten:
        if kind == JobKind.CONVERT:
            dispatch.convert(job_id)
        else:
            dispatch.render(job_id)
    if forgotten:
        log.info("%d job(s) dispatched again: %s", len(forgotten), [job_id for job_id, _ in forgotten])
    return len(forgotten)
