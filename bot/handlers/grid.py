"""Grids in groups: /grid starts a collection, replies to it with photos fill it, its starter may
cancel it; a periodic sweep closes the ones left open. (Albums in private chats: bot/albums.py.)"""

from __future__ import annotations

from telegram import Update

from bot import grid_collection, intake
from bot.context import BotContext, services
from bot.grid_collection import CANCEL_PREFIX
from bot.handlers.common import reply, sent, visit
from bot.refusal import Refusal
from i18n.texts import t
from storage import offers


async def on_grid(update: Update, context: BotContext) -> None:
    if (given := sent(update)) is None:
        return
    message, user = given
    svc, lang = await visit(update, context)
    if message.chat.type == "private":
        await reply(message, t(lang, "grid_private_hint"))
        return
    await grid_collection.start(svc, context.bot, message, user, lang, context.bot_data.tuning.grid_ttl)


async def on_reply_with_photo(update: Update, context: BotContext) -> None:
    """A reply in a group: a photo for an open collection when it answers one, else nothing."""
    if (given := sent(update)) is None:
        return
    message, user = given
    target = message.reply_to_message
    if target is None or target.from_user is None or target.from_user.id != context.bot.id:
        return
    svc, lang = await visit(update, context)
    collection = await grid_collection.find(svc, message.chat_id, target.message_id)
    if collection is None:
        return
    try:
        await grid_collection.add(svc, context.bot, collection, message, user, lang)
    except intake.Ignored:
        return
    except Refusal as refusal:
        await reply(message, refusal.text(lang))


async def on_cancel_pressed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if query is None:
        return
    svc, lang = await visit(update, context)
    prefix, _, offer_id = (query.data or "").partition(":")
    row = await offers.get(svc.db, int(offer_id)) if prefix == CANCEL_PREFIX and offer_id.isdigit() else None
    if row is None or row.closed or query.message is None or query.message.chat.id != row.chat_id:
        await query.answer(t(lang, "offer_expired"), show_alert=True)
        return
    if query.from_user.id != row.owner_id:
        await query.answer(t(lang, "grid_only_starter"), show_alert=True)
        return
    await query.answer()
    await grid_collection.end(svc, context.bot, row, t(lang, "grid_cancelled"))


async def sweep_expired(context: BotContext) -> None:
    await grid_collection.expire(services(context), context.bot, context.bot_data.tuning.grid_ttl)
