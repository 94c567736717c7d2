"""/start, /help, and the nudge for anything else in a private chat (text, stickers, videos...)."""

from __future__ import annotations

from telegram import Update

from bot.context import BotContext
from bot.handlers.common import reply, sent, visit
from i18n.texts import t


async def start_help(update: Update, context: BotContext) -> None:
    if (message := update.effective_message) is None:
        return
    svc, lang = await visit(update, context)
    privacy = t(lang, "privacy_line", days=svc.settings.storage.retention_days)
    await reply(message, f"{t(lang, 'help')}\n\n{privacy}")


async def send_a_photo(update: Update, context: BotContext) -> None:
    if (given := sent(update)) is None:
        return
    message, user = given
    svc, lang = await visit(update, context)
    if (message.video or message.animation) and svc.is_admin(user.id):
        return  # an admin's video is probably about to get an /addtemplate reply
    await reply(message, t(lang, "send_photo"))
