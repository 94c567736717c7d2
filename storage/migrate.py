"""Bring the database schema to the newest alembic revision, from inside the running program.

Used at start-up (fresh or existing database alike) and by the tests; `alembic upgrade head`
from the repository root does the same from a shell (alembic.ini there).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from storage.db import Database

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str, connection: Connection | None = None) -> Config:
    # No ini file: alembic must not re-configure the bot's logging (fileConfig would).
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


async def upgrade_to_head(db: Database) -> None:
    """Run every pending migration inside one write transaction on the bot's own engine."""

    def _upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(db.url, connection), "head")

    async with db.writer_engine.begin() as conn:
        await db.serialize(conn, "yahey-migrate")  # the bot and its workers may all start at once: one migrates
        await conn.run_sync(_upgrade)
