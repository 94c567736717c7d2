"""Small helpers every handler uses: the user's language, recording the visit, replying."""

from __future__ import annotations

from telegram import Message, ReplyParameters, Update

from bot.context import BotContext, Services, services
from bot.texts import lang_of, t
from storage import users


async def visit(update: Update, context: BotContext) -> tuple[Services, str]:
    """Record the user (id, language) and return the shared services and the user's language."""
    svc = services(context)
    user = update.effective_user
    lang = lang_of(user.language_code if user else None)
    if user is not None:
        await users.touch(svc.db, user.id, user.language_code)
    return svc, lang


async def reply(message: Message, text: str) -> Message:
    return await message.reply_text(text, reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True))


async def refuse_unless_admin(update: Update, svc: Services, lang: str) -> bool:
    """True (after a polite refusal) when the sender is not in [telegram].admins."""
    if update.effective_user is not None and svc.is_admin(update.effective_user.id):
        return False
    await reply(update.effective_message, t(lang, "admins_only"))
    return True
