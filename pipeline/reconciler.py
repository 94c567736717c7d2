"""With workers on other hosts: dispatch again what looks forgotten.

Celery keeps a message until a worker has finished its job (late acks), so this is a safety net for
what can still slip: a task whose publishing failed (the broker was away), a broker restarted
without persistence. Every minute (Tuning.reconcile_every) the bot sends the task again for jobs
that have waited in line, due, for longer than Tuning.stuck_after (10 min), and for jobs whose
worker's lease expired. Sending twice
is harmless: a worker takes a job only by a conditional update.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from pipeline.dispatch import Dispatcher
from storage import Database, JobKind, jobs

log = logging.getLogger(__name__)


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
