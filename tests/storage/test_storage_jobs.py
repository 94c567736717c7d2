"""The job queue: FIFO claims under leases, hand-over to delivery, parking, take-over of a dead
stage's job, limits, cache, stats, concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from storage import Database, JobKind, JobStatus, jobs
from storage.cleanup import purge_before
from storage.models import OutputKind, utcnow

OPEN = jobs.Limits(max_queue=100, daily_quota=100)
LEASE = timedelta(minutes=2)
MAX = 3  # attempts


def later(db: Database, by: timedelta) -> None:
    """Move the database's clock, as this handle sees it, forward."""
    db.clock_offset += by.total_seconds()


def new_job(user_id: int, unique: str = "u1", key: str = "key-yahey", message_id: int = 10) -> jobs.NewJob:
    return jobs.NewJob(
        user_id=user_id,
        chat_id=user_id,
        source_message_id=message_id,
        input_file_id=f"file-{unique}",
        input_file_unique_id=unique,
        template_id="yahey",
        template_title="蚂蚁呀嘿",
        result_key=key,
    )


async def rendered(db: Database, owner: str = "render-a") -> jobs.ClaimedJob:
    """Claim the next job and hand it over as rendered."""
    job = await jobs.claim_render(db, owner, LEASE, max_attempts=MAX)
    assert job is not None
    assert await jobs.hand_over(db, job, path=f"/r/{job.id}.mp4", width=8, height=8, duration=1.0,
                                seconds=4.0)
    return job


async def test_claims_are_fifo_and_positions_count_from_one(db: Database) -> None:
    a, pos_a = await jobs.enqueue(db, new_job(1), OPEN)
    b, pos_b = await jobs.enqueue(db, new_job(2), OPEN)
    c, pos_c = await jobs.enqueue(db, new_job(3), OPEN)
    assert (pos_a, pos_b, pos_c) == (1, 2, 3)
    first = await jobs.claim_render(db, "render-a", LEASE, max_attempts=MAX)
    assert first is not None and first.id == a.id and first.status == JobStatus.RUNNING
    assert first.attempts == 1 and first.lease_owner == "render-a"
    assert (await jobs.pending_for_user(db, 3))[1] == 3  # the running job is still ahead
    assert await jobs.hand_over(db, first, path="/a.mp4", width=8, height=8, duration=1, seconds=1)
    assert (await jobs.pending_for_user(db, 3))[1] == 2  # a delivery is out of the render line
    assert await jobs.queue_length(db) == 2
    second = await jobs.claim_render(db, "render-a", LEASE, max_attempts=MAX)
    assert second is not None and second.id == b.id


async def test_hand_over_then_delivery_claim_lease_and_done(db: Database) -> None:
    await jobs.enqueue(db, new_job(1), OPEN)
    job = await rendered(db)
    assert await jobs.claim_render(db, "render-a", LEASE, max_attempts=MAX) is None  # nothing left to render
    delivery = await jobs.claim_delivery(db, "deliver-a", LEASE, max_attempts=MAX)
    assert delivery is not None and delivery.id == job.id and delivery.status == JobStatus.DELIVERING
    assert delivery.result_path == f"/r/{job.id}.mp4" and delivery.delivery_attempts == 1
    assert await jobs.claim_delivery(db, "deliver-b", LEASE, max_attempts=MAX) is None  # leased: nobody else sends it
    assert await jobs.mark_done(db, delivery, "video-id")
    assert not await jobs.mark_done(db, delivery, "video-id")  # once: the claim ended with it
    done = await jobs.get(db, job.id)
    assert done is not None and done.status == JobStatus.DONE and done.lease_owner is None


async def test_a_parked_delivery_waits_for_its_time_then_is_claimed_again(db: Database) -> None:
    await jobs.enqueue(db, new_job(1), OPEN)
    await rendered(db)
    claim = await jobs.claim_delivery(db, "deliver-a", LEASE, max_attempts=MAX)
    assert claim is not None and claim.next_attempt_at is None
    assert await jobs.reschedule_delivery(db, claim, 300.0, "network after 3 tries")  # Telegram away: uncounted
    assert await jobs.claim_delivery(db, "deliver-a", LEASE, max_attempts=MAX) is None
    due = await jobs.seconds_until_due(db, JobStatus.DELIVERING)
    assert due is not None and 290 < due <= 300
    assert await jobs.parked_deliveries(db) == 1
    later(db, timedelta(minutes=5, seconds=1))
    again = await jobs.claim_delivery(db, "deliver-a", LEASE, max_attempts=MAX)
    assert again is not None and again.parked_tries == 1 and again.delivery_attempts == 1
    assert again.next_attempt_at is None  # cleared at claim: idle stages do not poll for it
    assert await jobs.seconds_until_due(db, JobStatus.DELIVERING) == pytest.approx(120, abs=5)  # its lease


