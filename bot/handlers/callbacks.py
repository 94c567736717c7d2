"""A template button pressed: only the requester counts; answered at once; then cache or queue."""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import intake
from bot.delivery import RetryPolicy, VideoReply, deliver_job
from bot.handlers.common import visit
from bot.keyboards import find_template, parse_callback
from bot.services import services
from bot.texts import t
from engine import list_templates
from storage import offers

log = logging.getLogger(__name__)


async def on_template_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    svc, lang = await visit(update, context)
    parsed = parse_callback(query.data or "")
    row = await offers.get(svc.db, parsed[0]) if parsed else None
    if row is None:
        await query.answer(t(lang, "offer_expired"), show_alert=True)
        return
    if query.from_user.id != row.owner_id:
        await query.answer(t(lang, "not_yours"), show_alert=True)
        return
    template = find_template(parsed[1], row.id, list_templates(svc.templates_dir))
    if template is None:
        await query.answer(t(lang, "template_gone"), show_alert=True)
        await context.bot.send_message(row.chat_id, t(lang, "template_gone"))
        return
    await query.answer()
    # The keyboard message becomes the job's status message.
    status_id = query.message.message_id if query.message else None
    outcome = await intake.request_render(svc, row, template, lang, status_id)
    if outcome.refusal is not None:
        await context.bot.send_message(row.chat_id, outcome.refusal.text(lang))
        return
    title = template.title_for(lang)
    if outcome.cached is not None:
        await _send_cached(context, outcome.cached, row.chat_id, row.photo_message_id, title, lang, query)
        return
    queued = outcome.queued
    assert queued is not None
    if status_id is not None:
        try:
            await query.edit_message_text(t(lang, "queued", pos=queued.position, title=title))
        except TelegramError as err:
            log.info("job %s: status message not edited: %s", queued.job.id, err)
    svc.worker.wake()


async def _send_cached(context: ContextTypes.DEFAULT_TYPE, cached: intake.Cached, chat_id: int, reply_to: int,
                       title: str, lang: str, query: CallbackQuery) -> None:
    svc = services(context)
    reply = VideoReply(chat_id, reply_to, t(lang, "caption", title=title))
    if await deliver_job(context.bot, svc.db, cached.job.id, reply, cached.file_id, RetryPolicy()) is None:
        return
    try:
        await query.edit_message_text(t(lang, "done", title=title))
    except TelegramError:
        pass
