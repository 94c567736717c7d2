"""A photo (or an image file) in a private chat → the template keyboard, or a one-line refusal."""

from __future__ import annotations

from telegram import Message, Update

from bot import intake
from bot.context import BotContext, Services
from bot.handlers.common import reply, visit
from bot.refusal import Refusal
from i18n.texts import t


async def on_photo(update: Update, context: BotContext) -> None:
    svc, lang = await visit(update, context)
    message = update.effective_message
    if message.media_group_id and message.photo:  # one photo of an album: gathered, then one offer
        ref = intake.photo_of(message)
        assert ref is not None and context.job_queue is not None
        svc.albums.add(context.job_queue, message.media_group_id, message.chat_id, update.effective_user.id, lang, ref)
        return
    await offer_for(update, context, message, svc, lang, missing_key="send_photo")


async def offer_for(update: Update, context: BotContext, target: Message | None, svc: Services,
                    lang: str, missing_key: str) -> None:
    """Take the image in `target` (requester: the update's user) and answer with the keyboard."""
    message = update.effective_message
    try:
        ref = intake.photo_of(target) if target is not None else None
        if ref is None:
            await reply(message, t(lang, missing_key))
            return
        await intake.take_photo(svc, context.bot, message.chat_id, ref, update.effective_user.id, lang)
    except intake.Ignored:
        return
    except Refusal as refusal:
        await reply(message, refusal.text(lang))
