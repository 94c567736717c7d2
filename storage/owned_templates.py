"""Users' and groups' own templates: who owns which template folder, named what, used when.

A folder (inside [user_templates].dir) is named by its clip's content, so the same clip imported
by two owners is one folder, one cached motion, and two rows. This module only keeps the rows; the
bot removes a folder once no row names it and no active job uses it (pipeline/own_templates.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update

from storage.db import Database
from storage.models import ACTIVE_STATUSES, Job, OwnedTemplate, OwnerKind, utcnow

# A job's template_id for an owned template: the folder behind this mark (never a public id,
# whose first character is a letter or digit).
JOB_PREFIX = "@"


@dataclass(frozen=True)
class Owner:
    kind: OwnerKind
    id: int

    @classmethod
    def of_chat(cls, chat_id: int, user_id: int) -> Owner:
        """In a private chat (its id is the user's) the user, in a group the group."""
        return cls(OwnerKind.USER, user_id) if chat_id == user_id else cls(OwnerKind.CHAT, chat_id)


class OwnedTemplateRefused(Exception):
    """A new owned template that cannot be recorded; the bot words it."""


class TooManyTemplates(OwnedTemplateRefused):
    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} templates already")
        self.limit = limit


class AlreadyOwned(OwnedTemplateRefused):
    """The owner has this clip already (identity by content), under `row.name`."""

    def __init__(self, row: OwnedTemplate) -> None:
        super().__init__(f"already owned as {row.name!r}")
        self.row = row


class NameTaken(OwnedTemplateRefused):
    def __init__(self, name: str) -> None:
        super().__init__(f"name {name!r} taken")
        self.name = name


def _of(owner: Owner):  # type: ignore[no-untyped-def]
    return (OwnedTemplate.owner_kind == str(owner.kind)) & (OwnedTemplate.owner_id == owner.id)


async def for_owner(db: Database, owner: Owner) -> list[OwnedTemplate]:
    """The owner's templates, oldest first."""
    async with db.read() as session:
        return list(await session.scalars(select(OwnedTemplate).where(_of(owner)).order_by(OwnedTemplate.id)))


async def every(db: Database, limit: int = 50) -> list[OwnedTemplate]:
    """Everyone's templates, the newest `limit` (what one message and its buttons can hold), oldest first."""
    async with db.read() as session:
        rows = await session.scalars(select(OwnedTemplate).order_by(OwnedTemplate.id.desc()).limit(limit))
        return list(reversed(list(rows)))


async def get(db: Database, row_id: int) -> OwnedTemplate | None:
    async with db.read() as session:
        return await session.get(OwnedTemplate, row_id)


async def count(db: Database, owner: Owner) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(OwnedTemplate).where(_of(owner))) or 0)


async def name_taken(db: Database, owner: Owner, name: str) -> bool:
    async with db.read() as session:
        names = await session.scalars(select(OwnedTemplate.name).where(_of(owner)))
        return name.casefold() in {n.casefold() for n in names}


async def add(db: Database, owner: Owner, created_by: int, name: str, folder: str, content_sha256: str,
              limit: int) -> OwnedTemplate:
    """Record a template for `owner`. Raises AlreadyOwned (same content), NameTaken or
    TooManyTemplates; checked and written in one serialized transaction."""
    async with db.write() as session:
        await db.serialize(session, "yahey-owned-templates")
        rows = list(await session.scalars(select(OwnedTemplate).where(_of(owner))))
        for row in rows:
            if row.content_sha256 == content_sha256:
                session.expunge(row)
                raise AlreadyOwned(row)
        if name.casefold() in {r.name.casefold() for r in rows}:
            raise NameTaken(name)
        if len(rows) >= limit:
            raise TooManyTemplates(limit)
        now = utcnow()
        row = OwnedTemplate(owner_kind=str(owner.kind), owner_id=owner.id, created_by=created_by, name=name,
                            folder=folder, content_sha256=content_sha256, created_at=now, last_used_at=now)
        session.add(row)
        await session.flush()
        return row


async def touch(db: Database, owner: Owner, folder: str, now: datetime | None = None) -> None:
    """The owner used the template in `folder` (it does not expire for another while)."""
    async with db.write() as session:
        await session.execute(update(OwnedTemplate).where(_of(owner), OwnedTemplate.folder == folder)
                              .values(last_used_at=now or utcnow()))


async def remove(db: Database, row_id: int) -> OwnedTemplate | None:
    """Delete one row; returns it (None when it was gone already)."""
    async with db.write() as session:
        row = await session.get(OwnedTemplate, row_id)
        if row is None:
            return None
        await session.delete(row)
        return row


async def remove_owner(db: Database, owner: Owner) -> list[str]:
    """Delete every row of `owner` (idempotent); returns their folders."""
    async with db.write() as session:
        folders = list(await session.scalars(select(OwnedTemplate.folder).where(_of(owner))))
        await session.execute(delete(OwnedTemplate).where(_of(owner)))
        return folders


async def forget_creator(db: Database, user_id: int) -> int:
    """A group keeps the templates a forgotten user made in it, no longer naming who made them
    (0: nobody's; only the group can delete them then). Returns how many rows named them."""
    async with db.write() as session:
        result = await session.execute(update(OwnedTemplate).where(OwnedTemplate.created_by == user_id)
                                       .values(created_by=0))
        return result.rowcount or 0  # type: ignore[attr-defined]


async def expire(db: Database, unused_since: datetime) -> list[str]:
    """Delete the rows last used before `unused_since`; returns their folders."""
    async with db.write() as session:
        old = OwnedTemplate.last_used_at < unused_since
        folders = list(await session.scalars(select(OwnedTemplate.folder).where(old)))
        await session.execute(delete(OwnedTemplate).where(old))
        return folders


async def folders_in_use(db: Database) -> set[str]:
    """Folders some row names, or some active job renders or imports into: not to be deleted."""
    async with db.read() as session:
        owned = set(await session.scalars(select(OwnedTemplate.folder)))
        used = await session.scalars(select(Job.template_id).where(
            Job.status.in_(ACTIVE_STATUSES), Job.template_id.like(f"{JOB_PREFIX}%")))
        return owned | {u.removeprefix(JOB_PREFIX) for u in used if u}


async def migrate_chat(db: Database, old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: its templates follow it."""
    async with db.write() as session:
        await session.execute(update(OwnedTemplate).where(_of(Owner(OwnerKind.CHAT, old_chat_id)))
                              .values(owner_id=new_chat_id))
