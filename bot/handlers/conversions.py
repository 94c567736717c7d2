"""A press under a delivered video: a round note, a sticker, a GIF, or the sticker into the user's
pack. Only the requester's presses count (as with templates); answered at once, from the cache
when the same result was sent before, else made by the conversion stage."""

from __future__ import annotations

from telegram import Update

from bot import conversions
from bot.context import BotContext
from bot.handlers.common import visit
from bot.refusal import Refusal
from i18n.texts import t
from pipeline.keyboards import parse_conversion


async def on_conversion_pressed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if query is None:
        return
    svc, lang = await visit(update, context)
    parsed = parse_conversion(query.data or "")
    chat_id = query.message.chat.id if query.message else None
    if parsed is None or chat_id is None:
        await query.answer(t(lang, "offer_expired"), show_alert=True)
        return
    job_id, kind = parsed
    try:
        await conversions.request(svc, job_id, kind, query.from_user.id, chat_id, lang)
    except Refusal as refusal:
        await query.answer(refusal.text(lang), show_alert=True)
        return
    await query.answer(t(lang, "converting"))
