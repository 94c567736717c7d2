"""A photo (or an image file) in a private chat → the template keyboard, or a one-line refusal."""

from __future__ import annotations

from telegram import Message, Update, User

from bot import intake
from bot.context import BotContext, Services
from bot.handlers.common import reply, sent, visit
from bot.refusal import Refusal
from i18n.texts import t


async def on_photo(update: Update, context: BotContext) -> None:
    if (given := sent(update)) is None:
        return
    message, user = given
    svc, lang = await visit(update, context)
    if message.media_group_id and message.photo:  # one photo of an album: gathered, then one offer
        ref = intake.photo_of(message)
        assert ref is not None and context.job_queue is not None
        svc.albums.add(context.job_queue, message.media_group_id, message.chat_id, user.id, lang, ref)
        return
    await offer_for(context, message, user, message, svc, lang, missing_key="send_photo")


async def offer_for(context: BotContext, message: Message, user: User, target: Message | None, svc: Services,
                    lang: str, missing_key: str) -> None:
    """Take the image in `target` (requester: `user`, who sent `message`) and answer with the keyboard."""
    try:
        ref = intake.photo_of(target) if target is not None else None
        if ref is None:
            await reply(message, t(lang, missing_key))
            return
        await intake.take_photo(svc, context.bot, message.chat_id, ref, user.id, lang)
    except intake.Ignored:
        return
    except Refusal as refusal:
        await reply(message, refusal.text(lang))
