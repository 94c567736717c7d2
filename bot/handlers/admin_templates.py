"""/addtemplate <title> (replying to a video, or as its caption) and /deltemplate <id>, admins only.

The import itself is GPU work, so it is queued as a job and runs in the worker like a render.
"""

from __future__ import annotations

import logging
import re
import shutil

from telegram import Message, Update
from telegram.ext import ContextTypes

from bot import metrics
from bot.handlers.common import refuse_unless_admin, reply, visit
from bot.texts import t
from engine import list_templates
from storage import JobKind, jobs

log = logging.getLogger(__name__)
CAPTION_COMMAND = re.compile(r"^/addtemplate(?:@\w+)?(?:\s+(.*))?$", re.IGNORECASE | re.DOTALL)


def _video_of(message: Message | None) -> tuple[str, str, int | None] | None:
    if message is None:
        return None
    media = message.video or message.animation
    if media is None and message.document and (message.document.mime_type or "").startswith("video/"):
        media = message.document
    return (media.file_id, media.file_unique_id, media.file_size) if media else None


async def add_template(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, lang = await visit(update, context)
    message = update.effective_message
    if await refuse_unless_admin(update, svc, lang):
        return
    if message.caption is not None:
        match = CAPTION_COMMAND.match(message.caption.strip())
        title, source = ((match.group(1) or "").strip() if match else ""), message
    else:
        title, source = " ".join(context.args or []).strip(), message.reply_to_message
    video = _video_of(source)
    if not title or video is None:
        await reply(message, t(lang, "addtemplate_usage"))
        return
    file_id, unique_id, size = video
    if size is not None and size > svc.settings.limits.max_file_mb * 1024 * 1024:
        await reply(message, t(lang, "too_big", mb=svc.settings.limits.max_file_mb))
        return
    status = await reply(message, t(lang, "addtemplate_queued", title=title))
    new = jobs.NewJob(user_id=update.effective_user.id, chat_id=message.chat_id, source_message_id=source.message_id,
                      input_file_id=file_id, input_file_unique_id=unique_id, language=lang,
                      template_title=title[:200], kind=JobKind.TEMPLATE_IMPORT, status_message_id=status.message_id)
    job, _ = await jobs.enqueue(svc.db, new, svc.limits_for(update.effective_user.id))
    metrics.JOBS.labels("queued").inc()
    log.info("job %s queued: template import %r", job.id, title)
    svc.worker.wake()


async def delete_template(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, lang = await visit(update, context)
    message = update.effective_message
    if await refuse_unless_admin(update, svc, lang):
        return
    wanted = (context.args or [""])[0]
    if not wanted:
        await reply(message, t(lang, "deltemplate_usage"))
        return
    # Only a listed template's own folder may go: the id never becomes a path by itself.
    match = next((tpl for tpl in list_templates(svc.templates_dir) if tpl.id == wanted), None)
    if match is None:
        await reply(message, t(lang, "template_unknown", id=wanted))
        return
    shutil.rmtree(match.dir)
    log.info("template %s deleted by %s", match.id, update.effective_user.id)
    await reply(message, t(lang, "template_deleted", id=match.id))