async def test_a_dead_stages_jobs_are_taken_over_when_their_lease_expires(db: Database) -> None:
    a, _ = await jobs.enqueue(db, new_job(1), OPEN)
    await jobs.enqueue(db, new_job(2), OPEN)
    dead = await jobs.claim_render(db, "render-dead", LEASE, max_attempts=MAX)
    assert dead is not None and dead.id == a.id
    # Another stage does not touch it while the lease runs ...
    other = await jobs.claim_render(db, "render-b", LEASE, max_attempts=MAX)
    assert other is not None and other.id != a.id
    # ... and takes it over once the lease has expired (the database's clock): the crashed attempt counts.
    later(db, LEASE + timedelta(seconds=1))
    assert await jobs.renew_lease(db, other, LEASE)  # the live one renews
    taken = await jobs.claim_render(db, "render-b", LEASE, max_attempts=MAX)
    assert taken is not None and taken.id == a.id and taken.attempts == 2 and taken.lease_owner == "render-b"
    # The dead stage's late calls are refused: its claim no longer holds the job.
    assert not await jobs.renew_lease(db, dead, LEASE)
    assert not await jobs.hand_over(db, dead, path="/x", width=2, height=2, duration=1, seconds=1)
    assert await jobs.renew_lease(db, taken, LEASE)
    assert not await jobs.mark_failed(db, dead, "render: crashed")
    assert not await jobs.mark_cancelled(db, dead)
    assert not await jobs.release_render(db, dead)
    still = await jobs.get(db, a.id)
    assert still is not None and still.status == JobStatus.RUNNING and still.lease_owner == "render-b"
    assert await jobs.mark_failed(db, taken, "render: crashed")


async def test_two_claims_of_one_owner_are_told_apart(db: Database) -> None:
    """In the one-box set-up every slot shares the process's owner name: the claim token decides."""
    await jobs.enqueue(db, new_job(1), OPEN)
    await rendered(db)
    slow = await jobs.claim_delivery(db, "bot", LEASE, max_attempts=MAX)
    assert slow is not None
    later(db, LEASE + timedelta(seconds=1))
    fast = await jobs.claim_delivery(db, "bot", LEASE, max_attempts=MAX)  # same owner, another slot
    assert fast is not None and fast.id == slow.id and fast.claim != slow.claim
    assert not await jobs.renew_lease(db, slow, LEASE)
    assert not await jobs.mark_done(db, slow, "late")
    assert await jobs.mark_done(db, fast, "video-id")
    assert (await jobs.get(db, slow.id)).result_file_id == "video-id"  # type: ignore[union-attr]


async def test_attempts_are_bounded_for_every_cause(db: Database) -> None:
    """A job whose stage dies with it each time is claimed max_attempts times, then failed (its
    owner to be told), and the job behind it is claimed."""
    poison, _ = await jobs.enqueue(db, new_job(1), OPEN)
    behind, _ = await jobs.enqueue(db, new_job(2), OPEN)
    for attempt in range(1, MAX + 1):
        claim = await jobs.claim_render(db, f"run-{attempt}", LEASE, max_attempts=MAX)
        assert claim is not None and claim.id == poison.id and claim.attempts == attempt
        assert (await jobs.release_all_leases(db, MAX)).given_up == [] or attempt == MAX
    assert (await jobs.get(db, poison.id)).status == JobStatus.FAILED  # type: ignore[union-attr]
    nxt = await jobs.claim_render(db, "run-next", LEASE, max_attempts=MAX)
    assert nxt is not None and nxt.id == behind.id
    # Deliveries likewise, by delivery_attempts; and give_up_exhausted (the stages, the reconciler).
    assert await jobs.hand_over(db, nxt, path="/b.mp4", width=2, height=2, duration=1, seconds=1)
    for _ in range(MAX):
        assert await jobs.claim_delivery(db, "bot", LEASE, max_attempts=MAX) is not None
        later(db, LEASE + timedelta(seconds=1))
    assert await jobs.claim_delivery(db, "bot", LEASE, max_attempts=MAX) is None
    given_up = await jobs.give_up_exhausted(db, None, MAX, "delivery: out of attempts")
    assert [(j.id, j.status) for j in given_up] == [(behind.id, JobStatus.FAILED)]
    assert await jobs.give_up_exhausted(db, None, MAX, "again") == []


