"""Offers: what the template keyboard was shown for — a photo, a private album, or a group's /grid
collection. A button press names an offer by id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from storage.codecs import OfferPhoto
from storage.db import Database
from storage.models import Offer, OfferKind, utcnow


async def create(
    db: Database, *, chat_id: int, owner_id: int, photo_message_id: int, file_id: str, file_unique_id: str,
    kind: OfferKind = OfferKind.PHOTO, photos: tuple[OfferPhoto, ...] | None = None, expires_at: datetime | None = None,
) -> Offer:
    async with db.write() as session:
        offer = Offer(chat_id=chat_id, owner_id=owner_id, photo_message_id=photo_message_id, file_id=file_id,
                      file_unique_id=file_unique_id, kind=str(kind), photos=photos, expires_at=expires_at)
        session.add(offer)
        await session.flush()
        return offer


async def get(db: Database, offer_id: int) -> Offer | None:
    async with db.read() as session:
        return await session.get(Offer, offer_id)


async def toggle_background(db: Database, offer_id: int) -> bool:
    """Flip the offer's plain-background choice; returns the new value."""
    async with db.write() as session:
        offer = await session.get(Offer, offer_id)
        if offer is None:
            return False
        offer.clean_background = not offer.clean_background
        return offer.clean_background


def photos_of(offer: Offer) -> tuple[OfferPhoto, ...]:
    """An album's or a collection's photos (a single photo's offer has none)."""
    return offer.photos or ()


async def set_message(db: Database, offer_id: int, message_id: int) -> None:
    async with db.write() as session:
        await session.execute(update(Offer).where(Offer.id == offer_id).values(message_id=message_id))


async def open_collection(db: Database, chat_id: int, message_id: int) -> Offer | None:
    """The open /grid collection whose message this is."""
    async with db.read() as session:
        return await session.scalar(select(Offer).where(
            Offer.chat_id == chat_id, Offer.message_id == message_id, Offer.kind == OfferKind.GRID,
            Offer.closed.is_(False)))


async def add_photo(db: Database, offer_id: int, photo: OfferPhoto, max_photos: int) -> Offer | None:
    """Append a photo to an open collection (the same photo twice counts once). None when the
    collection is closed, expired or full."""
    async with db.write() as session:
        offer = await session.get(Offer, offer_id, with_for_update=True)  # PostgreSQL: one adder at a time
        if offer is None or offer.closed or (offer.expires_at is not None and offer.expires_at < utcnow()):
            return None
        photos = tuple(p for p in photos_of(offer) if p.file_unique_id != photo.file_unique_id)
        if len(photos) >= max_photos:
            return None
        offer.photos = (*photos, photo)
        return offer


async def close(db: Database, offer_id: int) -> Offer | None:
    """Close an open collection (a template chosen, cancelled, expired); None if it already was."""
    async with db.write() as session:
        result = await session.execute(
            update(Offer).where(Offer.id == offer_id, Offer.closed.is_(False)).values(closed=True))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return await session.get(Offer, offer_id)


async def reopen(db: Database, offer_id: int) -> None:
    """Undo close() when what it was closed for was refused (a limit): the others may still press."""
    async with db.write() as session:
        await session.execute(update(Offer).where(Offer.id == offer_id).values(closed=False))


async def expired_collections(db: Database) -> list[Offer]:
    async with db.read() as session:
        rows = await session.scalars(select(Offer).where(
            Offer.kind == OfferKind.GRID, Offer.closed.is_(False), Offer.expires_at < utcnow()))
        return list(rows)
