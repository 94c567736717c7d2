"""The job queue: enqueue with limits, claims with leases, hand-over to delivery, outcomes, cache.

A job's life: queued → running (a render stage holds its lease) → delivering (rendered; a delivery
stage holds the lease while it sends) → done | failed | cancelled. Every change is one
transaction whose UPDATE names the state it expects, so two stages (or two processes) never both
take a job: a claim that loses the race updates no row and returns None. `next_attempt_at` parks a
job that waits for Telegram (a download or a delivery past its immediate retries); an expired
lease means its stage died, and the job may be taken over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.codecs import FaceBox, GridInput, RenderChoices, RenderNotes
from storage.db import Database
from storage.models import (
    ACTIVE_STATUSES,
    QUOTA_KINDS,
    RENDER_STAGE_KINDS,
    RENDER_STATUSES,
    VIDEO_OUTPUT,
    Job,
    JobKind,
    JobStatus,
    Offer,
    utcnow,
)


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
    result_key: str | None = None  # see Job.result_key
    output_kind: str = VIDEO_OUTPUT  # an engine.OutputKind value
    parent_job_id: int | None = None  # conversions: the render they re-encode
    cost: int = 1  # against the daily quota (a grid: its number of faces)
    options: RenderChoices | None = None  # the requester's render choices
    inputs: tuple[GridInput, ...] | None = None  # a grid's photos


@dataclass(frozen=True)
class Stats:
    by_status: dict[str, int]
    average_render_seconds: float | None
    queue_length: int


def day_start(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(Job.next_attempt_at.is_(None), Job.next_attempt_at <= now)


def _lease_free(now: datetime) -> ColumnElement[bool]:
    return or_(Job.lease_until.is_(None), Job.lease_until < now)


def _mine(job_id: int, owner: str) -> ColumnElement[bool]:
    return and_(Job.id == job_id, Job.lease_owner == owner)


async def _count(session: AsyncSession, *where: ColumnElement[bool]) -> int:
    return int(await session.scalar(select(func.count()).select_from(Job).where(*where)) or 0)


_IN_RENDER_LINE = and_(Job.status.in_(RENDER_STATUSES), Job.kind.in_(RENDER_STAGE_KINDS))


async def _today_count(session: AsyncSession, user_id: int) -> int:
    """What the user's renders since midnight UTC cost (a grid: its faces); answers from the
    cache are free."""
    return int(await session.scalar(
        select(func.coalesce(func.sum(Job.cost), 0)).where(
            Job.user_id == user_id, Job.created_at >= day_start(), Job.from_cache.is_(False),
            Job.kind.in_(QUOTA_KINDS))) or 0)


async def _position(session: AsyncSession, job_id: int) -> int:
    """1 = next in line (or the one rendering); FIFO by id among jobs waiting for the render stage."""
    return await _count(session, _IN_RENDER_LINE, Job.id <= job_id)


async def _user_pending(session: AsyncSession, user_id: int) -> Job | None:
    return await session.scalar(
        select(Job).where(Job.user_id == user_id, _IN_RENDER_LINE).order_by(Job.id).limit(1))


def _row(new: NewJob, **state: object) -> Job:
    return Job(kind=str(new.kind), user_id=new.user_id, chat_id=new.chat_id,
               source_message_id=new.source_message_id, language=new.language,
               input_file_id=new.input_file_id, input_file_unique_id=new.input_file_unique_id,
               template_id=new.template_id, template_title=new.template_title,
               status_message_id=new.status_message_id, result_key=new.result_key,
               output_kind=str(new.output_kind), parent_job_id=new.parent_job_id, cost=new.cost,
               options=new.options, inputs=new.inputs, **state)


# --- intake -------------------------------------------------------------------------------------
async def used_today(db: Database, user_id: int) -> int:
    """Renders counted against the user's daily quota so far (checked before a photo is downloaded)."""
    async with db.read() as session:
        return await _today_count(session, user_id)