async def test_a_delivery_taken_over_and_done_is_not_failed_by_the_stage_that_lost_it(db: Database) -> None:
    await jobs.enqueue(db, new_job(1), OPEN)
    job = await rendered(db)
    slow = await jobs.claim_delivery(db, "deliver-slow", LEASE, max_attempts=MAX)
    assert slow is not None
    later(db, LEASE + timedelta(seconds=1))
    taken = await jobs.claim_delivery(db, "deliver-b", LEASE, max_attempts=MAX)
    assert taken is not None and taken.id == job.id
    assert await jobs.mark_done(db, taken, "video-id")
    assert not await jobs.mark_failed(db, slow, "delivery: timed out")
    done = await jobs.get(db, job.id)
    assert done is not None and done.status == JobStatus.DONE


async def test_release_puts_back_in_line_and_a_shutdown_is_not_an_attempt(db: Database) -> None:
    a, _ = await jobs.enqueue(db, new_job(1), OPEN)
    b, _ = await jobs.enqueue(db, new_job(2), OPEN)
    claimed = await jobs.claim_render(db, "render-a", LEASE, max_attempts=MAX)
    assert claimed is not None and claimed.id == a.id
    assert await jobs.release_render(db, claimed)  # shutdown
    assert not await jobs.release_render(db, claimed)  # once
    row = await jobs.get(db, a.id)
    assert row is not None and row.status == JobStatus.QUEUED and row.attempts == 0
    # Parked for a download: not claimable before its time, and b goes first meanwhile.
    again = await jobs.claim_render(db, "render-a", LEASE, max_attempts=MAX)
    assert again is not None
    assert await jobs.release_render(db, again, retry_in=60.0, error="telegram down")
    first = await jobs.claim_render(db, "render-a", LEASE, max_attempts=MAX)
    assert first is not None and first.id == b.id
    later(db, timedelta(seconds=61))
    due = await jobs.claim_render(db, "render-a", LEASE, max_attempts=MAX)
    assert due is not None and due.id == a.id and due.parked_tries == 1


async def test_one_pending_render_per_user_quota_and_queue_cap(db: Database) -> None:
    first, _ = await jobs.enqueue(db, new_job(1), OPEN)
    with pytest.raises(jobs.AlreadyActive) as active:
        await jobs.enqueue(db, new_job(1, "u2"), OPEN)
    assert active.value.job.id == first.id and active.value.position == 1
    await rendered(db)  # being delivered: the user may ask for the next one
    second, _ = await jobs.enqueue(db, new_job(1, "u2"), OPEN)
    assert (await jobs.request_cancel(db, 1)).status == JobStatus.CANCELLED  # type: ignore[union-attr]
    assert await jobs.used_today(db, 1) == 2
    with pytest.raises(jobs.QuotaExceeded):
        await jobs.enqueue(db, new_job(1, "u3"), jobs.Limits(max_queue=100, daily_quota=2))

    await jobs.enqueue(db, new_job(2), jobs.Limits(max_queue=1, daily_quota=10))
    with pytest.raises(jobs.QueueFull):
        await jobs.enqueue(db, new_job(3), jobs.Limits(max_queue=1, daily_quota=10))
    # admins are exempt from every limit
    exempt = jobs.Limits(max_queue=1, daily_quota=1, exempt=True)
    await jobs.enqueue(db, new_job(3), exempt)
    await jobs.enqueue(db, new_job(3, "u9"), exempt)
    assert await jobs.queue_length(db) == 3


async def test_start_up_release_requeues_renders_and_frees_deliveries(db: Database) -> None:
    a, _ = await jobs.enqueue(db, new_job(1), OPEN)
    b, _ = await jobs.enqueue(db, new_job(2), OPEN)
    c, _ = await jobs.enqueue(db, new_job(3), OPEN)
    await rendered(db, "old-run")  # a: rendered
    assert await jobs.claim_delivery(db, "old-run", LEASE, max_attempts=MAX) is not None  # ... and being sent
    await jobs.claim_render(db, "old-run", LEASE, max_attempts=MAX)  # b: rendering
    assert (await jobs.release_all_leases(db, MAX)).requeued == 1
    order = [await jobs.claim_render(db, "new-run", LEASE, max_attempts=MAX) for _ in range(2)]
    assert [j.id for j in order if j] == [b.id, c.id]
    delivery = await jobs.claim_delivery(db, "new-run", LEASE, max_attempts=MAX)
    assert delivery is not None and delivery.id == a.id  # no second render needed


