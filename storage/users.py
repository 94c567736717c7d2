"""Users: who has talked to the bot and in which language."""

from __future__ import annotations

from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import Database
from storage.models import User, utcnow


async def touch(db: Database, user_id: int, language: str | None) -> None:
    """Record a user's visit (and their current language_code) in one upsert."""
    now = utcnow()
    lang = (language or "en")[:16]
    stmt = sqlite_insert(User).values(id=user_id, language=lang, first_seen=now, last_seen=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[User.id], set_={"language": lang, "last_seen": now}
    )
    async with db.write() as session:
        await session.execute(stmt)


async def get(db: Database, user_id: int) -> User | None:
    async with db.read() as session:
        return await session.get(User, user_id)
