"""Storage fixtures: a migrated database in a temp folder (SQLite) or a fresh PostgreSQL database;
every storage test runs on both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import Database, upgrade_to_head, users
from tests.services import postgresql_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request, tmp_path: Path) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        return
    async with postgresql_database() as url:
        yield url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await upgrade_to_head(database)
    for user_id in (1, 2, 3, 4, 5):
        await users.touch(database, user_id, "en")
    yield database
    await database.close()
