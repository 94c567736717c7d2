"""Moving a job through its states in a test, as the stages would (claims and their tokens):
storage/jobs.py changes a job only under the claim that holds it."""

from __future__ import annotations

from storage import Database, JobStatus, jobs
from storage.jobs import ClaimedJob

LEASE_S = 60.0
MAX_ATTEMPTS = 3


async def claim(db: Database, job_id: int, owner: str = "stage") -> ClaimedJob:
    """Job `job_id` under a new claim: the render or conversion stage's if it is queued, the
    delivery stage's if it is delivering."""
    record = await jobs.get(db, job_id)
    assert record is not None
    if record.status == JobStatus.DELIVERING:
        claimed = await jobs.claim_delivery(db, owner, LEASE_S, max_attempts=MAX_ATTEMPTS, job_id=job_id)
    else:
        claimed = await jobs.claim_render(db, owner, LEASE_S, max_attempts=MAX_ATTEMPTS, job_id=job_id,
                                          kinds=(record.kind,))  # type: ignore[arg-type]
    assert claimed is not None, f"job {job_id} ({record.status}) cannot be claimed"
    return claimed


async def rendered(db: Database, job_id: int, path: str, owner: str = "stage", *, width: int = 1,
                   height: int = 1, duration: float = 1.0, seconds: float = 1.0) -> ClaimedJob:
    """Claimed by a render stage and handed over to delivery; returns the (ended) render claim."""
    claimed = await claim(db, job_id, owner)
    assert await jobs.hand_over(db, claimed, path=path, width=width, height=height, duration=duration,
                                seconds=seconds)
    return claimed


async def done(db: Database, job_id: int, file_id: str | None = None, owner: str = "stage") -> None:
    """Recorded done by the stage that would (delivery, or the render stage for a template job)."""
    assert await jobs.mark_done(db, await claim(db, job_id, owner), file_id)