async def enqueue(db: Database, new: NewJob, limits: Limits) -> tuple[Job, int]:
    """Queue a job after checking one-pending-render-per-user, the daily quota and the queue cap.

    Returns the job and its position. Raises AlreadyActive, QuotaExceeded or QueueFull.
    """
    async with db.write() as session:
        await db.serialize(session, "yahey-enqueue")  # the checks below read, then this writes
        if not limits.exempt:
            pending = await _user_pending(session, new.user_id)
            if pending is not None:
                where = await _position(session, pending.id)
                session.expunge(pending)  # keep its loaded values: the rollback below would expire them
                raise AlreadyActive(pending, where)
            if new.kind in QUOTA_KINDS and await _today_count(session, new.user_id) + new.cost > limits.daily_quota:
                raise QuotaExceeded(limits.daily_quota)
            if await _count(session, _IN_RENDER_LINE) >= limits.max_queue:
                raise QueueFull(limits.max_queue)
        job = _row(new, status=JobStatus.QUEUED)
        session.add(job)
        await session.flush()
        return job, await _position(session, job.id)


async def add(db: Database, new: NewJob) -> Job:
    """Queue a job outside the render line's limits (a conversion)."""
    async with db.write() as session:
        job = _row(new, status=JobStatus.QUEUED)
        session.add(job)
        await session.flush()
        return job


async def record_cached(db: Database, new: NewJob, source: Job) -> Job:
    """A request answered from the file_id cache: handed straight to the delivery stage. It keeps
    the source's render (file, size, faces) so that it can be converted like the original."""
    async with db.write() as session:
        now = utcnow()
        job = _row(new, status=JobStatus.DELIVERING, from_cache=True, result_file_id=source.result_file_id,
                   started_at=now, rendered_at=now, result_path=source.result_path,
                   result_width=source.result_width, result_height=source.result_height,
                   result_duration=source.result_duration, face_boxes=source.face_boxes)
        session.add(job)
        await session.flush()
        return job


async def cached_result(db: Database, file_unique_id: str, result_key: str,
                        output_kind: str = VIDEO_OUTPUT) -> Job | None:
    """The newest delivered result (a video, or a note, sticker or GIF of one) made from this photo
    with this template content and these options, if any: its result_file_id can be sent again."""
    async with db.read() as session:
        return await session.scalar(
            select(Job)
            .where(Job.input_file_unique_id == file_unique_id, Job.result_key == result_key,
                   Job.output_kind == str(output_kind), Job.status == JobStatus.DONE,
                   Job.result_file_id.is_not(None))
            .order_by(Job.id.desc())
            .limit(1)
        )


# --- claims -------------------------------------------------------------------------------------
async def _claim(db: Database, claimable: ColumnElement[bool], order: list, values: dict[str, object]) -> Job | None:
    async with db.write() as session:
        # SKIP LOCKED on PostgreSQL (several processes); SQLite's IMMEDIATE transaction already
        # serialises writers and ignores FOR UPDATE.
        candidate = await session.scalar(
            select(Job.id).where(claimable).order_by(*order).limit(1).with_for_update(skip_locked=True))
        if candidate is None:
            return None
        result = await session.execute(update(Job).where(Job.id == candidate, claimable).values(**values))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None  # another process won it
        return await session.get(Job, candidate, populate_existing=True)


def _takeable(now: datetime) -> ColumnElement[bool]:
    """Due in line, or running under a lease that expired (its stage died)."""
    return or_(and_(Job.status == JobStatus.QUEUED, _due(now)),
               and_(Job.status == JobStatus.RUNNING, Job.lease_until < now))


async def _take(db: Database, of_kind: ColumnElement[bool], owner: str, lease: timedelta, now: datetime | None,
                job_id: int | None) -> Job | None:
    now = now or utcnow()
    claimable = and_(_takeable(now), of_kind)
    if job_id is not None:
        claimable = and_(claimable, Job.id == job_id)
    return await _claim(db, claimable, [Job.id], {
        "status": JobStatus.RUNNING, "lease_owner": owner, "lease_until": now + lease,
        "attempts": Job.attempts + 1, "started_at": now, "next_attempt_at": None})


async def claim_render(db: Database, owner: str, lease: timedelta, now: datetime | None = None,
                       job_id: int | None = None) -> Job | None:
    """The oldest due render-stage job (or a running one whose stage's lease expired), now running
    under `owner`'s lease, its attempt counted. None when there is nothing to do. `job_id`: that
    job only (a dispatched task), if it can be taken now."""
    return await _take(db, Job.kind.in_(RENDER_STAGE_KINDS), owner, lease, now, job_id)


