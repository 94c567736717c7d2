"""A user's /forget on the database (SQLite and PostgreSQL): the request under a lease, each step
idempotent, and afterwards no row that names the user or their jobs; retention of idle users."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import text, update

from storage import Database, JobStatus, forget, jobs, offers, users
from storage.cleanup import purge_before
from storage.models import Job, OfferKind, OutputKind, User, utcnow

LEASE = timedelta(minutes=2)
ANN, BEN = 777001, 777002  # ids no other value in the tables looks like
EXEMPT = jobs.Limits(max_queue=100, daily_quota=100, exempt=True)


def new_job(user_id: int, unique: str, **more: object) -> jobs.NewJob:
    return jobs.NewJob(user_id=user_id, chat_id=user_id, source_message_id=1, input_file_id=f"file-{unique}",
                       input_file_unique_id=unique, template_id="yahey", result_key="key", **more)


async def delivered(db: Database, job_id: int, file_id: str | None = None) -> None:
    claim = await jobs.claim_delivery(db, "stage", LEASE, max_attempts=3, job_id=job_id)
    assert claim is not None and await jobs.mark_done(db, claim, file_id)


async def done_render(db: Database, user_id: int, unique: str) -> jobs.JobRecord:
    job, _ = await jobs.enqueue(db, new_job(user_id, unique), EXEMPT)
    claim = await jobs.claim_render(db, "stage", LEASE, max_attempts=3, job_id=job.id)
    assert claim is not None
    assert await jobs.hand_over(db, claim, path=f"/data/renders/{job.id}.mp4", width=8, height=8,
                                duration=1, seconds=1)
    await delivered(db, job.id, f"video-of-{unique}")
    return (await jobs.get(db, job.id))  # type: ignore[return-value]


async def every_row(db: Database) -> str:
    """Every row of every table, as text."""
    async with db.read() as session:
        dump = []
        for table in ("users", "offers", "jobs", "forget_requests"):
            dump += [repr(tuple(r)) for r in (await session.execute(text(f"SELECT * FROM {table}"))).all()]
        return "\n".join(dump)


async def test_a_request_is_leased_taken_over_parked_and_finished(db: Database) -> None:
    first = await forget.request(db, ANN, ANN, "zh")
    assert (await forget.request(db, ANN, ANN, "en")).id == first.id  # a second confirmation finds the first
    assert await forget.pending(db, ANN) and not await forget.pending(db, BEN)
    row = await forget.claim(db, "bot-a", LEASE)
    assert row is not None and row.lease_owner == "bot-a" and row.attempts == 1
    assert await forget.claim(db, "bot-b", LEASE) is None  # leased
    assert await forget.step_done(db, row, "bot-a", "stop_jobs", {"jobs": 2}, LEASE)
    # bot-a dies; once its lease ran out bot-b takes the request over where it was
    later = utcnow() + LEASE + timedelta(seconds=1)
    taken = await forget.claim(db, "bot-b", LEASE, now=later)
    assert taken is not None and forget.done_steps(taken) == ["stop_jobs"] and forget.counts_of(taken) == {"jobs": 2}
    assert not await forget.step_done(db, row, "bot-a", "files", {"files": 1}, LEASE)  # a stale stage records nothing
    until = utcnow() + timedelta(hours=1)
    assert await forget.park(db, taken.id, "bot-b", until)
    assert await forget.claim(db, "bot-b", LEASE) is None  # parked
    assert abs((await forget.next_due(db) - until).total_seconds()) < 1
    again = await forget.claim(db, "bot-b", LEASE, now=until + timedelta(seconds=1))
    assert again is not None and again.attempts == 3
    await forget.finish(db, again.id)
    assert not await forget.pending(db, ANN)
    # At a one-box start-up whatever the last run held is free at once.
    await forget.request(db, BEN, BEN, "en")
    assert await forget.claim(db, "dead", LEASE) is not None
    assert await forget.release_all(db) == 1
    assert await forget.claim(db, "bot-c", LEASE) is not None


async def test_forgetting_leaves_no_row_that_names_the_user_or_their_jobs(db: Database) -> None:
    for user_id in (ANN, BEN):
        await users.touch(db, user_id, "en")
    await users.set_sticker_set(db, ANN, "yahey_u777001_by_bot")
    video = await done_render(db, ANN, "ann-photo-1")
    # Ann's conversion of it, a GIF Ben made of it, and Ben's answer from the cache of the same photo
    ann_gif = await jobs.add(db, new_job(ANN, "ann-photo-1", kind="convert", output_kind=OutputKind.GIF,
                                         parent_job_id=video.id))
    ben_gif = await jobs.add(db, new_job(BEN, "ann-photo-1", kind="convert", output_kind=OutputKind.GIF,
                                         parent_job_id=video.id))
    cached = await jobs.record_cached(db, new_job(BEN, "ann-photo-1"), video)
    await delivered(db, cached.id)
    # A render running under a live lease elsewhere, one whose stage died, one in line
    running, _ = await jobs.enqueue(db, new_job(ANN, "ann-photo-2"), EXEMPT)
    running_claim = await jobs.claim_render(db, "worker-x", LEASE, max_attempts=3, job_id=running.id)
    assert running_claim is not None
    dead, _ = await jobs.enqueue(db, new_job(ANN, "ann-photo-3"), EXEMPT)
    assert await jobs.claim_render(db, "worker-y", LEASE, max_attempts=3, job_id=dead.id) is not None
    async with db.write() as session:
        await session.execute(update(Job).where(Job.id == dead.id).values(lease_until=utcnow() - timedelta(minutes=1)))
    queued, _ = await jobs.enqueue(db, new_job(ANN, "ann-photo-4"), EXEMPT)
    # Ben's open /grid collection holds a photo of Ann's and one of his; his grid job used both
    photos = [{"file_id": "file-ann-photo-5", "file_unique_id": "ann-photo-5", "message_id": 3, "user_id": ANN,
               "first_name": "Ann", "faces": 1},
              {"file_id": "file-ben-photo", "file_unique_id": "ben-photo", "message_id": 4, "user_id": BEN,
               "first_name": "Ben", "faces": 1}]
    grid = await offers.create(db, chat_id=-100, owner_id=BEN, photo_message_id=2, file_id="", file_unique_id="",
                               kind=OfferKind.GRID, photos=json.dumps(photos), expires_at=utcnow() + LEASE)
    inputs = json.dumps([{k: p[k] for k in ("file_id", "file_unique_id")} for p in photos])
    ben_grid, _ = await jobs.enqueue(db, new_job(BEN, "grid-x", kind="grid", inputs=inputs), EXEMPT)
    await offers.create(db, chat_id=ANN, owner_id=ANN, photo_message_id=9, file_id="file-ann-photo-6",
                        file_unique_id="ann-photo-6")

    stopping = await forget.stop_jobs(db, ANN)
    assert stopping.running == [running.id] and stopping.cancelled == 4  # the dead stage's, the queued render, both GIFs
    assert (await jobs.get(db, queued.id)).status == JobStatus.CANCELLED
    assert await jobs.cancel_requested(db, running.id)  # its stage stops at its next heartbeat ...
    assert await jobs.mark_cancelled(db, running_claim)  # ... as it does
    again = await forget.stop_jobs(db, ANN)
    assert again.running == [] and again.cancelled == 0  # idempotent

    withdrawn, touched = await forget.withdraw_photos(db, ANN)
    assert withdrawn == 1 and [o.id for o in touched] == [grid.id]
    assert [p["user_id"] for p in offers.photos_of(await offers.get(db, grid.id))] == [BEN]
    assert json.loads((await jobs.get(db, ben_grid.id)).inputs) == [{"file_id": "file-ben-photo",
                                                                     "file_unique_id": "ben-photo"}]
    assert (await forget.withdraw_photos(db, ANN))[0] == 0  # idempotent

    owned = await forget.owned(db, ANN)
    assert set(owned.job_ids) == {video.id, ann_gif.id, ben_gif.id, running.id, dead.id, queued.id}
    assert owned.paths == [f"/data/renders/{video.id}.mp4"]  # not the cached copy's (the same file, Ben's row)

    counts = await forget.delete_rows(db, ANN)
    assert counts == {"jobs": 6, "offers": 1}
    assert await forget.delete_rows(db, ANN) == {"jobs": 0, "offers": 0}  # idempotent
    dump = await every_row(db)
    assert str(ANN) not in dump and f"renders/{video.id}.mp4" not in dump
    # Ann's photos are gone; only Ben's own request of the same photo (his cached answer) is his
    assert not [n for n in range(2, 7) if f"ann-photo-{n}" in dump]
    assert await users.sticker_set(db, ANN) is None
    assert await jobs.delivered_results(db, ANN) == []  # what inline mode lists
    assert (await jobs.cached_result(db, "ann-photo-1", "key")).user_id == BEN
    assert (await jobs.get(db, cached.id)).result_path is None and (await jobs.get(db, ben_grid.id)) is not None


async def test_retention_deletes_idle_users_with_nothing_left(db: Database) -> None:
    for user_id in (ANN, BEN, ANN + 10, ANN + 20):
        await users.touch(db, user_id, "en")
    await users.set_sticker_set(db, BEN, "yahey_u777002_by_bot")  # a pack is kept until deleted
    await done_render(db, ANN + 10, "recent")  # a user with a job in retention stays
    await forget.request(db, ANN + 20, ANN + 20, "en")  # and one being forgotten (the request deletes it)
    async with db.write() as session:
        await session.execute(update(User).values(last_seen=utcnow() - timedelta(days=30)))
    await purge_before(db, utcnow() - timedelta(days=7))
    async with db.read() as session:
        left = set((await session.execute(text("SELECT id FROM users"))).scalars())
    assert {ANN, BEN, ANN + 10, ANN + 20} & left == {BEN, ANN + 10, ANN + 20}
