"""The last resort: log the error (one line plus traceback, token masked) and tell the user briefly."""

from __future__ import annotations

import logging

from telegram import Update

from bot.context import BotContext
from i18n.texts import lang_of, t
from storage import users

log = logging.getLogger(__name__)


async def on_error(update: object, context: BotContext) -> None:
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update %s failed: %r", update_id, context.error, exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None or update.effective_user is None:
        return
    try:
        lang = lang_of(await _chosen_language(context, update.effective_user.id) or update.effective_user.language_code)
        if update.callback_query is not None:
            await update.callback_query.answer(t(lang, "error"), show_alert=True)
        else:
            await context.bot.send_message(update.effective_chat.id, t(lang, "error"))
    except Exception as err:  # noqa: BLE001 - telling the user is best effort
        log.info("error notice not sent: %s", err)


async def _chosen_language(context: BotContext, user_id: int) -> str | None:
    """The language kept with the user (their /language choice, else their last language_code); None
    when the database cannot say (the error may be its own)."""
    svc = context.bot_data.services
    if svc is None:
        return None
    try:
        return await users.language(svc.db, user_id)
    except Exception as err:  # noqa: BLE001 - the notice goes out in Telegram's language instead
        log.info("language of user %s not read: %s", user_id, err)
        return None
