"""The job queue: enqueue with limits, FIFO claim, state changes, positions, stats, result cache.

Every state change is one IMMEDIATE transaction, so two coroutines (or two processes) never
claim the same job or overshoot the queue cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from storage.db import Database
from storage.models import ACTIVE_STATUSES, Job, JobKind, JobStatus, Offer, utcnow


class LimitError(Exception):
    """A request refused by a limit; the bot words it for the user."""


class QueueFull(LimitError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"queue full ({limit} jobs)")
        self.limit = limit


class QuotaExceeded(LimitError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"daily quota of {limit} reached")
        self.limit = limit


class AlreadyActive(LimitError):
    def __init__(self, job: Job, position: int) -> None:
        super().__init__(f"job {job.id} is still {job.status}")
        self.job = job
        self.position = position


@dataclass(frozen=True)
class Limits:
    max_queue: int
    daily_quota: int
    exempt: bool = False  # admins


@dataclass(frozen=True)
class NewJob:
    user_id: int
    chat_id: int
    source_message_id: int
    input_file_id: str
    input_file_unique_id: str
    language: str = "en"
    template_id: str | None = None
    template_title: str | None = None
    kind: JobKind = JobKind.RENDER
    status_message_id: int | None = None  # the message edited through queued → rendering → done


@dataclass(frozen=True)
class Stats:
    by_status: dict[str, int]
    average_render_seconds: float | None
    queue_length: int


def day_start(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


async def _active_count(session) -> int:  # type: ignore[no-untyped-def]
    return int(await session.scalar(select(func.count()).where(Job.status.in_(ACTIVE_STATUSES))) or 0)


async def _today_count(session, user_id: int) -> int:  # type: ignore[no-untyped-def]
    """Jobs the user asked for since midnight UTC; answers from the cache are free."""
    return int(
        await session.scalar(
            select(func.count()).where(
                Job.user_id == user_id, Job.created_at >= day_start(), Job.from_cache.is_(False)
            )
        )
        or 0
    )


async def _position(session, job_id: int) -> int:  # type: ignore[no-untyped-def]
    """1 = next in line (or the one running); FIFO by id."""
    return int(
        await session.scalar(
            select(func.count()).where(Job.status.in_(ACTIVE_STATUSES), Job.id <= job_id)
        )
        or 0
    )


async def enqueue(db: Database, new: NewJob, limits: Limits) -> tuple[Job, int]:
    """Queue a job after checking one-active-per-user, the daily quota and the queue cap.

    Returns the job and its position. Raises AlreadyActive, QuotaExceeded or QueueFull.
    """
    async with db.write() as session:
        if not limits.exempt:
            active = await session.scalar(
                select(Job).where(Job.user_id == new.user_id, Job.status.in_(ACTIVE_STATUSES)).order_by(Job.id)
            )
            if active is not None:
                where = await _position(session, active.id)
                session.expunge(active)  # keep its loaded values: the rollback below would expire them
                raise AlreadyActive(active, where)
            if await _today_count(session, new.user_id) >= limits.daily_quota:
                raise QuotaExceeded(limits.daily_quota)
            if await _active_count(session) >= limits.max_queue:
                raise QueueFull(limits.max_queue)
        job = _row(new, status=JobStatus.QUEUED)
        session.add(job)
        await session.flush()
        return job, await _position(session, job.id)


def _row(new: NewJob, **state: object) -> Job:
    return Job(kind=str(new.kind), user_id=new.user_id, chat_id=new.chat_id,
               source_message_id=new.source_message_id, language=new.language,
               input_file_id=new.input_file_id, input_file_unique_id=new.input_file_unique_id,
               template_id=new.template_id, template_title=new.template_title,
               status_message_id=new.status_message_id, **state)


async def record_cached(db: Database, new: NewJob, result_file_id: str) -> Job:
    """A request answered from the file_id cache: recorded as 'delivering' until the send succeeds."""
    async with db.write() as session:
        job = _row(new, status=JobStatus.DELIVERING, from_cache=True,
                   result_file_id=result_file_id, started_at=utcnow())
        session.add(job)
        await session.flush()
        return job


async def claim_next(db: Database) -> Job | None:
    """The oldest queued job, now marked running; None when the queue is empty."""
    async with db.write() as session:
        job = await session.scalar(
            select(Job).where(Job.status == JobStatus.QUEUED).order_by(Job.id).limit(1)
        )
        if job is None:
            return None
        job.status = JobStatus.RUNNING
        job.started_at = utcnow()
        return job


async def get(db: Database, job_id: int) -> Job | None:
    async with db.read() as session:
        return await session.get(Job, job_id)


async def mark_rendered(
    db: Database, job_id: int, *, path: str, width: int, height: int, duration: float, seconds: float
) -> None:
    """The render is on disk: a crash from here on re-sends it instead of rendering again."""
    async with db.write() as session:
        await session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status=JobStatus.DELIVERING,
                result_path=path,
                result_width=width,
                result_height=height,
                result_duration=duration,
                render_seconds=seconds,
            )
        )


async def mark_done(db: Database, job_id: int, result_file_id: str | None = None) -> None:
    """Delivered. Recording the file_id and 'done' is one commit (see bot/delivery.py for the window)."""
    values: dict[str, object] = {"status": JobStatus.DONE, "finished_at": utcnow(), "error": None}
    if result_file_id is not None:
        values["result_file_id"] = result_file_id
    async with db.write() as session:
        await session.execute(update(Job).where(Job.id == job_id).values(**values))


async def mark_failed(db: Database, job_id: int, error: str) -> None:
    async with db.write() as session:
        await session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(status=JobStatus.FAILED, error=error[:500], finished_at=utcnow())
        )


async def mark_cancelled(db: Database, job_id: int) -> None:
    async with db.write() as session:
        await session.execute(
            update(Job).where(Job.id == job_id).values(status=JobStatus.CANCELLED, finished_at=utcnow())
        )


async def set_template(db: Database, job_id: int, template_id: str) -> None:
    async with db.write() as session:
        await session.execute(update(Job).where(Job.id == job_id).values(template_id=template_id))


async def requeue(db: Database, job_id: int) -> None:
    """Put a claimed job back at its place in line (graceful stop)."""
    async with db.write() as session:
        await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_((JobStatus.RUNNING, JobStatus.DELIVERING)))
            .values(status=JobStatus.QUEUED)
        )


async def requeue_unfinished(db: Database) -> int:
    """At start-up: jobs a crash left running or delivering go back in line (by id, so FIFO holds);
    those whose owner had asked to cancel are cancelled instead. Returns how many were re-queued."""
    async with db.write() as session:
        claimed = (JobStatus.RUNNING, JobStatus.DELIVERING)
        await session.execute(
            update(Job)
            .where(Job.status.in_(claimed), Job.cancel_requested.is_(True))
            .values(status=JobStatus.CANCELLED, finished_at=utcnow())
        )
        result = await session.execute(
            update(Job).where(Job.status.in_(claimed)).values(status=JobStatus.QUEUED)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def request_cancel(db: Database, user_id: int) -> Job | None:
    """Cancel the user's active job: a queued one at once; a running one is flagged (the worker
    stops the engine between batches); one being delivered is left alone. Returns the job as it
    now stands, None if there was none."""
    async with db.write() as session:
        job = await session.scalar(
            select(Job).where(Job.user_id == user_id, Job.status.in_(ACTIVE_STATUSES)).order_by(Job.id)
        )
        if job is None:
            return None
        if job.status == JobStatus.QUEUED:
            job.status = JobStatus.CANCELLED
            job.finished_at = utcnow()
        elif job.status == JobStatus.RUNNING:
            job.cancel_requested = True
        # DELIVERING: the video exists and is on its way; too late to take it back.
        return job


async def active_for_user(db: Database, user_id: int) -> tuple[Job, int] | None:
    async with db.read() as session:
        job = await session.scalar(
            select(Job).where(Job.user_id == user_id, Job.status.in_(ACTIVE_STATUSES)).order_by(Job.id)
        )
        if job is None:
            return None
        return job, await _position(session, job.id)


async def position(db: Database, job_id: int) -> int:
    async with db.read() as session:
        return await _position(session, job_id)


async def queue_length(db: Database) -> int:
    async with db.read() as session:
        return await _active_count(session)


async def recent_for_user(db: Database, user_id: int, limit: int = 5) -> list[Job]:
    async with db.read() as session:
        rows = await session.scalars(
            select(Job).where(Job.user_id == user_id).order_by(Job.id.desc()).limit(limit)
        )
        return list(rows)


async def count_today(db: Database, user_id: int) -> int:
    async with db.read() as session:
        return await _today_count(session, user_id)


async def cached_result(db: Database, file_unique_id: str, template_id: str) -> str | None:
    """The file_id of a video already delivered for this photo and template, if any."""
    async with db.read() as session:
        return await session.scalar(
            select(Job.result_file_id)
            .where(
                Job.input_file_unique_id == file_unique_id,
                Job.template_id == template_id,
                Job.kind == JobKind.RENDER,
                Job.status == JobStatus.DONE,
                Job.result_file_id.is_not(None),
            )
            .order_by(Job.id.desc())
            .limit(1)
        )


async def stats(db: Database) -> Stats:
    async with db.read() as session:
        rows = await session.execute(select(Job.status, func.count()).group_by(Job.status))
        by_status = {str(status): int(n) for status, n in rows}
        avg = await session.scalar(
            select(func.avg(Job.render_seconds)).where(
                Job.render_seconds.is_not(None), Job.kind == JobKind.RENDER
            )
        )
        return Stats(
            by_status=by_status,
            average_render_seconds=float(avg) if avg is not None else None,
            queue_length=await _active_count(session),
        )


async def migrate_chat(db: Database, old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: its jobs and offers follow it."""
    async with db.write() as session:
        await session.execute(update(Job).where(Job.chat_id == old_chat_id).values(chat_id=new_chat_id))
        await session.execute(
            update(Offer).where(Offer.chat_id == old_chat_id).values(chat_id=new_chat_id)
        )


def older_than(days: int) -> datetime:
    return utcnow() - timedelta(days=days)
