"""Users: who has talked to the bot and in which language."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import Database
from storage.models import User, utcnow


async def touch(db: Database, user_id: int, language: str | None) -> None:
    """Record a user's visit (and their current language_code) in one upsert."""
    now = utcnow()
    lang = (language or "en")[:16]
    insert = postgresql_insert if db.is_postgresql else sqlite_insert  # both speak ON CONFLICT
    stmt = insert(User).values(id=user_id, language=lang, first_seen=now, last_seen=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[User.id], set_={"language": lang, "last_seen": now}
    )
    async with db.write() as session:
        await session.execute(stmt)


async def sticker_set(db: Database, user_id: int) -> str | None:
    """The name of the user's own sticker pack, None until the first sticker is added."""
    async with db.read() as session:
        return await session.scalar(select(User.sticker_set).where(User.id == user_id))


async def set_sticker_set(db: Database, user_id: int, name: str) -> None:
    async with db.write() as session:
        await session.execute(update(User).where(User.id == user_id).values(sticker_set=name))


async def language(db: Database, user_id: int) -> str | None:
    """The user's Telegram language_code as last seen."""
    async with db.read() as session:
        return await session.scalar(select(User.language).where(User.id == user_id))
