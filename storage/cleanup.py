"""Retention: finished job rows, old offers and idle users past `storage.retention_days` are
deleted; the file side (pipeline/housekeeping.py) asks which results rows still name."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, select

from storage.db import Database
from storage.models import FINISHED_STATUSES, ForgetRequest, Job, Offer, User


async def purge_before(db: Database, cutoff: datetime) -> tuple[int, list[str]]:
    """Delete finished jobs that ended before `cutoff`, offers made before it, and users last seen
    before it who have nothing left (no job, no sticker pack, no /forget under way).

    Returns (jobs deleted, the result paths no remaining job names) so the caller can remove the files.
    """
    async with db.write() as session:
        old = Job.status.in_(FINISHED_STATUSES) & (Job.finished_at < cutoff)
        paths = {p for p in await session.scalars(select(Job.result_path).where(old)) if p}
        result = await session.execute(delete(Job).where(old))
        await session.execute(delete(Offer).where(Offer.created_at < cutoff))
        await session.execute(delete(User).where(
            User.last_seen < cutoff, User.sticker_set.is_(None), ~exists().where(Job.user_id == User.id),
            ~exists().where(ForgetRequest.user_id == User.id)))
        # A newer job answered from the file_id cache may share a render: it keeps the file.
        still = (set(await session.scalars(select(Job.result_path).where(Job.result_path.in_(paths))))
                 if paths else set())
        return int(result.rowcount or 0), sorted(paths - still)  # type: ignore[attr-defined]


async def kept_files(db: Database) -> tuple[set[int], set[str]]:
    """The ids of every job row and the result paths they name: files named by anything else are
    left over (their rows were deleted: by retention, or by a /forget)."""
    async with db.read() as session:
        rows = (await session.execute(select(Job.id, Job.result_path))).all()
    return {int(i) for i, _ in rows}, {p for _, p in rows if p}