async def claim_conversion(db: Database, owner: str, lease: timedelta, now: datetime | None = None,
                           job_id: int | None = None) -> Job | None:
    """Like claim_render, for conversions (they never wait behind a render)."""
    return await _take(db, Job.kind == JobKind.CONVERT, owner, lease, now, job_id)


async def claim_delivery(db: Database, owner: str, lease: timedelta, now: datetime | None = None) -> Job | None:
    """The longest-waiting due delivery whose lease is free, now leased to `owner`."""
    now = now or utcnow()
    claimable = and_(Job.status == JobStatus.DELIVERING, _due(now), _lease_free(now))
    return await _claim(db, claimable, [func.coalesce(Job.next_attempt_at, Job.rendered_at), Job.id], {
        "lease_owner": owner, "lease_until": now + lease, "delivery_attempts": Job.delivery_attempts + 1})


async def renew_lease(db: Database, job_id: int, owner: str, lease: timedelta) -> bool:
    """Extend `owner`'s lease; False when the job is no longer theirs (taken over, cancelled)."""
    async with db.write() as session:
        result = await session.execute(
            update(Job).where(_mine(job_id, owner), Job.status.in_(ACTIVE_STATUSES))
            .values(lease_until=utcnow() + lease))
        return result.rowcount == 1  # type: ignore[attr-defined]


async def forgotten(db: Database, waited: timedelta, now: datetime | None = None) -> list[tuple[int, str]]:
    """(id, kind) of jobs due in line for longer than `waited`, or running under an expired lease."""
    now = now or utcnow()
    since = func.coalesce(Job.next_attempt_at, Job.created_at)
    async with db.read() as session:
        rows = await session.execute(select(Job.id, Job.kind).where(or_(
            and_(Job.status == JobStatus.QUEUED, _due(now), since < now - waited),
            and_(Job.status == JobStatus.RUNNING, Job.lease_until < now),
        )).order_by(Job.id))
        return [(int(i), str(k)) for i, k in rows]


async def retry_in(db: Database, job_id: int, now: datetime | None = None) -> float | None:
    """For a job a stage could not take: seconds until it may be taken (parked, or leased by
    another stage), None when there is nothing left to do for it (finished, or past that stage)."""
    now = now or utcnow()
    async with db.read() as session:
        job = await session.get(Job, job_id)
    if job is None:
        return None
    if job.status == JobStatus.QUEUED and job.next_attempt_at is not None and job.next_attempt_at > now:
        return (job.next_attempt_at - now).total_seconds()
    if job.status == JobStatus.RUNNING and job.lease_until is not None:
        return max(1.0, (job.lease_until - now).total_seconds() + 1.0)
    return None


async def next_due(db: Database, status: JobStatus, kinds: tuple[JobKind, ...] | None = None) -> datetime | None:
    """When the earliest parked job in `status` (of these kinds) becomes due (None: nothing parked)."""
    where = [Job.status == status, Job.next_attempt_at.is_not(None)]
    if kinds is not None:
        where.append(Job.kind.in_(kinds))
    async with db.read() as session:
        return await session.scalar(select(func.min(Job.next_attempt_at)).where(*where))


# --- render stage outcomes ------------------------------------------------------------------------
async def hand_over(db: Database, job_id: int, owner: str, *, path: str, width: int, height: int,
                    duration: float, seconds: float, face_boxes: tuple[FaceBox, ...] | None = None,
                    notes: RenderNotes | None = None) -> bool:
    """The render (or conversion) is on disk: the job goes to the delivery stage (a crash from here
    on re-sends, never re-renders). False when the lease was lost meanwhile."""
    async with db.write() as session:
        result = await session.execute(
            update(Job).where(_mine(job_id, owner), Job.status == JobStatus.RUNNING).values(
                status=JobStatus.DELIVERING, result_path=path, result_width=width, result_height=height,
                result_duration=duration, render_seconds=seconds, rendered_at=utcnow(),
                lease_owner=None, lease_until=None, next_attempt_at=None, error=None,
                face_boxes=face_boxes, notes=notes))
        return result.rowcount == 1  # type: ignore[attr-defined]


