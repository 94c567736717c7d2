"""Users: the language chosen with /language is kept through later visits, and can be dropped again."""

from __future__ import annotations

from storage import Database, users


async def test_a_chosen_language_outlives_visits_until_dropped(db: Database) -> None:
    assert await users.touch(db, 42, "pt-br") is None  # a new user follows their app
    assert await users.language(db, 42) == "pt-br"
    await users.choose_language(db, 42, "ru")
    assert await users.touch(db, 42, "es") == "ru"  # a visit with another app language keeps the choice
    assert await users.language(db, 42) == "ru" and await users.chosen_language(db, 42) == "ru"
    await users.choose_language(db, 42, None)
    assert await users.touch(db, 42, "es") is None and await users.language(db, 42) == "es"
    assert await users.language(db, 404) is None and await users.chosen_language(db, 404) is None


async def test_a_pack_suffix_is_random_and_kept(db) -> None:
    import asyncio

    first = await users.pack_suffix(db, 1)
    assert first.isalnum() and first.islower() and len(first) == 10
    together = await asyncio.gather(*(users.pack_suffix(db, 2) for _ in range(4)))  # made once
    assert len(set(together)) == 1 and together[0] != first
    assert await users.pack_suffix(db, 1) == first
