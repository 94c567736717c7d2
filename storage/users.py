"""Users: who has talked to the bot and in which language."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import Database
from storage.models import User, utcnow


async def touch(db: Database, user_id: int, language: str | None) -> str | None:
    """Record a user's visit (and their current language_code) in one upsert; returns the language
    they chose with /language (None: they follow their Telegram app's)."""
    now = utcnow()
    lang = (language or "en")[:16]
    insert = postgresql_insert if db.is_postgresql else sqlite_insert  # both speak ON CONFLICT
    upsert = insert(User).values(id=user_id, language=lang, first_seen=now, last_seen=now).on_conflict_do_update(
        index_elements=[User.id], set_={"language": lang, "last_seen": now})
    async with db.write() as session:
        chosen: str | None = (await session.execute(upsert.returning(User.chosen_language))).scalar_one()
        return chosen


async def sticker_set(db: Database, user_id: int) -> str | None:
    """The name of the user's own sticker pack, None until the first sticker is added."""
    async with db.read() as session:
        return await session.scalar(select(User.sticker_set).where(User.id == user_id))


async def set_sticker_set(db: Database, user_id: int, name: str) -> None:
    async with db.write() as session:
        await session.execute(update(User).where(User.id == user_id).values(sticker_set=name))


async def language(db: Database, user_id: int) -> str | None:
    """The language the user chose with /language, else their Telegram language_code as last seen."""
    async with db.read() as session:
        row = (await session.execute(select(User.chosen_language, User.language).where(User.id == user_id))).first()
    return None if row is None else row.chosen_language or row.language


async def chosen_language(db: Database, user_id: int) -> str | None:
    """The language the user chose with /language; None: they follow their Telegram app's."""
    async with db.read() as session:
        return await session.scalar(select(User.chosen_language).where(User.id == user_id))


async def choose_language(db: Database, user_id: int, code: str | None) -> None:
    """Keep the language the user chose (None: follow their Telegram app's again)."""
    async with db.write() as session:
        await session.execute(update(User).where(User.id == user_id).values(chosen_language=code))