async def release_render(db: Database, job_id: int, owner: str, *, retry_at: datetime | None = None,
                         error: str | None = None, uncount_attempt: bool = True) -> bool:
    """Put a claimed job back in line at its place (by id). `uncount_attempt`: the claim was not
    the job's fault (a shutdown, Telegram unreachable for the download)."""
    values: dict[str, object] = {"status": JobStatus.QUEUED, "lease_owner": None, "lease_until": None,
                                 "next_attempt_at": retry_at}
    if retry_at is not None:
        values["parked_tries"] = Job.parked_tries + 1
    if uncount_attempt:
        values["attempts"] = case((Job.attempts > 0, Job.attempts - 1), else_=0)
    if error is not None:
        values["error"] = error[:500]
    async with db.write() as session:
        result = await session.execute(
            update(Job).where(_mine(job_id, owner), Job.status == JobStatus.RUNNING).values(**values))
        return result.rowcount == 1  # type: ignore[attr-defined]


async def reschedule_delivery(db: Database, job_id: int, owner: str, retry_at: datetime, error: str) -> bool:
    """Telegram could not be reached past the immediate retries: try again at `retry_at`."""
    async with db.write() as session:
        result = await session.execute(
            update(Job).where(_mine(job_id, owner), Job.status == JobStatus.DELIVERING).values(
                next_attempt_at=retry_at, lease_owner=None, lease_until=None, error=error[:500],
                parked_tries=Job.parked_tries + 1))
        return result.rowcount == 1  # type: ignore[attr-defined]


# --- final states -------------------------------------------------------------------------------
def _finished(status: JobStatus, **values: object) -> dict[str, object]:
    return {"status": status, "finished_at": utcnow(), "lease_owner": None, "lease_until": None,
            "next_attempt_at": None, **values}


async def mark_done(db: Database, job_id: int, result_file_id: str | None = None) -> None:
    """Delivered: 'done' and the file_id in one commit right after Telegram accepted the video."""
    values = _finished(JobStatus.DONE, error=None)
    if result_file_id is not None:
        values["result_file_id"] = result_file_id
    async with db.write() as session:
        await session.execute(update(Job).where(Job.id == job_id).values(**values))


async def mark_failed(db: Database, job_id: int, error: str, owner: str | None = None) -> bool:
    """The job failed for good. `owner`: only while that stage still holds the job's lease (one
    that lost it leaves the job to the stage that took it over). False when nothing changed."""
    return await _finish(db, job_id, owner, _finished(JobStatus.FAILED, error=error[:500]))


async def mark_cancelled(db: Database, job_id: int, owner: str | None = None) -> bool:
    """Like mark_failed, for a job its owner cancelled."""
    return await _finish(db, job_id, owner, _finished(JobStatus.CANCELLED))


async def _finish(db: Database, job_id: int, owner: str | None, values: dict[str, object]) -> bool:
    async with db.write() as session:
        result = await session.execute(
            update(Job).where(Job.id == job_id if owner is None else _mine(job_id, owner)).values(**values))
        return result.rowcount == 1  # type: ignore[attr-defined]


async def set_template(db: Database, job_id: int, template_id: str) -> None:
    async with db.write() as session:
        await session.execute(update(Job).where(Job.id == job_id).values(template_id=template_id))


async def release_all_leases(db: Database) -> int:
    """At start-up of the one process that owns this database (local mode): jobs its last run left
    rendering go back in line (the crashed attempt counted; those whose owner asked to cancel are
    cancelled), deliveries it left leased are free at once. Returns how many renders were re-queued."""
    async with db.write() as session:
        await session.execute(
            update(Job).where(Job.status == JobStatus.RUNNING, Job.cancel_requested.is_(True))
            .values(**_finished(JobStatus.CANCELLED)))
        result = await session.execute(
            update(Job).where(Job.status == JobStatus.RUNNING)
            .values(status=JobStatus.QUEUED, lease_owner=None, lease_until=None))
        await session.execute(
            update(Job).where(Job.status == JobStatus.DELIVERING).values(lease_owner=None, lease_until=None))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- owners' requests ---------------------------------------------------------------------------
