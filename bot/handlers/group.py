"""Groups: /yahey replying to a photo (or as a photo's caption) offers the keyboard there; group →
supergroup migrations move the chat's jobs along."""

from __future__ import annotations

import re

from telegram import Message, Update

from bot.context import BotContext, services
from bot.handlers.common import sent, visit
from bot.handlers.photo import offer_for
from storage import jobs, owned_templates

CAPTION_COMMAND = re.compile(r"^/yahey(?:@(\w+))?(?:\s|$)", re.IGNORECASE)


async def on_yahey(update: Update, context: BotContext) -> None:
    if (given := sent(update)) is None:
        return
    message, user = given
    target: Message | None  # the photo: this message (its caption) or the one it replies to
    if message.caption:  # the command is the photo's own caption
        match = CAPTION_COMMAND.match(message.caption)
        if match and match.group(1) and match.group(1).lower() != (context.bot.username or "").lower():
            return  # /yahey@some_other_bot
        target = message
    else:
        target = message.reply_to_message
    svc, lang = await visit(update, context)
    await offer_for(context, message, user, target, svc, lang, missing_key="yahey_needs_photo")


async def on_migrate(update: Update, context: BotContext) -> None:
    if (message := update.effective_message) is None:
        return
    if message.migrate_to_chat_id:
        old, new = message.chat_id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat_id
    else:
        return
    await jobs.migrate_chat(services(context).db, old, new)
    await owned_templates.migrate_chat(services(context).db, old, new)
