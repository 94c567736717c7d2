"""/language: a keyboard of the languages; a press by the user who sent it keeps their choice
(or "Telegram's language": follow their app again) and answers in the new language."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError

from bot.context import BotContext
from bot.handlers.common import reply, sent, visit
from i18n.texts import lang_of, t
from pipeline.keyboards import language_keyboard, parse_language
from storage import users

log = logging.getLogger(__name__)


async def on_language(update: Update, context: BotContext) -> None:
    if (given := sent(update)) is None:
        return
    message, user = given
    svc, lang = await visit(update, context)
    user_id = user.id
    chosen = await users.chosen_language(svc.db, user_id)
    await reply(message, t(lang, "language_pick"), language_keyboard(user_id, lang, chosen))


async def on_language_pressed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if query is None:
        return
    svc, lang = await visit(update, context)
    parsed = parse_language(query.data or "")
    if parsed is None or parsed[0] != query.from_user.id:
        await query.answer(t(lang, "language_not_yours"), show_alert=True)
        return
    code = parsed[1]
    await users.choose_language(svc.db, query.from_user.id, code)
    new = lang_of(code or query.from_user.language_code)
    text = t(new, "language_set" if code else "language_auto_set")
    await query.answer(text)
    try:
        await query.edit_message_text(text)
    except TelegramError as err:  # the keyboard's message is gone: the answer above said it
        log.info("language keyboard of user %s not edited: %s", query.from_user.id, err)
