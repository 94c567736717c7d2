"""A user's /forget: the request (a row leased like a job, so a restart in the middle finishes it)
and the database side of each of its steps. Every step can run twice with the same end state:
after a crash the step that was under way runs again.

The steps (bot/forget.py runs them in this order, files before the rows that name them):
stop the user's jobs → withdraw their photos from others' grids → (their files) → delete their rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import Database
from storage.models import ForgetRequest, Job, JobStatus, Offer, OfferKind, User, utcnow


# --- the request ---------------------------------------------------------------------------------
async def request(db: Database, user_id: int, chat_id: int, language: str) -> ForgetRequest:
    """Record a confirmed /forget (a second confirmation finds the first)."""
    insert = postgresql_insert if db.is_postgresql else sqlite_insert
    stmt = insert(ForgetRequest).values(user_id=user_id, chat_id=chat_id, language=language[:16],
                                        created_at=utcnow(), done_steps="[]", counts="{}", attempts=0)
    async with db.write() as session:
        await session.execute(stmt.on_conflict_do_nothing(index_elements=[ForgetRequest.user_id]))
        return (await session.scalars(select(ForgetRequest).where(ForgetRequest.user_id == user_id))).one()


async def pending(db: Database, user_id: int) -> bool:
    async with db.read() as session:
        return await session.scalar(select(ForgetRequest.id).where(ForgetRequest.user_id == user_id)) is not None


def _mine(request_id: int, owner: str):  # type: ignore[no-untyped-def]
    return and_(ForgetRequest.id == request_id, ForgetRequest.lease_owner == owner)


async def claim(db: Database, owner: str, lease: timedelta, now: datetime | None = None) -> ForgetRequest | None:
    """The oldest due request whose lease is free (never taken, or its stage died), now leased to `owner`."""
    at: Any = now or db.now()  # the database's clock unless a test names a time
    claimable = and_(or_(ForgetRequest.lease_until.is_(None), ForgetRequest.lease_until < at),
                     or_(ForgetRequest.next_attempt_at.is_(None), ForgetRequest.next_attempt_at <= at))
    async with db.write() as session:
        candidate = await session.scalar(select(ForgetRequest.id).where(claimable).order_by(ForgetRequest.id)
                                         .limit(1).with_for_update(skip_locked=True))
        if candidate is None:
            return None
        result = await session.execute(update(ForgetRequest).where(ForgetRequest.id == candidate, claimable).values(
            lease_owner=owner, lease_until=now + lease if now else db.now(lease.total_seconds()), next_attempt_at=None,
            attempts=ForgetRequest.attempts + 1))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return await session.get(ForgetRequest, candidate, populate_existing=True)


def done_steps(row: ForgetRequest) -> list[str]:
    steps: list[str] = json.loads(row.done_steps or "[]")
    return steps


def counts_of(row: ForgetRequest) -> dict[str, int]:
    counts: dict[str, int] = json.loads(row.counts or "{}")
    return counts


async def step_done(db: Database, row: ForgetRequest, owner: str, step: str, counts: dict[str, int],
                    lease: timedelta) -> bool:
    """Record a finished step and what it deleted, and renew the lease; False (nothing recorded)
    when the lease was lost meanwhile."""
    steps = done_steps(row) + [step]
    total = counts_of(row)
    for key, n in counts.items():
        total[key] = total.get(key, 0) + n
    async with db.write() as session:
        result = await session.execute(update(ForgetRequest).where(_mine(row.id, owner)).values(
            done_steps=json.dumps(steps), counts=json.dumps(total), lease_until=db.now(lease.total_seconds())))
    if cast(CursorResult[Any], result).rowcount != 1:
        return False
    row.done_steps, row.counts = json.dumps(steps), json.dumps(total)
    return True


async def park(db: Database, request_id: int, owner: str, until: datetime) -> bool:
    """Let go of the request until `until` (a running job must stop first; Telegram unreachable)."""
    async with db.write() as session:
        result = await session.execute(update(ForgetRequest).where(_mine(request_id, owner)).values(
            lease_owner=None, lease_until=None, next_attempt_at=until))
        return cast(CursorResult[Any], result).rowcount == 1


async def finish(db: Database, request_id: int) -> None:
    """The last step: the request's own row goes."""
    async with db.write() as session:
        await session.execute(delete(ForgetRequest).where(ForgetRequest.id == request_id))


async def release_all(db: Database) -> int:
    """At start-up of the one process that works on requests: what its last run held is free."""
    async with db.write() as session:
        result = await session.execute(update(ForgetRequest).where(ForgetRequest.lease_owner.is_not(None))
                                       .values(lease_owner=None, lease_until=None))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def next_due(db: Database) -> datetime | None:
    """When the earliest parked request may be taken again (None: none parked)."""
    async with db.read() as session:
        return await session.scalar(select(ForgetRequest.next_attempt_at).where(
            ForgetRequest.next_attempt_at.is_not(None)).order_by(ForgetRequest.next_attempt_at).limit(1))


# --- step: stop the user's jobs -------------------------------------------------------------------
@dataclass(frozen=True)
class Stopping:
    cancelled: int  # ended now (queued, unsent, or left by a dead stage)
    running: list[int]  # still held by a live stage: flagged, they stop at its next step


