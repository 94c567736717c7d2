"""Owned templates on SQLite and PostgreSQL: one row per owner and clip, names unique per owner
(any case), the per-owner limit, expiry by last use, an owner forgotten at once, and the folders
still in use (a row, or an active job's "@folder")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage import Database, JobKind, OwnerKind, jobs, owned_templates
from storage.models import utcnow
from storage.owned_templates import AlreadyOwned, NameTaken, Owner, TooManyTemplates

ANN, BEN = Owner(OwnerKind.USER, 1), Owner(OwnerKind.USER, 2)
GROUP = Owner(OwnerKind.CHAT, -100)


async def test_one_row_per_owner_and_clip_and_the_limit(db: Database) -> None:
    first = await owned_templates.add(db, ANN, 1, "Wiggle", "aaa", "a" * 64, limit=2)
    with pytest.raises(AlreadyOwned) as dup:
        await owned_templates.add(db, ANN, 1, "Again", "aaa", "a" * 64, limit=2)
    assert dup.value.row.name == "Wiggle"
    with pytest.raises(NameTaken):
        await owned_templates.add(db, ANN, 1, "wiggle", "bbb", "b" * 64, limit=2)
    await owned_templates.add(db, ANN, 1, "Dance", "bbb", "b" * 64, limit=2)
    with pytest.raises(TooManyTemplates):
        await owned_templates.add(db, ANN, 1, "Third", "ccc", "c" * 64, limit=2)
    # Another owner may have the same clip (and the same name): their own row, the same folder.
    shared = await owned_templates.add(db, BEN, 2, "Wiggle", "aaa", "a" * 64, limit=2)
    assert shared.id != first.id and shared.folder == first.folder
    assert [r.name for r in await owned_templates.for_owner(db, ANN)] == ["Wiggle", "Dance"]
    assert await owned_templates.count(db, BEN) == 1 and await owned_templates.count(db, GROUP) == 0
    assert await owned_templates.name_taken(db, ANN, "DANCE") and not await owned_templates.name_taken(db, BEN, "Dance")
    assert Owner.of_chat(1, 1) == ANN and Owner.of_chat(-100, 1) == GROUP


async def test_expiry_forgetting_an_owner_and_folders_in_use(db: Database) -> None:
    await owned_templates.add(db, ANN, 1, "Old", "old", "o" * 64, limit=5)
    await owned_templates.add(db, ANN, 1, "Fresh", "fresh", "f" * 64, limit=5)
    await owned_templates.add(db, GROUP, 3, "Party", "party", "p" * 64, limit=5)
    now = utcnow()
    await owned_templates.touch(db, ANN, "old", now - timedelta(days=31))
    assert await owned_templates.expire(db, now - timedelta(days=30)) == ["old"]
    assert [r.name for r in await owned_templates.for_owner(db, ANN)] == ["Fresh"]

    # An active render of a folder keeps it in use after its rows are gone.
    job, _ = await jobs.enqueue(db, jobs.NewJob(user_id=1, chat_id=1, source_message_id=1, input_file_id="f",
                                                input_file_unique_id="u", template_id="@fresh"),
                                jobs.Limits(max_queue=10, daily_quota=10))
    assert await owned_templates.remove_owner(db, ANN) == ["fresh"]
    assert await owned_templates.remove_owner(db, ANN) == []  # idempotent
    assert await owned_templates.folders_in_use(db) == {"fresh", "party"}
    claim = await jobs.claim_render(db, "stage", 60.0, max_attempts=3, job_id=job.id)
    assert claim is not None and await jobs.mark_done(db, claim)
    assert await owned_templates.folders_in_use(db) == {"party"}

    await owned_templates.migrate_chat(db, -100, -1009)
    [row] = await owned_templates.for_owner(db, Owner(OwnerKind.CHAT, -1009))
    assert row.name == "Party"
    assert (await owned_templates.remove(db, row.id)).name == "Party"
    assert await owned_templates.remove(db, row.id) is None
    assert JobKind.OWN_TEMPLATE in jobs.QUOTA_KINDS