async def test_cancel_queued_at_once_running_flagged(db: Database) -> None:
    a, _ = await jobs.enqueue(db, new_job(1), OPEN)
    b, _ = await jobs.enqueue(db, new_job(2), OPEN)
    await jobs.claim_render(db, "render-a", LEASE, max_attempts=MAX)
    running = await jobs.request_cancel(db, 1)
    assert running is not None and running.id == a.id and running.cancel_requested
    assert running.status == JobStatus.RUNNING and await jobs.cancel_requested(db, a.id)
    queued = await jobs.request_cancel(db, 2)
    assert queued is not None and queued.id == b.id and queued.status == JobStatus.CANCELLED
    assert await jobs.request_cancel(db, 3) is None
    # a crash now: the flagged job is cancelled, not re-run
    assert (await jobs.release_all_leases(db, MAX)).requeued == 0
    assert (await jobs.get(db, a.id)).status == JobStatus.CANCELLED  # type: ignore[union-attr]


async def test_result_cache_is_keyed_by_photo_and_result_key_and_stats(db: Database) -> None:
    a, _ = await jobs.enqueue(db, new_job(1, "photo-1", "key-1"), OPEN)
    await rendered(db)
    assert await jobs.cached_result(db, "photo-1", "key-1") is None  # not delivered yet
    delivery = await jobs.claim_delivery(db, "deliver-a", LEASE, max_attempts=MAX)
    assert delivery is not None and await jobs.mark_done(db, delivery, "video-file-id")
    source = await jobs.cached_result(db, "photo-1", "key-1")
    assert source is not None and source.result_file_id == "video-file-id"
    assert await jobs.cached_result(db, "photo-1", "key-2") is None  # same template id, other content
    assert await jobs.cached_result(db, "photo-1", "key-1", OutputKind.STICKER) is None  # another kind
    cached = await jobs.record_cached(db, new_job(5, "photo-1", "key-1"), source)
    assert cached.status == JobStatus.DELIVERING and cached.from_cache
    assert cached.result_file_id == "video-file-id" and cached.result_path == source.result_path
    assert await jobs.used_today(db, 5) == 0  # answers from the cache are free
    await jobs.enqueue(db, new_job(2, "photo-2"), OPEN)
    failing = await jobs.claim_render(db, "render-a", LEASE, max_attempts=MAX)
    assert failing is not None and await jobs.mark_failed(db, failing, "no_face")
    stats = await jobs.stats(db)
    assert stats.by_status == {"done": 1, "failed": 1, "delivering": 1}
    assert stats.average_render_seconds == pytest.approx(4.0)
    assert stats.queue_length == 0


async def test_template_jobs_do_not_count_against_the_quota(db: Database) -> None:
    imp = jobs.NewJob(1, 1, 5, "f", "u", kind=JobKind.TEMPLATE_IMPORT, template_title="Dance")
    await jobs.enqueue(db, imp, jobs.Limits(10, 1, exempt=True))
    assert await jobs.used_today(db, 1) == 0


async def test_chat_migration_moves_jobs(db: Database) -> None:
    a, _ = await jobs.enqueue(db, jobs.NewJob(1, -100, 5, "f", "u"), OPEN)
    await jobs.migrate_chat(db, -100, -100200)
    assert (await jobs.get(db, a.id)).chat_id == -100200  # type: ignore[union-attr]


async def test_purge_deletes_only_old_finished_jobs(db: Database) -> None:
    old, _ = await jobs.enqueue(db, new_job(1), OPEN)
    await rendered(db)
    delivery = await jobs.claim_delivery(db, "deliver-a", LEASE, max_attempts=MAX)
    assert delivery is not None and await jobs.mark_done(db, delivery, "v")
    live, _ = await jobs.enqueue(db, new_job(2), OPEN)
    deleted, paths = await purge_before(db, utcnow() + timedelta(seconds=1))
    assert (deleted, paths) == (1, [f"/r/{old.id}.mp4"])
    assert await jobs.get(db, old.id) is None
    assert await jobs.get(db, live.id) is not None
    assert await jobs.active_job_ids(db) == {live.id}


