"""/privacy (what is kept, who sees it, how to delete it) and /forget: a confirmation with two
buttons, then the forget stage (bot/forget.py) deletes everything of the user."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from bot.context import BotContext, services
from bot.handlers.common import reply, sent, visit
from i18n.texts import lang_of, t
from storage import forget, users

log = logging.getLogger(__name__)

FORGET_PATTERN = r"^f:[yn]:\d+$"  # f:y:<user id> (delete everything) / f:n:<user id> (cancel)


async def privacy(update: Update, context: BotContext) -> None:
    if (message := update.effective_message) is None:
        return
    svc, lang = await visit(update, context)
    await reply(message, t(lang, "privacy", days=svc.settings.storage.retention_days))


async def forget_command(update: Update, context: BotContext) -> None:
    if (given := sent(update)) is None:
        return
    message, user = given
    _, lang = await visit(update, context)
    if message.chat.type != ChatType.PRIVATE:
        await reply(message, t(lang, "forget_private_only"))
        return
    user_id = user.id
    keyboard = InlineKeyboardMarkup([[
        InlineKeyboardButton(t(lang, "forget_button_yes"), callback_data=f"f:y:{user_id}"),
        InlineKeyboardButton(t(lang, "forget_button_no"), callback_data=f"f:n:{user_id}"),
    ]])
    await message.reply_text(t(lang, "forget_confirm"), reply_markup=keyboard)


async def on_forget_pressed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if query is None:
        return
    # Not `visit`: recording the presser would re-create the user row being deleted.
    svc = services(context)
    lang = lang_of(await users.chosen_language(svc.db, query.from_user.id) or query.from_user.language_code)
    _, answer, owner = (query.data or "f:n:0").split(":")
    shown = query.message
    if int(owner) != query.from_user.id or shown is None:
        await query.answer(t(lang, "forget_not_yours"), show_alert=True)
        return
    await query.answer()
    if answer == "y":
        await forget.request(svc.db, query.from_user.id, shown.chat.id, lang)
        if svc.forgetting is not None:
            svc.forgetting.wake()
    try:
        await query.edit_message_text(t(lang, "forget_started" if answer == "y" else "forget_kept"))
    except TelegramError as err:
        log.info("forget confirmation not edited: %s", err)
