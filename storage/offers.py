"""Offers: a photo the template keyboard was shown for. A button press names an offer by id."""

from __future__ import annotations

from storage.db import Database
from storage.models import Offer


async def create(
    db: Database, *, chat_id: int, owner_id: int, photo_message_id: int, file_id: str, file_unique_id: str
) -> Offer:
    async with db.write() as session:
        offer = Offer(
            chat_id=chat_id,
            owner_id=owner_id,
            photo_message_id=photo_message_id,
            file_id=file_id,
            file_unique_id=file_unique_id,
        )
        session.add(offer)
        await session.flush()
        return offer


async def get(db: Database, offer_id: int) -> Offer | None:
    async with db.read() as session:
        return await session.get(Offer, offer_id)
