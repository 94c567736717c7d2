"""The JSON text columns (storage/codecs.py): rows written before the codecs (plain JSON text, as
the bot wrote it) read back as typed values, and typed values are stored as that same JSON, so a
row written now is readable by the version before (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import text

from storage import Database, forget, jobs, offers
from storage.codecs import FaceBox, GridInput, OfferPhoto, RenderChoices, RenderNotes
from storage.models import OfferKind

ALBUM = [{"file_id": "f1", "file_unique_id": "u1", "message_id": 11, "user_id": 1, "faces": 2},
         {"file_id": "f2", "file_unique_id": "u2", "message_id": 12, "user_id": 1, "faces": 1}]
COLLECTION = [{"file_id": "f3", "file_unique_id": "u3", "message_id": 13, "user_id": 2, "first_name": "Bo",
               "faces": 1}]
LEASE = timedelta(minutes=2)
INPUTS = [{"file_id": "f1", "file_unique_id": "u1"}, {"file_id": "f2", "file_unique_id": "u2"}]


async def _raw(db: Database, sql: str, **values: object) -> list[tuple[object, ...]]:
    async with db.write() as session:
        result = await session.execute(text(sql), values)
        return [tuple(r) for r in result.all()] if result.returns_rows else []


async def test_old_rows_read_as_typed_values(db: Database) -> None:
    album = await offers.create(db, chat_id=1, owner_id=1, photo_message_id=11, file_id="f1", file_unique_id="u1",
                                kind=OfferKind.ALBUM)
    grid = await offers.create(db, chat_id=-5, owner_id=2, photo_message_id=13, file_id="", file_unique_id="",
                               kind=OfferKind.GRID)
    job, _ = await jobs.enqueue(db, jobs.NewJob(1, 1, 11, "f1", "grid-u1u2", kind="grid"),
                                jobs.Limits(max_queue=10, daily_quota=10, exempt=True))
    await _raw(db, "UPDATE offers SET photos = :p WHERE id = :i", p=json.dumps(ALBUM), i=album.id)
    await _raw(db, "UPDATE offers SET photos = :p WHERE id = :i", p=json.dumps(COLLECTION), i=grid.id)
    await _raw(db, "UPDATE jobs SET inputs = :i, face_boxes = :b, options = :o, notes = :n WHERE id = :j",
               i=json.dumps(INPUTS), b="[[10.5, 20.0, 30.25, 40.0]]", o='{"clean_background": true, "later": 1}',
               n='{"skipped": [2], "background_fallback": true}', j=job.id)

    assert offers.photos_of(await offers.get(db, album.id)) == (
        OfferPhoto("f1", "u1", message_id=11, user_id=1, faces=2), OfferPhoto("f2", "u2", 12, 1, 1))
    assert offers.photos_of(await offers.get(db, grid.id)) == (OfferPhoto("f3", "u3", 13, 2, 1, first_name="Bo"),)
    row = await jobs.get(db, job.id)
    assert row is not None
    assert row.inputs == (GridInput("f1", "u1"), GridInput("f2", "u2"))
    assert row.face_boxes == (FaceBox(10.5, 20.0, 30.25, 40.0),)
    assert row.options == RenderChoices(clean_background=True)  # a key of a newer version is ignored
    assert row.notes == RenderNotes(skipped=(2,), background_fallback=True)


async def test_typed_values_are_stored_as_the_same_json(db: Database) -> None:
    photos = tuple(OfferPhoto(p["file_id"], p["file_unique_id"], p["message_id"], p["user_id"], p["faces"])
                   for p in ALBUM)
    album = await offers.create(db, chat_id=1, owner_id=1, photo_message_id=11, file_id="f1", file_unique_id="u1",
                                kind=OfferKind.ALBUM, photos=photos)
    single = await offers.create(db, chat_id=1, owner_id=1, photo_message_id=14, file_id="f4", file_unique_id="u4")
    inputs = tuple(GridInput(i["file_id"], i["file_unique_id"]) for i in INPUTS)
    job, _ = await jobs.enqueue(db, jobs.NewJob(1, 1, 11, "f1", "grid-u1u2", kind="grid", inputs=inputs,
                                                options=RenderChoices(clean_background=True)),
                                jobs.Limits(max_queue=10, daily_quota=10, exempt=True))
    claim = await jobs.claim_render(db, "stage", LEASE, max_attempts=3, job_id=job.id)
    assert claim is not None
    assert await jobs.hand_over(db, claim, path="/r.mp4", width=8, height=8, duration=1, seconds=1,
                                face_boxes=(FaceBox(10.04, 20.0, 30.26, 40.0),), notes=RenderNotes(skipped=(3,)))

    [(stored_photos,)] = await _raw(db, "SELECT photos FROM offers WHERE id = :i", i=album.id)
    assert json.loads(str(stored_photos)) == ALBUM
    assert await _raw(db, "SELECT photos FROM offers WHERE id = :i", i=single.id) == [(None,)]
    [(stored_inputs, boxes, options, notes)] = await _raw(
        db, "SELECT inputs, face_boxes, options, notes FROM jobs WHERE id = :i", i=job.id)
    assert json.loads(str(stored_inputs)) == INPUTS
    assert json.loads(str(boxes)) == [[10.0, 20.0, 30.3, 40.0]]  # a tenth of a pixel
    assert json.loads(str(options)) == {"clean_background": True}
    assert json.loads(str(notes)) == {"skipped": [3]}


async def test_a_forget_request_counts_its_steps(db: Database) -> None:
    row = await forget.request(db, 3, 3, "en")
    assert row.done_steps == () and row.counts == {}
    await _raw(db, "UPDATE forget_requests SET done_steps = :s, counts = :c WHERE id = :i",
               s='["stop_jobs"]', c='{"jobs": 2}', i=row.id)  # as an older version left it
    claimed = await forget.claim(db, "bot", LEASE)
    assert claimed is not None and claimed.done_steps == ("stop_jobs",) and claimed.counts == {"jobs": 2}
    assert await forget.step_done(db, claimed, "bot", "files", {"files": 4, "jobs": 1}, LEASE)
    [(steps, counts)] = await _raw(db, "SELECT done_steps, counts FROM forget_requests WHERE id = :i", i=row.id)
    assert json.loads(str(steps)) == ["stop_jobs", "files"]
    assert json.loads(str(counts)) == {"jobs": 3, "files": 4}
