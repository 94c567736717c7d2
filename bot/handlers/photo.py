"""A photo (or an image file) in a private chat → the template keyboard, or a one-line refusal."""

from __future__ import annotations

from telegram import Message, Update
from telegram.ext import ContextTypes

from bot import intake
from bot.handlers.common import reply, visit
from bot.services import Services
from bot.texts import t


async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, lang = await visit(update, context)
    message = update.effective_message
    await offer_for(update, context, message, svc, lang, missing_key="send_photo")


async def offer_for(update: Update, context: ContextTypes.DEFAULT_TYPE, target: Message | None, svc: Services,
                    lang: str, missing_key: str) -> None:
    """Validate the image in `target` and answer it with the keyboard (requester: the update's user)."""
    message = update.effective_message
    try:
        ref = intake.photo_of(target) if target is not None else None
        if ref is None:
            await reply(message, t(lang, missing_key))
            return
        await intake.validate(context.bot, ref, svc.settings.limits)
        await intake.offer(svc, context.bot, message.chat_id, ref, update.effective_user.id, lang)
    except intake.Refusal as refusal:
        await reply(message, refusal.text(lang))
