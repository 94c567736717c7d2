"""Small helpers every handler uses: the user's language, recording the visit, replying."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Message, ReplyParameters, Update, User

from bot.context import BotContext, Services, services
from i18n.texts import lang_of, t
from storage import users


def sent(update: Update) -> tuple[Message, User] | None:
    """The message a command handler answers and its sender; None for an update without either (a
    channel post, a message on behalf of a chat): such an update gets no answer."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return None
    return message, user


async def visit(update: Update, context: BotContext) -> tuple[Services, str]:
    """Record the user (id, language) and return the shared services and the user's language: the one
    they chose with /language, else their Telegram app's. In a group, the sender's (or presser's)."""
    svc = services(context)
    user = update.effective_user
    if user is None:
        return svc, lang_of(None)
    chosen = await users.touch(svc.db, user.id, user.language_code)
    return svc, lang_of(chosen or user.language_code)


async def reply(message: Message, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> Message:
    return await message.reply_text(
        text, reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True),
        reply_markup=reply_markup)


async def refuse_unless_admin(message: Message, user: User, svc: Services, lang: str) -> bool:
    """True (after a polite refusal) when the sender is not in [telegram].admins."""
    if svc.is_admin(user.id):
        return False
    await reply(message, t(lang, "admins_only"))
    return True
