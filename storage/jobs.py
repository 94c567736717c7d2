"""The job queue: enqueue with limits, claims with leases, hand-over to delivery, outcomes, cache.

This module is the job's state machine, and the only place that changes a job's state:

    queued ──claim──▶ running ──hand_over──▶ delivering ──mark_done──▶ done
      ▲                 │  │                   │  ▲  │
      └──release_render─┘  │                   │  └──┘ reschedule_delivery (parked, lease freed)
                           ▼                   ▼
               failed | cancelled         failed (mark_failed)

Every transition is one conditional UPDATE that names the status it expects and, once a job is
claimed, the claim that holds it (`claim_token`, a random token per claim: several slots of one
process share a lease owner name); its result says whether it happened, and the caller acts on
that. Two stages (or two hosts) therefore never both take a job, and a stage whose lease was
taken over can change nothing any more. Leases and parked times are on the database's clock
(storage/clock.py), so hosts' clocks do not matter.

Attempts are bounded for every cause: a claim counts one (`attempts` for the render and
conversion stages, `delivery_attempts` for the delivery stage) and refuses a job that has used
them all; such a job is failed by `give_up_exhausted` (the stage tells its owner), so a job that
kills its process each time never holds up the queue. A claim that ends in an outcome the job is
not to blame for (Telegram away, a shutdown) gives its attempt back.

Stages get plain values: a claim returns a frozen `ClaimedJob`; the rows stay here.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Result, and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import (
    ACTIVE_STATUSES,
    QUOTA_KINDS,
    RENDER_STAGE_KINDS,
    RENDER_STATUSES,
    Job,
    JobKind,
    JobStatus,
    Offer,
    OutputKind,
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
    output_kind: OutputKind = OutputKind.VIDEO
    parent_job_id: int | None = None  # conversions: the render they re-encode
    cost: int = 1  # against the daily quota (a grid: its number of faces)
    options: str | None = None  # JSON: the requester's render choices
    inputs: str | None = None  # JSON: a grid's photos


@dataclass(frozen=True)
class Stats:
    by_status: dict[str, int]
    average_render_seconds: float | None
    queue_length: int


def day_start(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class JobRecord:
    """A job's values as they were read: what the pipeline works with (it never holds a row)."""

    id: int
    kind: str
    user_id: int
    chat_id: int
    source_message_id: int
    status_message_id: int | None
    language: str
    input_file_id: str
    input_file_unique_id: str
    template_id: str | None
    template_title: str | None
    result_key: str | None
    status: str
    cancel_requested: bool
    from_cache: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    result_path: str | None
    result_width: int | None
    result_height: int | None
    result_duration: float | None
    result_file_id: str | None
    render_seconds: float | None
    rendered_at: datetime | None
    attempts: int
    delivery_attempts: int
    parked_tries: int
    next_attempt_at: datetime | None
    lease_owner: str | None
    lease_until: datetime | None
    output_kind: str
    parent_job_id: int | None
    cost: int
    options: str | None
    inputs: str | None
    face_boxes: str | None
    notes: str | None
    import_id: str | None

    @classmethod
    def of(cls, row: Job) -> JobRecord:
        return cls(**{f.name: getattr(row, f.name) for f in fields(JobRecord)})

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True)
class ClaimedJob(JobRecord):
    """A job as its claim found it. `claim` is the claim's token: every change the stage makes to
    the job names it, and fails (returns False) once the job is no longer this claim's."""

    claim: str

    @classmethod
    def claimed(cls, row: Job) -> ClaimedJob:
        assert row.claim_token is not None
        return cls(**{f.name: getattr(row, f.name) for f in fields(JobRecord)}, claim=row.claim_token)


def _changed(result: Result[Any]) -> int:
    return int(cast(CursorResult[Any], result).rowcount or 0)


def _due(db: Database) -> ColumnElement[bool]:
    return or_(Job.next_attempt_at.is_(None), Job.next_attempt_at <= db.now())


def _lease_free(db: Database) -> ColumnElement[bool]:
    return or_(Job.lease_until.is_(None), Job.lease_until < db.now())


def _held(claim: ClaimedJob, *statuses: JobStatus) -> ColumnElement[bool]:
    """The job is still in one of `statuses` (default: the status it was claimed in) under this claim."""
    return and_(Job.id == claim.id, Job.claim_token == claim.claim,
                Job.status.in_(statuses or (JobStatus(claim.status),)))