async def request_cancel(db: Database, user_id: int) -> Job | None:
    """Cancel the user's pending render (else their pending conversion): a queued one at once; a
    running one is flagged (its stage stops at its next step). Returns the job as it now stands,
    None if there was none."""
    async with db.write() as session:
        job = await _user_pending(session, user_id) or await session.scalar(
            select(Job).where(Job.user_id == user_id, Job.kind == JobKind.CONVERT,
                              Job.status.in_(RENDER_STATUSES)).order_by(Job.id).limit(1))
        if job is None:
            return None
        if job.status == JobStatus.QUEUED:
            job.status = JobStatus.CANCELLED
            job.finished_at = utcnow()
            job.next_attempt_at = None
        else:
            job.cancel_requested = True
        return job


async def cancel_requested(db: Database, job_id: int) -> bool:
    async with db.read() as session:
        return bool(await session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


# --- reading ------------------------------------------------------------------------------------
async def get(db: Database, job_id: int) -> Job | None:
    async with db.read() as session:
        return await session.get(Job, job_id)


async def pending_for_user(db: Database, user_id: int) -> tuple[Job, int] | None:
    """The user's job waiting for or in the render stage, with its position."""
    async with db.read() as session:
        job = await _user_pending(session, user_id)
        if job is None:
            return None
        return job, await _position(session, job.id)


async def queue_length(db: Database) -> int:
    """Jobs waiting for or in the render stage."""
    async with db.read() as session:
        return await _count(session, _IN_RENDER_LINE)


async def active_conversion(db: Database, parent_job_id: int, output_kind: str) -> Job | None:
    """A conversion of this render into this kind that is already on its way (a second press)."""
    async with db.read() as session:
        return await session.scalar(
            select(Job).where(Job.parent_job_id == parent_job_id, Job.output_kind == str(output_kind),
                              Job.status.in_(ACTIVE_STATUSES)).limit(1))


async def delivered_results(db: Database, user_id: int, limit: int = 50) -> list[Job]:
    """The user's delivered results (videos and conversions) that can be re-sent by file_id, newest
    first: what inline mode lists."""
    async with db.read() as session:
        rows = await session.scalars(
            select(Job).where(Job.user_id == user_id, Job.status == JobStatus.DONE, Job.result_file_id.is_not(None),
                              Job.kind.in_((JobKind.RENDER, JobKind.GRID, JobKind.CONVERT)))
            .order_by(Job.finished_at.desc(), Job.id.desc()).limit(limit))
        return list(rows)


async def parked_deliveries(db: Database) -> int:
    """Rendered jobs waiting for Telegram before their next delivery try."""
    async with db.read() as session:
        return await _count(session, Job.status == JobStatus.DELIVERING, Job.next_attempt_at.is_not(None))


async def active_job_ids(db: Database) -> set[int]:
    async with db.read() as session:
        return set(await session.scalars(select(Job.id).where(Job.status.in_(ACTIVE_STATUSES))))


async def recent_for_user(db: Database, user_id: int, limit: int = 5) -> list[Job]:
    async with db.read() as session:
        rows = await session.scalars(select(Job).where(Job.user_id == user_id).order_by(Job.id.desc()).limit(limit))
        return list(rows)


async def stats(db: Database) -> Stats:
    async with db.read() as session:
        rows = await session.execute(select(Job.status, func.count()).group_by(Job.status))
        by_status = {str(status): int(n) for status, n in rows}
        avg = await session.scalar(
            select(func.avg(Job.render_seconds)).where(Job.render_seconds.is_not(None), Job.kind == JobKind.RENDER))
        return Stats(
            by_status=by_status,
            average_render_seconds=float(avg) if avg is not None else None,
            queue_length=await _count(session, _IN_RENDER_LINE),
        )


async def migrate_chat(db: Database, old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: its jobs and offers follow it. The messages its unfinished jobs
    answer and edit stayed in the old chat, and their ids name other messages in the new one: those
    jobs now send without a reply (source_message_id 0) and a new message instead of an edit."""
    async with db.write() as session:
        await session.execute(update(Job).where(Job.chat_id == old_chat_id, Job.status.in_(ACTIVE_STATUSES))
                              .values(source_message_id=0, status_message_id=None))
        await session.execute(update(Job).where(Job.chat_id == old_chat_id).values(chat_id=new_chat_id))
        await session.execute(update(Offer).where(Offer.chat_id == old_chat_id).values(chat_id=new_chat_id))


def older_than(days: int) -> datetime:
    return utcnow() - timedelta(days=days)
