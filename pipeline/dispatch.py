"""Telling the stages that a job is waiting for them.

The database is the record of every job; dispatch only says "job N is there", and is allowed to
say it twice (a stage takes a job only by a conditional update). On one box (`[queue].backend =
"local"`) that is a wake-up of the in-process stages, which also find parked jobs themselves. With
`"celery"` it is a Celery task on the render or conversion queue for `python -m worker` processes
on any host: late acks and prefetch 1, so a worker that dies gives its message back to the broker
and another worker takes the job over once its lease has expired.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from celery import Celery

from settings import Settings
from storage.models import utcnow

log = logging.getLogger(__name__)

RENDER_TASK = "yahey.render"
CONVERT_TASK = "yahey.convert"


class Dispatcher(Protocol):
    def render(self, job_id: int, at: datetime | None = None) -> None:
        """A render-stage job (render, grid, template import/delete) is waiting (from `at`)."""

    def convert(self, job_id: int, at: datetime | None = None) -> None:
        """A conversion is waiting (from `at`)."""

    def deliver(self) -> None:
        """A finished job waits for the delivery stage."""


class LocalDispatcher:
    """One box: wake the in-process stages (parked jobs they find by their own timers)."""

    def __init__(self, wake_render: Callable[[], None], wake_convert: Callable[[], None],
                 wake_deliver: Callable[[], None]) -> None:
        self._render, self._convert, self._deliver = wake_render, wake_convert, wake_deliver

    def render(self, job_id: int, at: datetime | None = None) -> None:
        self._render()

    def convert(self, job_id: int, at: datetime | None = None) -> None:
        self._convert()

    def deliver(self) -> None:
        self._deliver()


def make_celery(settings: Settings) -> Celery:
    """The Celery app both sides use: the bot sends tasks by name, workers run them."""
    q = settings.queue
    app = Celery("yahey", broker=q.broker_url)
    app.conf.update(
        task_acks_late=True,  # a message is acknowledged when its job is over, not when taken
        task_reject_on_worker_lost=True,  # a worker killed mid-task gives the message back
        worker_prefetch_multiplier=1,  # one job at a time per worker: no job waits behind a long one
        task_routes={RENDER_TASK: {"queue": q.render_queue}, CONVERT_TASK: {"queue": q.conversion_queue}},
        task_default_queue=q.render_queue,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,  # our one-line, token-masking logging stays
        task_ignore_result=True,  # the database has the outcome
        worker_send_task_events=True,  # `celery inspect`, Flower
    )
    return app


def broker_reachable(app: Celery, timeout: float) -> bool:
    """One connection to the broker, within `timeout` seconds, closed again (blocks: call it from a
    thread). False, with the reason logged, when it cannot be made."""
    try:
        with app.connection_for_write(connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
        return True
    except Exception as err:
        log.warning("broker unreachable: %s", err)
        return False


class CeleryDispatcher:
    """Several hosts: a Celery task per job for the workers (publishing blocks briefly: call it from
    a thread, or accept a few milliseconds on the event loop)."""

    def __init__(self, app: Celery, settings: Settings, wake_deliver: Callable[[], None] | None = None) -> None:
        self.app = app
        self.queues = settings.queue
        self._deliver = wake_deliver

    def _send(self, name: str, queue: str, job_id: int, at: datetime | None) -> None:
        countdown = max(0.0, (at - utcnow()).total_seconds()) if at is not None else None
        try:
            self.app.send_task(name, args=[job_id], queue=queue, countdown=countdown)
        except Exception as err:  # the broker is away: the bot's reconciler publishes it again
            log.warning("job %s: not dispatched (%s); the reconciler will", job_id, err)

    def render(self, job_id: int, at: datetime | None = None) -> None:
        self._send(RENDER_TASK, self.queues.render_queue, job_id, at)

    def convert(self, job_id: int, at: datetime | None = None) -> None:
        self._send(CONVERT_TASK, self.queues.conversion_queue, job_id, at)

    def deliver(self) -> None:
        if self._deliver is not None:  # a worker delivers what it rendered at once
            self._deliver()