async def test_concurrent_stages_never_share_a_job_nor_see_database_locked(db_url: str) -> None:
    """Separate engines (as separate processes would have) enqueue, claim and finish at once."""
    url = db_url
    first = Database(url)
    from storage import upgrade_to_head, users

    await upgrade_to_head(first)
    for uid in range(1, 9):
        await users.touch(first, uid, "en")
    dbs = [first] + [Database(url) for _ in range(3)]
    claimed: list[int] = []

    async def stage(db: Database, uid: int) -> None:
        for n in range(10):
            await jobs.enqueue(db, new_job(uid, f"{uid}-{n}"), jobs.Limits(1000, 1000, exempt=True))
            await users.touch(db, uid, "en")
            job = await jobs.claim_render(db, f"stage-{uid}", LEASE, max_attempts=MAX)
            if job is not None:
                claimed.append(job.id)
                await jobs.hand_over(db, job, path="/x", width=2, height=2, duration=1, seconds=1)

    await asyncio.gather(*(stage(dbs[uid % 4], uid) for uid in range(1, 9)))
    stats = await jobs.stats(first)
    for d in dbs:
        await d.close()
    assert len(claimed) == len(set(claimed))  # no job claimed twice
    assert sum(stats.by_status.values()) == 80
    assert stats.by_status.get("delivering", 0) == len(claimed) and stats.queue_length == 80 - len(claimed)


async def test_concurrent_enqueues_keep_one_pending_job_per_user_and_the_cap(db_url: str) -> None:
    """Several processes' requests for the same user at once: one is queued, the rest refused."""
    from storage import upgrade_to_head, users

    first = Database(db_url)
    await upgrade_to_head(first)
    await users.touch(first, 1, "en")
    dbs = [first] + [Database(db_url) for _ in range(3)]

    async def ask(db: Database, n: int) -> str:
        try:
            await jobs.enqueue(db, new_job(1, f"photo-{n}"), jobs.Limits(max_queue=100, daily_quota=100))
            return "queued"
        except jobs.AlreadyActive:
            return "refused"

    outcomes = await asyncio.gather(*(ask(dbs[n % 4], n) for n in range(12)))
    assert sorted(outcomes) == ["queued"] + ["refused"] * 11
    await users.touch(first, 2, "en")

    async def fill(db: Database, n: int) -> str:
        try:
            await jobs.enqueue(db, new_job(10 + n, f"p-{n}"), jobs.Limits(max_queue=3, daily_quota=100))
            return "queued"
        except jobs.QueueFull:
            return "full"

    for uid in range(10, 22):
        await users.touch(first, uid, "en")
    outcomes = await asyncio.gather(*(fill(dbs[n % 4], n) for n in range(12)))
    assert outcomes.count("queued") == 2 and await jobs.queue_length(first) == 3  # the cap holds
    for d in dbs:
        await d.close()


async def test_ids_are_never_reused_and_imports_have_random_ids(db: Database) -> None:
    """Deleting the newest rows must not hand their ids out again (old buttons, import names)."""
    from sqlalchemy import delete

    from storage.models import Job

    old, _ = await jobs.enqueue(db, new_job(1), OPEN)
    async with db.write() as session:
        await session.execute(delete(Job).where(Job.id == old.id))
    new, _ = await jobs.enqueue(db, new_job(1), OPEN)
    assert new.id > old.id
    imp = jobs.NewJob(2, 2, 5, "f", "u", kind=JobKind.TEMPLATE_IMPORT, template_title="Dance")
    first = await jobs.add(db, imp)
    second = await jobs.add(db, imp)
    assert first.import_id and second.import_id and first.import_id != second.import_id
    assert str(first.id) not in first.import_id


async def test_cancel_of_a_job_claimed_meanwhile_flags_it_instead(db: Database) -> None:
    a, _ = await jobs.enqueue(db, new_job(1), OPEN)
    claim = await jobs.claim_render(db, "render-a", LEASE, max_attempts=MAX)
    assert claim is not None
    cancelled = await jobs.request_cancel(db, 1)
    assert cancelled is not None and cancelled.status == JobStatus.RUNNING and cancelled.cancel_requested
    assert await jobs.mark_cancelled(db, claim)  # its stage stops at its next heartbeat, under its claim
