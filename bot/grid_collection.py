"""A group's /grid: a collecting message that people reply to with their photos (2-9), one grid
video for all of them.

With privacy mode on the bot sees commands and replies to its own messages, which is all this
needs. The message shows how many photos there are and whose (first names, never a mention); once
two are in, the template buttons appear for everyone who added one, and the starter can cancel.
A collection left open expires (ttl) with a message saying so; a sweep in the JobQueue closes them,
from the database, so a restart does not keep one open for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters, User
from telegram.error import TelegramError

from bot import intake
from bot.context import Services
from bot.refusal import Refusal
from i18n.texts import lang_of, t
from pipeline.keyboards import template_buttons
from pipeline.own_templates import visible_templates
from storage import Offer, offers, users
from storage.codecs import OfferPhoto
from storage.models import OfferKind, utcnow

log = logging.getLogger(__name__)

CANCEL_PREFIX = "x"
CANCEL_PATTERN = r"^x:\d+$"
MIN_PHOTOS = 2


def collection_text(lang: str, photos: Sequence[OfferPhoto], max_tiles: int) -> str:
    names = ", ".join(dict.fromkeys(p.first_name or "" for p in photos))  # each name once, in order
    lines = [t(lang, "grid_collecting", min=MIN_PHOTOS, max=max_tiles)]
    if photos:
        lines.append(t(lang, "grid_count", n=len(photos), names=names))
    if len(photos) >= MIN_PHOTOS:
        lines.append(t(lang, "grid_ready"))
    return "\n".join(lines)


async def collection_keyboard(svc: Services, offer: Offer, lang: str) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    if len(offers.photos_of(offer)) >= MIN_PHOTOS:  # the group's own templates, then the public ones
        visible = await visible_templates(svc.db, svc.settings, offer.chat_id, offer.owner_id)
        rows += template_buttons(offer.id, visible, lang)
    rows.append([InlineKeyboardButton(t(lang, "grid_cancel"), callback_data=f"{CANCEL_PREFIX}:{offer.id}")])
    return InlineKeyboardMarkup(rows)


async def start(svc: Services, bot: Bot, message: Message, user: User, lang: str, ttl: timedelta) -> None:
    """Post the collecting message (replying to /grid); it expires after `ttl`."""
    async with svc.grid_chats.hold(message.chat_id):  # until the message is known (see `find`)
        row = await offers.create(svc.db, chat_id=message.chat_id, owner_id=user.id,
                                  photo_message_id=message.message_id, file_id="", file_unique_id="",
                                  kind=OfferKind.GRID, photos=(), expires_at=utcnow() + ttl)
        sent = await bot.send_message(
            message.chat_id, collection_text(lang, [], svc.settings.limits.max_tiles),
            reply_markup=await collection_keyboard(svc, row, lang),
            reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True))
        await offers.set_message(svc.db, row.id, sent.message_id)
    log.info("offer %s: a grid collection in chat %s", row.id, message.chat_id)


async def find(svc: Services, chat_id: int, message_id: int) -> Offer | None:
    """The open collection whose message this is. A reply can reach the bot before Telegram's
    answer to the send that made the message: waiting for the chat's /grid to finish covers it."""
    async with svc.grid_chats.hold(chat_id):
        return await offers.open_collection(svc.db, chat_id, message_id)


async def add(svc: Services, bot: Bot, collection: Offer, message: Message, user: User, lang: str) -> None:
    """A reply with a photo to the collecting message: checked, its faces counted, added."""
    ref = intake.photo_of(message)
    if ref is None:
        raise Refusal("grid_needs_photo")
    max_tiles = svc.settings.limits.max_tiles
    if len(offers.photos_of(collection)) >= max_tiles:  # full already: nothing downloaded for it
        raise Refusal("grid_full", n=max_tiles)
    await intake.admit(svc, user.id, message.chat_id, ref)
    faces = await intake.validate(svc, bot, ref)
    photo = OfferPhoto(file_id=ref.file_id, file_unique_id=ref.file_unique_id, message_id=ref.message_id,
                       user_id=user.id, first_name=user.first_name, faces=faces)
    updated = await offers.add_photo(svc.db, collection.id, photo, max_tiles)
    if updated is None:  # full, or closed or expired since it was found
        latest = await offers.get(svc.db, collection.id)
        full = latest is not None and not latest.closed and len(offers.photos_of(latest)) >= max_tiles
        raise Refusal("grid_full" if full else "offer_expired", n=max_tiles)
    await _refresh(svc, bot, updated, lang)


async def _refresh(svc: Services, bot: Bot, offer: Offer, lang: str) -> None:
    # photos arrive at once: edits one at a time, each from the latest state
    async with svc.grid_chats.hold(offer.chat_id):
        latest = await offers.get(svc.db, offer.id)
        if latest is None or latest.closed:
            return
        try:
            await bot.edit_message_text(
                collection_text(lang, offers.photos_of(latest), svc.settings.limits.max_tiles),
                chat_id=latest.chat_id, message_id=latest.message_id,
                reply_markup=await collection_keyboard(svc, latest, lang))
        except TelegramError as err:  # "not modified" when another refresh already showed this state
            log.info("offer %s: collecting message not updated: %s", latest.id, err)


async def show_latest(svc: Services, bot: Bot, offer: Offer) -> None:
    """Show the collection as it now stands (a photo was withdrawn), in its starter's language."""
    await _refresh(svc, bot, offer, lang_of(await users.language(svc.db, offer.owner_id)))


async def end(svc: Services, bot: Bot, offer: Offer, text: str) -> None:
    """Close the collection and say why on its message (cancelled, expired)."""
    if await offers.close(svc.db, offer.id) is None:
        return
    try:
        await bot.edit_message_text(text, chat_id=offer.chat_id, message_id=offer.message_id)
    except TelegramError as err:
        log.info("offer %s: collecting message not closed: %s", offer.id, err)


async def expire(svc: Services, bot: Bot, ttl: timedelta) -> int:
    """Close every collection past its time (said in its starter's language); returns how many."""
    expired = await offers.expired_collections(svc.db)
    for offer in expired:
        lang = lang_of(await users.language(svc.db, offer.owner_id))
        await end(svc, bot, offer, t(lang, "grid_expired", min=round(ttl.total_seconds() / 60)))
    return len(expired)
