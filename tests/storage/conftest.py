"""Storage fixtures: a migrated SQLite database in a temp folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import Database, upgrade_to_head, users


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    await upgrade_to_head(database)
    for user_id in (1, 2, 3, 4, 5):
        await users.touch(database, user_id, "en")
    yield database
    await database.close()
