"""Migrations build the schema the models describe; the database runs in WAL mode."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from storage import Base, Database, upgrade_to_head
from storage.migrate import alembic_config


def _diffs(connection: Connection) -> list:
    ctx = MigrationContext.configure(connection, opts={"render_as_batch": True})
    return compare_metadata(ctx, Base.metadata)


async def test_fresh_database_upgrades_to_head_and_matches_models(db_url: str) -> None:
    db = Database(db_url)
    await upgrade_to_head(db)
    async with db.engine.connect() as conn:
        diffs = await conn.run_sync(_diffs)
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        current = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    await db.close()
    assert diffs == []  # the `alembic check` equivalent
    assert {"users", "jobs", "offers", "alembic_version"} <= tables
    head = ScriptDirectory.from_config(alembic_config(db.url)).get_current_head()
    assert current == head


async def test_upgrade_on_existing_database_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "existing.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade_to_head(db)
    await db.close()
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO users (id, language, first_seen, last_seen) "
                    "VALUES (7, 'zh', '2026-01-01', '2026-01-01')")
    db = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade_to_head(db)  # second start: nothing to do, nothing lost
    await db.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT language FROM users WHERE id = 7").fetchone() == ("zh",)


async def test_wal_mode_is_on_sqlite(db: Database) -> None:
    assert (await db.journal_mode()).lower() == ("wal" if db.is_sqlite else "")
    assert await db.ping()


async def test_migrations_go_down_and_up_again(db_url: str) -> None:
    from alembic import command

    db = Database(db_url)
    await upgrade_to_head(db)

    def down_and_up(connection: Connection) -> None:
        command.downgrade(alembic_config(db.url, connection), "base")
        command.upgrade(alembic_config(db.url, connection), "head")

    async with db.writer_engine.begin() as conn:
        await conn.run_sync(down_and_up)
    async with db.engine.connect() as conn:
        diffs = await conn.run_sync(_diffs)
    await db.close()
    assert diffs == []
