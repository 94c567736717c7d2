"""The job queue: FIFO claims, limits, re-queueing after a crash, cache, stats, concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from storage import Database, JobStatus, jobs
from storage.cleanup import purge_before
from storage.models import utcnow

OPEN = jobs.Limits(max_queue=100, daily_quota=100)


def new_job(user_id: int, unique: str = "u1", template: str = "yahey", message_id: int = 10) -> jobs.NewJob:
    return jobs.NewJob(
        user_id=user_id,
        chat_id=user_id,
        source_message_id=message_id,
        input_file_id=f"file-{unique}",
        input_file_unique_id=unique,
        template_id=template,
    )


async def test_claims_are_fifo_and_positions_count_from_one(db: Database) -> None:
    a, pos_a = await jobs.enqueue(db, new_job(1), OPEN)
    b, pos_b = await jobs.enqueue(db, new_job(2), OPEN)
    c, pos_c = await jobs.enqueue(db, new_job(3), OPEN)
    assert (pos_a, pos_b, pos_c) == (1, 2, 3)
    first = await jobs.claim_next(db)
    assert first is not None and first.id == a.id and first.status == JobStatus.RUNNING
    assert await jobs.position(db, c.id) == 3  # the running job is still ahead
    await jobs.mark_done(db, a.id, "vid-a")
    assert await jobs.position(db, c.id) == 2
    second = await jobs.claim_next(db)
    assert second is not None and second.id == b.id


async def test_one_active_job_per_user_quota_and_queue_cap(db: Database) -> None:
    first, _ = await jobs.enqueue(db, new_job(1), OPEN)
    with pytest.raises(jobs.AlreadyActive) as active:
        await jobs.enqueue(db, new_job(1, "u2"), OPEN)
    assert active.value.job.id == first.id and active.value.position == 1

    await jobs.mark_done(db, first.id, "vid")
    with pytest.raises(jobs.QuotaExceeded):
        await jobs.enqueue(db, new_job(1, "u3"), jobs.Limits(max_queue=100, daily_quota=1))

    await jobs.enqueue(db, new_job(2), jobs.Limits(max_queue=1, daily_quota=10))
    with pytest.raises(jobs.QueueFull):
        await jobs.enqueue(db, new_job(3), jobs.Limits(max_queue=1, daily_quota=10))
    # admins are exempt from every limit
    exempt = jobs.Limits(max_queue=1, daily_quota=1, exempt=True)
    await jobs.enqueue(db, new_job(3), exempt)
    await jobs.enqueue(db, new_job(3, "u9"), exempt)
    assert await jobs.queue_length(db) == 3


async def test_crash_leftovers_are_requeued_in_order(db: Database) -> None:
    a, _ = await jobs.enqueue(db, new_job(1), OPEN)
    b, _ = await jobs.enqueue(db, new_job(2), OPEN)
    c, _ = await jobs.enqueue(db, new_job(3), OPEN)
    await jobs.claim_next(db)  # a: running
    await jobs.claim_next(db)  # b: running -> rendered, delivering
    await jobs.mark_rendered(db, b.id, path="/x.mp4", width=8, height=8, duration=1.0, seconds=2.0)
    assert await jobs.requeue_unfinished(db) == 2
    order = [await jobs.claim_next(db) for _ in range(3)]
    assert [j.id for j in order if j] == [a.id, b.id, c.id]
    assert order[1] is not None and order[1].result_path == "/x.mp4"  # no second render needed


async def test_cancel_queued_at_once_running_flagged(db: Database) -> None:
    a, _ = await jobs.enqueue(db, new_job(1), OPEN)
    b, _ = await jobs.enqueue(db, new_job(2), OPEN)
    await jobs.claim_next(db)
    running = await jobs.request_cancel(db, 1)
    assert running is not None and running.id == a.id and running.cancel_requested
    assert running.status == JobStatus.RUNNING
    queued = await jobs.request_cancel(db, 2)
    assert queued is not None and queued.id == b.id and queued.status == JobStatus.CANCELLED
    assert await jobs.request_cancel(db, 3) is None
    c, _ = await jobs.enqueue(db, new_job(3), OPEN)
    await jobs.claim_next(db)
    await jobs.mark_rendered(db, c.id, path="/c.mp4", width=8, height=8, duration=1, seconds=1)
    too_late = await jobs.request_cancel(db, 3)  # being delivered: left alone
    assert too_late is not None and too_late.status == JobStatus.DELIVERING and not too_late.cancel_requested
    await jobs.mark_done(db, c.id, "v")
    # a crash now: the flagged job is cancelled, not re-run
    assert await jobs.requeue_unfinished(db) == 0
    assert (await jobs.get(db, a.id)).status == JobStatus.CANCELLED  # type: ignore[union-attr]


async def test_result_cache_and_stats(db: Database) -> None:
    a, _ = await jobs.enqueue(db, new_job(1, "photo-1", "yahey"), OPEN)
    await jobs.claim_next(db)
    await jobs.mark_rendered(db, a.id, path="/a.mp4", width=8, height=8, duration=1.0, seconds=4.0)
    assert await jobs.cached_result(db, "photo-1", "yahey") is None  # not delivered yet
    await jobs.mark_done(db, a.id, "video-file-id")
    assert await jobs.cached_result(db, "photo-1", "yahey") == "video-file-id"
    assert await jobs.cached_result(db, "photo-1", "other") is None
    b, _ = await jobs.enqueue(db, new_job(2, "photo-2"), OPEN)
    await jobs.mark_failed(db, b.id, "no_face")
    stats = await jobs.stats(db)
    assert stats.by_status == {"done": 1, "failed": 1}
    assert stats.average_render_seconds == pytest.approx(4.0)
    assert stats.queue_length == 0


async def test_chat_migration_moves_jobs(db: Database) -> None:
    a, _ = await jobs.enqueue(db, jobs.NewJob(1, -100, 5, "f", "u"), OPEN)
    await jobs.migrate_chat(db, -100, -100200)
    assert (await jobs.get(db, a.id)).chat_id == -100200  # type: ignore[union-attr]


async def test_purge_deletes_only_old_finished_jobs(db: Database) -> None:
    old, _ = await jobs.enqueue(db, new_job(1), OPEN)
    await jobs.claim_next(db)
    await jobs.mark_rendered(db, old.id, path="/old.mp4", width=8, height=8, duration=1, seconds=1)
    await jobs.mark_done(db, old.id, "v")
    live, _ = await jobs.enqueue(db, new_job(2), OPEN)
    deleted, paths = await purge_before(db, utcnow() + timedelta(seconds=1))
    assert (deleted, paths) == (1, ["/old.mp4"])
    assert await jobs.get(db, old.id) is None
    assert await jobs.get(db, live.id) is not None


async def test_concurrent_writers_never_see_database_locked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Separate engines (as separate processes would have) all read-then-write at once."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}"
    first = Database(url)
    from storage import upgrade_to_head, users

    await upgrade_to_head(first)
    for uid in range(1, 9):
        await users.touch(first, uid, "en")
    dbs = [first] + [Database(url) for _ in range(3)]

    async def producer(db: Database, uid: int) -> None:
        for n in range(10):
            job, _ = await jobs.enqueue(db, new_job(uid, f"{uid}-{n}"), jobs.Limits(1000, 1000, exempt=True))
            await users.touch(db, uid, "en")
            claimed = await jobs.claim_next(db)
            if claimed is not None:
                await jobs.mark_done(db, claimed.id, f"v{claimed.id}")

    await asyncio.gather(*(producer(dbs[uid % 4], uid) for uid in range(1, 9)))
    stats = await jobs.stats(first)
    for d in dbs:
        await d.close()
    assert sum(stats.by_status.values()) == 80
    assert stats.by_status.get("done", 0) + stats.queue_length == 80