async def stop_jobs(db: Database, user_id: int, now: datetime | None = None) -> Stopping:
    """The user's jobs (and conversions of them): queued ones, deliveries no stage holds and jobs
    whose stage died are cancelled at once; jobs a live stage holds are flagged
    (`cancel_requested`: render and conversion stages poll it at every heartbeat, on any host).
    The request waits until `running` is empty."""
    at: Any = now or db.now()
    live = and_(Job.lease_until.is_not(None), Job.lease_until >= at)
    async with db.read() as session:  # their jobs, and conversions others asked of them
        own = list(await session.scalars(select(Job.id).where(Job.user_id == user_id)))
    mine = or_(Job.user_id == user_id, Job.parent_job_id.in_(own)) if own else Job.user_id == user_id
    ended = {"status": JobStatus.CANCELLED, "finished_at": at, "next_attempt_at": None, "lease_owner": None,
             "claim_token": None,
             "lease_until": None}
    async with db.write() as session:
        result = await session.execute(update(Job).where(mine, or_(
            Job.status == JobStatus.QUEUED,
            and_(Job.status.in_((JobStatus.RUNNING, JobStatus.DELIVERING)), ~live))).values(**ended))
        cancelled = int(result.rowcount or 0)  # type: ignore[attr-defined]
        await session.execute(update(Job).where(mine, Job.status == JobStatus.RUNNING, live)
                              .values(cancel_requested=True))
        running = list(await session.scalars(select(Job.id).where(
            mine, Job.status.in_((JobStatus.RUNNING, JobStatus.DELIVERING)), live)))
    return Stopping(cancelled, running)


# --- step: their photos out of others' grids ------------------------------------------------------
async def withdraw_photos(db: Database, user_id: int) -> tuple[int, list[Offer]]:
    """Remove the user's photos from albums and /grid collections others started, and from others'
    grid jobs made of them. Returns how many photos were withdrawn and the open collections whose
    message must now say so (including the user's own open ones, which the caller closes)."""
    withdrawn, touched, unique_ids = 0, [], set()
    async with db.write() as session:
        rows = await session.scalars(select(Offer).where(
            Offer.kind.in_((OfferKind.GRID, OfferKind.ALBUM)), Offer.photos.is_not(None)).with_for_update())
        for offer in rows:
            photos = json.loads(offer.photos or "[]")
            if offer.owner_id == user_id:
                if offer.kind == OfferKind.GRID and not offer.closed:
                    touched.append(offer)
                continue
            kept = [p for p in photos if p.get("user_id") != user_id]
            if len(kept) == len(photos):
                continue
            unique_ids |= {p["file_unique_id"] for p in photos if p.get("user_id") == user_id}
            withdrawn += len(photos) - len(kept)
            offer.photos = json.dumps(kept)
            if offer.kind == OfferKind.GRID and not offer.closed:
                touched.append(offer)
        if unique_ids:
            for job in await session.scalars(select(Job).where(Job.user_id != user_id, Job.inputs.is_not(None))):
                inputs = json.loads(job.inputs or "[]")
                kept = [i for i in inputs if i.get("file_unique_id") not in unique_ids]
                if len(kept) != len(inputs):
                    job.inputs = json.dumps(kept)
        await session.flush()
        for offer in touched:
            session.expunge(offer)
    return withdrawn, touched


# --- step: their files (the bot names them from these) ------------------------------------------
@dataclass(frozen=True)
class Owned:
    job_ids: list[int]  # the user's jobs, and conversions others made of them
    paths: list[str]  # results these jobs made themselves (not borrowed from another's render)


async def _owned(session, user_id: int) -> Owned:  # type: ignore[no-untyped-def]
    own = set(await session.scalars(select(Job.id).where(Job.user_id == user_id)))
    children = set(await session.scalars(select(Job.id).where(Job.parent_job_id.in_(own)))) if own else set()
    ids = sorted(own | children)
    paths = sorted(set(await session.scalars(select(Job.result_path).where(
        Job.id.in_(ids), Job.from_cache.is_(False), Job.result_path.is_not(None))))) if ids else []
    return Owned(ids, paths)


async def owned(db: Database, user_id: int) -> Owned:
    async with db.read() as session:
        return await _owned(session, user_id)


# --- step: their rows -------------------------------------------------------------------------------
async def delete_rows(db: Database, user_id: int) -> dict[str, int]:
    """The user's jobs (and conversions of them), offers and user row. Others' jobs answered from
    one of their renders forget where its file was (it is deleted)."""
    async with db.write() as session:
        mine = await _owned(session, user_id)
        if mine.paths:
            await session.execute(update(Job).where(Job.id.not_in(mine.job_ids), Job.result_path.in_(mine.paths))
                                  .values(result_path=None))
        deleted_jobs = 0
        if mine.job_ids:
            result = await session.execute(delete(Job).where(Job.id.in_(mine.job_ids)))
            deleted_jobs = int(result.rowcount or 0)  # type: ignore[attr-defined]
        result = await session.execute(delete(Offer).where(Offer.owner_id == user_id))
        deleted_offers = int(result.rowcount or 0)  # type: ignore[attr-defined]
        await session.execute(delete(User).where(User.id == user_id))
    return {"jobs": deleted_jobs, "offers": deleted_offers}
