"""/templates, /status, /cancel, /stats (admins)."""

from __future__ import annotations

from telegram import ReplyParameters, Update

from bot.context import BotContext
from bot.handlers.common import refuse_unless_admin, reply, sent, visit
from bot.handlers.own_templates import own_section
from engine import list_templates
from i18n.texts import state, t
from storage import JobStatus, jobs


async def templates(update: Update, context: BotContext) -> None:
    """The public templates, then this chat's own ones with their delete buttons (an admin's
    `/templates all`: everyone's own templates)."""
    if (given := sent(update)) is None:
        return
    message, user = given
    svc, lang = await visit(update, context)
    found = list_templates(svc.templates_dir)
    items = "\n".join(f"• {tpl.title_for(lang)} ({tpl.id})" for tpl in found)
    public = t(lang, "templates_list", items=items) if found else t(lang, "no_templates")
    everyone = (context.args or [""])[0].lower() == "all" and svc.is_admin(user.id)
    own, keyboard = await own_section(svc, message.chat_id, user.id, everyone, lang)
    await message.reply_text(f"{public}\n\n{own}", reply_markup=keyboard,
                             reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True))


async def status(update: Update, context: BotContext) -> None:
    if (given := sent(update)) is None:
        return
    message, user = given
    svc, lang = await visit(update, context)
    user_id = user.id
    queue = await jobs.queue_length(svc.db)
    pending = await jobs.pending_for_user(svc.db, user_id)
    if pending is None:
        lines = [t(lang, "status_idle", queue=queue)]
    else:
        job, pos = pending
        lines = [t(lang, "status_active", job=job.id, state=state(lang, job.status), pos=pos, queue=queue)]
    recent = [j for j in await jobs.recent_for_user(svc.db, user_id) if pending is None or j.id != pending[0].id]
    if recent:
        lines.append(t(lang, "status_recent", items=", ".join(f"#{j.id} {state(lang, j.status)}" for j in recent)))
    await reply(message, "\n".join(lines))


async def cancel(update: Update, context: BotContext) -> None:
    if (given := sent(update)) is None:
        return
    message, user = given
    svc, lang = await visit(update, context)
    job = await jobs.request_cancel(svc.db, user.id)
    if job is None:
        await reply(message, t(lang, "cancel_none"))
    elif job.status == JobStatus.CANCELLED:
        await reply(message, t(lang, "cancel_queued", job=job.id))
    else:
        if svc.stages is not None:
            svc.stages.cancel(job.id)  # at once here; a worker notices at its next heartbeat
        await reply(message, t(lang, "cancel_running", job=job.id))


async def stats(update: Update, context: BotContext) -> None:
    if (given := sent(update)) is None:
        return
    message, user = given
    svc, lang = await visit(update, context)
    if await refuse_unless_admin(message, user, svc, lang):
        return
    figures = await jobs.stats(svc.db)
    by_status = ", ".join(f"{k} {v}" for k, v in sorted(figures.by_status.items())) or "0"
    avg = f"{figures.average_render_seconds:.1f}s" if figures.average_render_seconds is not None else "-"
    await reply(message, t(lang, "stats", by_status=by_status, avg=avg, queue=figures.queue_length))
