"""Users' own templates: /template NAME (a clip's caption, or a reply to a clip or round video), a
hint for a bare clip in a private chat, and the delete buttons under /templates."""

from __future__ import annotations

import logging
import re

from telegram import Animation, Document, InlineKeyboardMarkup, Message, Update, Video, VideoNote
from telegram.error import TelegramError

from bot.context import BotContext, Services
from bot.handlers.common import reply, sent, visit
from bot.own_template_intake import Clip, check_request, queue_import
from bot.refusal import Refusal
from i18n.texts import t
from pipeline import own_templates
from pipeline.keyboards import own_templates_keyboard, parse_delete
from storage import owned_templates
from storage.owned_templates import Owner

log = logging.getLogger(__name__)
CAPTION_COMMAND = re.compile(r"^/template(?:@(\w+))?(?:\s+(.*))?$", re.IGNORECASE | re.DOTALL)


def clip_of(message: Message | None) -> Clip | None:
    """The video, video file or round video note in a message."""
    if message is None:
        return None
    media: Video | VideoNote | Animation | Document | None = message.video or message.video_note or message.animation
    if media is None and message.document and (message.document.mime_type or "").startswith("video/"):
        media = message.document
    if media is None:
        return None
    duration = getattr(media, "duration", None)
    return Clip(message.message_id, media.file_id, media.file_unique_id, media.file_size,
                float(duration) if duration is not None else None)


async def on_template(update: Update, context: BotContext) -> None:
    """/template NAME as a clip's caption, or replying to one."""
    if (given := sent(update)) is None:
        return
    message, user = given
    source: Message | None  # the clip: this message (its caption) or the one it replies to
    if message.caption is not None:
        match = CAPTION_COMMAND.match(message.caption.strip())
        if match and match.group(1) and match.group(1).lower() != (context.bot.username or "").lower():
            return  # /template@some_other_bot
        name, source = ((match.group(2) or "") if match else ""), message
    else:
        name, source = " ".join(context.args or []), message.reply_to_message
    svc, lang = await visit(update, context)
    cfg = svc.settings.user_templates
    clip = clip_of(source)
    if clip is None:
        await reply(message, t(lang, "own_template_usage", s=f"{cfg.max_seconds:g}", n=cfg.max_name))
        return
    user_id = user.id
    try:
        name = await check_request(svc, message.chat_id, user_id, clip, name)
    except Refusal as refusal:
        await reply(message, refusal.text(lang))
        return
    status = await reply(message, t(lang, "own_template_queued", name=name))
    try:
        await queue_import(svc, message.chat_id, user_id, clip, name, lang, status.message_id)
    except Refusal as refusal:
        await status.edit_text(refusal.text(lang))


async def on_bare_clip(update: Update, context: BotContext) -> None:
    """A clip without /template in a private chat: say how to make it a template."""
    if (given := sent(update)) is None:
        return
    message, user = given
    svc, lang = await visit(update, context)
    if svc.is_admin(user.id):
        return  # an admin's video is probably about to get an /addtemplate reply
    cfg = svc.settings.user_templates
    await reply(message, t(lang, "own_template_hint", s=f"{cfg.max_seconds:g}"))


async def own_section(svc: Services, chat_id: int, user_id: int, everyone: bool,
                      lang: str) -> tuple[str, InlineKeyboardMarkup | None]:
    """/templates' second part: this chat's own templates (an admin's `/templates all`: everyone's),
    each with a delete button."""
    cfg = svc.settings.user_templates
    if everyone:
        rows = await owned_templates.every(svc.db)
        if not rows:
            return t(lang, "own_templates_all_none"), None
        items = "\n".join(f"• #{r.id} {r.name} ({r.owner_kind} {r.owner_id})" for r in rows)
        text = t(lang, "own_templates_all", items=items)
    else:
        rows = await owned_templates.for_owner(svc.db, Owner.of_chat(chat_id, user_id))
        if not rows:
            return t(lang, "own_templates_none", s=f"{cfg.max_seconds:g}"), None
        items = "\n".join(f"• {r.name}" for r in rows)
        text = t(lang, "own_templates_list", items=items, n=len(rows), max=cfg.per_owner)
    return text, own_templates_keyboard([(r.id, r.name) for r in rows], lang)


async def on_delete_pressed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if query is None:
        return
    svc, lang = await visit(update, context)
    row_id = parse_delete(query.data or "")
    row = await owned_templates.get(svc.db, row_id) if row_id is not None else None
    if row is None:
        await query.answer(t(lang, "own_template_gone"), show_alert=True)
        return
    if not own_templates.may_delete(row, query.from_user.id, svc.is_admin(query.from_user.id)):
        await query.answer(t(lang, "own_template_not_yours"), show_alert=True)
        return
    await own_templates.delete_one(svc.db, svc.settings, row.id, engine=svc.engine)
    log.info("owned template %s (%s) deleted by %s", row.id, row.folder, query.from_user.id)
    await query.answer()
    try:
        await query.edit_message_text(t(lang, "own_template_deleted", name=row.name))
    except TelegramError as err:
        log.info("deletion of %s not shown: %s", row.id, err)
