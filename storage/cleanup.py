"""Retention: finished job rows and old offers past `storage.retention_days` are deleted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from storage.db import Database
from storage.models import FINISHED_STATUSES, Job, Offer


async def purge_before(db: Database, cutoff: datetime) -> tuple[int, list[str]]:
    """Delete finished jobs that ended before `cutoff` and offers made before it.

    Returns (jobs deleted, their result paths) so the caller can remove the files.
    """
    async with db.write() as session:
        old = Job.status.in_(FINISHED_STATUSES) & (Job.finished_at < cutoff)
        paths = [p for p in await session.scalars(select(Job.result_path).where(old)) if p]
        result = await session.execute(delete(Job).where(old))
        await session.execute(delete(Offer).where(Offer.created_at < cutoff))
        return int(result.rowcount or 0), paths  # type: ignore[attr-defined]