def _seconds(lease: timedelta | float) -> float:
    return lease.total_seconds() if isinstance(lease, timedelta) else float(lease)


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


_IMPORT_KINDS = (JobKind.TEMPLATE_IMPORT, JobKind.OWN_TEMPLATE)


def _row(new: NewJob, **state: object) -> Job:
    import_id = f"i{secrets.token_hex(8)}" if new.kind in _IMPORT_KINDS else None
    return Job(kind=str(new.kind), import_id=import_id, user_id=new.user_id, chat_id=new.chat_id,
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


async def record_cached(db: Database, new: NewJob, source: Job | JobRecord) -> Job:
    """A request answered from the file_id cache: handed straight to the delivery stage. It keeps
    the source's render (file, size, faces) so that it can be converted like the original."""
    async with db.write() as session:
        job = _row(new, status=JobStatus.DELIVERING, from_cache=True, result_file_id=source.result_file_id,
                   started_at=db.now(), rendered_at=db.now(), result_path=source.result_path,
                   result_width=source.result_width, result_height=source.result_height,
                   result_duration=source.result_duration, face_boxes=source.face_boxes)
        session.add(job)
        await session.flush()
        return job


async def cached_result(db: Database, file_unique_id: str, result_key: str,
                        output_kind: OutputKind = OutputKind.VIDEO) -> Job | None:
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
async def _claim(db: Database, claimable: ColumnElement[bool], order: Sequence[Any],
                 values: dict[str, object]) -> ClaimedJob | None:
    token = secrets.token_hex(16)
    async with db.write() as session:
        # SKIP LOCKED on PostgreSQL (several processes); SQLite's IMMEDIATE transaction already
        # serialises writers and ignores FOR UPDATE.
        candidate = await session.scalar(
            select(Job.id).where(claimable).order_by(*order).limit(1).with_for_update(skip_locked=True))
        if candidate is None:
            return None
        result = await session.execute(
            update(Job).where(Job.id == candidate, claimable).values(claim_token=token, **values))
        if _changed(result) != 1:
            return None  # another process won it
        row = await session.get(Job, candidate, populate_existing=True)
        return ClaimedJob.claimed(row) if row is not None else None


def _takeable(db: Database) -> ColumnElement[bool]:
    """Due in line, or running under a lease that expired (its stage died)."""
    return or_(and_(Job.status == JobStatus.QUEUED, _due(db)),
               and_(Job.status == JobStatus.RUNNING, Job.lease_until < db.now()))


def _kinds(kinds: Sequence[JobKind]) -> ColumnElement[bool]:
    return Job.kind.in_([str(k) for k in kinds])


async def claim_render(db: Database, owner: str, lease: timedelta | float, *, max_attempts: int,
                       job_id: int | None = None, kinds: Sequence[JobKind] = RENDER_STAGE_KINDS) -> ClaimedJob | None:
    """The oldest due render-stage job (or a running one whose stage's lease expired), now running
    under a new claim leased to `owner`, its attempt counted. A job that has had `max_attempts`
    claims is never taken (give_up_exhausted fails it). None when there is nothing to do.
    `job_id`: that job only (a dispatched task), if it can be taken now."""
    claimable = and_(_takeable(db), _kinds(kinds), Job.attempts < max_attempts)
    if job_id is not None:
        claimable = and_(claimable, Job.id == job_id)
    return await _claim(db, claimable, [Job.id], {
        "status": JobStatus.RUNNING, "lease_owner": owner, "lease_until": db.now(_seconds(lease)),
        "attempts": Job.attempts + 1, "started_at": db.now(), "next_attempt_at": None})


async def claim_conversion(db: Database, owner: str, lease: timedelta | float, *, max_attempts: int,
                           job_id: int | None = None) -> ClaimedJob | None:
    """Like claim_render, for conversions (they never wait behind a render)."""
    return await claim_render(db, owner, lease, max_attempts=max_attempts, job_id=job_id, kinds=(JobKind.CONVERT,))


async def claim_delivery(db: Database, owner: str, lease: timedelta | float, *, max_attempts: int,
                         job_id: int | None = None) -> ClaimedJob | None:
    """The longest-waiting due delivery whose lease is free, now leased to `owner` under a new
    claim, its delivery attempt counted and its `next_attempt_at` cleared (a claimed job is not due:
    idle stages do not poll for it). `job_id`: that job only."""
    claimable = and_(Job.status == JobStatus.DELIVERING, _due(db), _lease_free(db),
                     Job.delivery_attempts < max_attempts)
    if job_id is not None:
        claimable = and_(claimable, Job.id == job_id)
    return await _claim(db, claimable, [func.coalesce(Job.next_attempt_at, Job.rendered_at), Job.id], {
        "lease_owner": owner, "lease_until": db.now(_seconds(lease)), "next_attempt_at": None,
        "delivery_attempts": Job.delivery_attempts + 1})


def _exhausted(db: Database, kinds: Sequence[JobKind] | None, max_attempts: int) -> ColumnElement[bool]:
    """Jobs no claim will take again, waiting for a stage: their attempts are used up."""
    if kinds is None:  # the delivery stage
        return and_(Job.status == JobStatus.DELIVERING, _lease_free(db), Job.delivery_attempts >= max_attempts)
    return and_(_kinds(kinds), Job.attempts >= max_attempts, or_(
        Job.status == JobStatus.QUEUED, and_(Job.status == JobStatus.RUNNING, _lease_free(db))))


async def give_up_exhausted(db: Database, kinds: Sequence[JobKind] | None, max_attempts: int,
                            error: str) -> list[JobRecord]:
    """Fail the jobs of these kinds (None: deliveries) whose attempts are used up and that no stage
    holds: each was claimed `max_attempts` times and never came to an outcome (the process died
    with it). Returns them as failed, for their owners to be told."""
    exhausted = _exhausted(db, kinds, max_attempts)
    async with db.read() as session:  # mostly none: no write lock for that
        if await session.scalar(select(Job.id).where(exhausted).limit(1)) is None:
            return []
    async with db.write() as session:
        ids = list(await session.scalars(select(Job.id).where(exhausted).order_by(Job.id)
                                         .with_for_update(skip_locked=True)))
        if not ids:
            return []
        await session.execute(update(Job).where(Job.id.in_(ids), exhausted)
                              .values(**_finished(db, JobStatus.FAILED, error=error[:500])))
        rows = await session.scalars(select(Job).where(Job.id.in_(ids), Job.status == JobStatus.FAILED)
                                     .execution_options(populate_existing=True))
        return [JobRecord.of(row) for row in rows]


async def renew_lease(db: Database, claim: ClaimedJob, lease: timedelta | float) -> bool:
    """Extend the claim's lease; False when the job is no longer this claim's (taken over after
    the lease expired, finished, handed over)."""
    async with db.write() as session:
        result = await session.execute(
            update(Job).where(_held(claim)).values(lease_until=db.now(_seconds(lease))))
        return _changed(result) == 1


async def forgotten(db: Database, waited: timedelta) -> list[tuple[int, str]]:
    """(id, kind) of jobs due in line for longer than `waited`, or running under an expired lease."""
    since = func.coalesce(Job.next_attempt_at, Job.created_at)
    async with db.read() as session:
        rows = await session.execute(select(Job.id, Job.kind).where(or_(
            and_(Job.status == JobStatus.QUEUED, _due(db), since < db.now(-waited.total_seconds())),
            and_(Job.status == JobStatus.RUNNING, Job.lease_until < db.now()),
        )).order_by(Job.id))
        return [(int(i), str(k)) for i, k in rows]


async def retry_in(db: Database, job_id: int) -> float | None:
    """For a job a stage could not take: seconds until it may be taken (parked, or leased by
    another stage), None when there is nothing left to do for it (finished, past that stage, or
    out of attempts)."""
    async with db.read() as session:
        row = (await session.execute(select(Job.status, Job.next_attempt_at, Job.lease_until, db.now())
                                     .where(Job.id == job_id))).first()
    if row is None:
        return None
    status, next_attempt_at, lease_until, now = row
    if status == JobStatus.QUEUED and next_attempt_at is not None and next_attempt_at > now:
        return float((next_attempt_at - now).total_seconds())
    if status == JobStatus.RUNNING and lease_until is not None:
        return max(1.0, (lease_until - now).total_seconds() + 1.0)
    return None


async def seconds_until_due(db: Database, status: JobStatus, kinds: Sequence[JobKind] | None = None,
                            leased_in: JobStatus | None = None, others_than: str | None = None) -> float | None:
    """Seconds (by the database's clock) until the earliest job parked in `status` (of these
    kinds) becomes due, or until the earliest lease in `leased_in` runs out (a takeover; leases of
    owner `others_than`, the asking process's own live ones, left out): what an idle stage waits
    for. None: nothing parked or leased."""
    parked = [Job.status == status, Job.next_attempt_at.is_not(None)]
    leased = [Job.status == (leased_in or status), Job.lease_until.is_not(None)]
    if others_than is not None:
        leased.append(Job.lease_owner != others_than)
    if kinds is not None:
        parked.append(_kinds(kinds))
        leased.append(_kinds(kinds))
    async with db.read() as session:
        now = await session.scalar(select(db.now()))
        due = await session.scalar(select(func.min(Job.next_attempt_at)).where(*parked))
        lease = await session.scalar(select(func.min(Job.lease_until)).where(*leased))
    times: list[datetime] = [t for t in (due, lease) if t is not None]
    if not times or now is None:
        return None
    return max(0.0, float((min(times) - now).total_seconds()))


async def next_due(db: Database, status: JobStatus, kinds: tuple[JobKind, ...] | None = None) -> datetime | None:
    """When the earliest parked job in `status` (of these kinds) becomes due (None: nothing parked)."""
    where = [Job.status == status, Job.next_attempt_at.is_not(None)]
    if kinds is not None:
        where.append(_kinds(kinds))
    async with db.read() as session:
        return await session.scalar(select(func.min(Job.next_attempt_at)).where(*where))


# --- render stage outcomes ------------------------------------------------------------------------
async def hand_over(db: Database, claim: ClaimedJob, *, path: str, width: int, height: int,
                    duration: float, seconds: float, face_boxes: str | None = None,
                    notes: str | None = None) -> bool:
    """The render (or conversion) is on disk: the job goes to the delivery stage (a crash from here
    on re-sends, never re-renders). False when the claim lost the job meanwhile."""
    async with db.write() as session:
        result = await session.execute(
            update(Job).where(_held(claim, JobStatus.RUNNING)).values(
                status=JobStatus.DELIVERING, result_path=path, result_width=width, result_height=height,
                result_duration=duration, render_seconds=seconds, rendered_at=db.now(),
                lease_owner=None, lease_until=None, claim_token=None, next_attempt_at=None, error=None,
                face_boxes=face_boxes, notes=notes))
        return _changed(result) == 1


def _uncounted(column: Any) -> Any:
    return case((column > 0, column - 1), else_=0)


async def release_render(db: Database, claim: ClaimedJob, *, retry_in: float | None = None,
                         error: str | None = None, uncount_attempt: bool = True) -> bool:
    """Put a claimed job back in line at its place (by id), due again in `retry_in` seconds (None:
    at once). `uncount_attempt`: the claim was not the job's fault (a shutdown, Telegram
    unreachable for the download). False, and nothing changed, when the claim lost the job."""
    values: dict[str, object] = {"status": JobStatus.QUEUED, "lease_owner": None, "lease_until": None,
                                 "claim_token": None,
                                 "next_attempt_at": db.now(retry_in) if retry_in is not None else None}
    if retry_in is not None:
        values["parked_tries"] = Job.parked_tries + 1
    if uncount_attempt:
        values["attempts"] = _uncounted(Job.attempts)
    if error is not None:
        values["error"] = error[:500]
    async with db.write() as session:
        result = await session.execute(update(Job).where(_held(claim, JobStatus.RUNNING)).values(**values))
        return _changed(result) == 1


async def reschedule_delivery(db: Database, claim: ClaimedJob, retry_in: float, error: str, *,
                              uncount_attempt: bool = True) -> bool:
    """The send did not get through: try again in `retry_in` seconds, lease freed. `uncount_attempt`:
    not the job's fault (Telegram away, a shutdown); an unexpected error keeps its attempt counted,
    so that it cannot be resent for ever."""
    values: dict[str, object] = {"next_attempt_at": db.now(retry_in), "lease_owner": None, "lease_until": None,
                                 "claim_token": None, "error": error[:500], "parked_tries": Job.parked_tries + 1}
    if uncount_attempt:
        values["delivery_attempts"] = _uncounted(Job.delivery_attempts)
    async with db.write() as session:
        result = await session.execute(update(Job).where(_held(claim, JobStatus.DELIVERING)).values(**values))
        return _changed(result) == 1


# --- final states -------------------------------------------------------------------------------
def _finished(db: Database, status: JobStatus, **values: object) -> dict[str, object]:
    return {"status": status, "finished_at": db.now(), "lease_owner": None, "lease_until": None,
            "claim_token": None, "next_attempt_at": None, **values}


async def mark_done(db: Database, claim: ClaimedJob, result_file_id: str | None = None) -> bool:
    """Delivered (or a template job finished): 'done' and the file_id in one commit right after
    Telegram accepted the video. False when the claim no longer holds the job."""
    values = _finished(db, JobStatus.DONE, error=None)
    if result_file_id is not None:
        values["result_file_id"] = result_file_id
    return await _finish(db, claim, values)


async def mark_failed(db: Database, claim: ClaimedJob, error: str) -> bool:
    """The job failed for good. False when the claim no longer holds the job (it is left to the
    stage that took it over)."""
    return await _finish(db, claim, _finished(db, JobStatus.FAILED, error=error[:500]))


async def mark_cancelled(db: Database, claim: ClaimedJob) -> bool:
    """Like mark_failed, for a job its owner cancelled."""
    return await _finish(db, claim, _finished(db, JobStatus.CANCELLED))


async def _finish(db: Database, claim: ClaimedJob, values: dict[str, object]) -> bool:
    async with db.write() as session:
        result = await session.execute(update(Job).where(_held(claim)).values(**values))
        return _changed(result) == 1


async def set_template(db: Database, claim: ClaimedJob, template_id: str) -> bool:
    async with db.write() as session:
        result = await session.execute(update(Job).where(_held(claim)).values(template_id=template_id))
        return _changed(result) == 1


@dataclass(frozen=True)
class Released:
    requeued: int  # renders and conversions back in line
    given_up: list[JobRecord]  # out of attempts: failed (their owners are to be told)


async def release_all_leases(db: Database, max_attempts: int) -> Released:
    """At start-up of the one process that owns this database (local mode): jobs its last run left
    running go back in line (the crashed attempt counted; those whose owner asked to cancel are
    cancelled; those out of attempts fail), deliveries it left leased are free at once."""
    async with db.write() as session:
        await session.execute(
            update(Job).where(Job.status == JobStatus.RUNNING, Job.cancel_requested.is_(True))
            .values(**_finished(db, JobStatus.CANCELLED)))
        result = await session.execute(
            update(Job).where(Job.status == JobStatus.RUNNING)
            .values(status=JobStatus.QUEUED, lease_owner=None, lease_until=None, claim_token=None))
        await session.execute(
            update(Job).where(Job.status == JobStatus.DELIVERING)
            .values(lease_owner=None, lease_until=None, claim_token=None))
        requeued = _changed(result)
    given_up = await give_up_exhausted(db, RENDER_STAGE_KINDS + (JobKind.CONVERT,), max_attempts,
                                       f"failed after {max_attempts} attempts (the process died each time)")
    return Released(requeued - len(given_up), given_up)


# --- owners' requests ---------------------------------------------------------------------------
async def request_cancel(db: Database, user_id: int) -> JobRecord | None:
    """Cancel the user's pending render (else their pending conversion): a queued one at once (a
    conditional update: a claim in between wins, and the job is flagged instead); a running one is
    flagged (its stage stops at its next step). Returns the job as it now stands, None if there
    was none."""
    async with db.write() as session:
        job = await _user_pending(session, user_id) or await session.scalar(
            select(Job).where(Job.user_id == user_id, Job.kind == JobKind.CONVERT,
                              Job.status.in_(RENDER_STATUSES)).order_by(Job.id).limit(1))
        if job is None:
            return None
        job_id = job.id
        cancelled = await session.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED)
                                          .values(**_finished(db, JobStatus.CANCELLED)))
        if _changed(cancelled) == 0:
            await session.execute(update(Job).where(Job.id == job_id, Job.status.in_(ACTIVE_STATUSES))
                                  .values(cancel_requested=True))
        row = await session.get(Job, job_id, populate_existing=True)
        return JobRecord.of(row) if row is not None else None


async def cancel_requested(db: Database, job_id: int) -> bool:
    async with db.read() as session:
        return bool(await session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


# --- reading ------------------------------------------------------------------------------------
async def get(db: Database, job_id: int) -> JobRecord | None:
    async with db.read() as session:
        row = await session.get(Job, job_id)
        return JobRecord.of(row) if row is not None else None


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


async def active_conversion(db: Database, parent_job_id: int, output_kind: OutputKind) -> Job | None:
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
