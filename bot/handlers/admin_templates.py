"""/addtemplate <title> (replying to a video, or as its caption) and /deltemplate <id>, admins only;
`/deltemplate #N` removes a user's own template N (listed by `/templates all`).

Both are GPU-side work (preparing a template's motion; never deleting one under a running render),
so each is queued as a job that the render stage runs under its lock.
"""

from __future__ import annotations

import logging
import re

from telegram import Animation, Document, Message, Update, Video

from bot.context import BotContext, Services
from bot.handlers.common import refuse_unless_admin, reply, sent, visit
from engine import list_templates
from i18n.texts import t
from ops import metrics
from pipeline import own_templates
from storage import JobKind, jobs

log = logging.getLogger(__name__)
CAPTION_COMMAND = re.compile(r"^/addtemplate(?:@\w+)?(?:\s+(.*))?$", re.IGNORECASE | re.DOTALL)


def _video_of(message: Message | None) -> tuple[str, str, int | None] | None:
    if message is None:
        return None
    media: Video | Animation | Document | None = message.video or message.animation
    if media is None and message.document and (message.document.mime_type or "").startswith("video/"):
        media = message.document
    return (media.file_id, media.file_unique_id, media.file_size) if media else None


async def add_template(update: Update, context: BotContext) -> None:
    if (given := sent(update)) is None:
        return
    message, user = given
    svc, lang = await visit(update, context)
    if await refuse_unless_admin(message, user, svc, lang):
        return
    source: Message | None  # the video: this message (its caption) or the one it replies to
    if message.caption is not None:
        match = CAPTION_COMMAND.match(message.caption.strip())
        title, source = ((match.group(1) or "").strip() if match else ""), message
    else:
        title, source = " ".join(context.args or []).strip(), message.reply_to_message
    video = _video_of(source)
    if not title or source is None or video is None:
        await reply(message, t(lang, "addtemplate_usage"))
        return
    file_id, unique_id, size = video
    if size is not None and size > svc.settings.limits.max_file_mb * 1024 * 1024:
        await reply(message, t(lang, "too_big", mb=svc.settings.limits.max_file_mb))
        return
    status = await reply(message, t(lang, "addtemplate_queued", title=title))
    new = jobs.NewJob(user_id=user.id, chat_id=message.chat_id, source_message_id=source.message_id,
                      input_file_id=file_id, input_file_unique_id=unique_id, language=lang,
                      template_title=title[:200], kind=JobKind.TEMPLATE_IMPORT, status_message_id=status.message_id)
    await _queue(svc, new, f"template import {title!r}")


async def delete_template(update: Update, context: BotContext) -> None:
    if (given := sent(update)) is None:
        return
    message, user = given
    svc, lang = await visit(update, context)
    if await refuse_unless_admin(message, user, svc, lang):
        return
    wanted = (context.args or [""])[0]
    if not wanted:
        await reply(message, t(lang, "deltemplate_usage"))
        return
    if wanted.startswith("#"):  # a user's template: its row goes now, its folder when nobody uses it
        row_id = wanted[1:]
        row = (await own_templates.delete_one(svc.db, svc.settings, int(row_id), engine=svc.engine)
               if row_id.isdigit() else None)
        await reply(message, t(lang, "own_template_deleted", name=row.name) if row
                    else t(lang, "template_unknown", id=wanted))
        return
    # Only a listed template may go: the id never becomes a path by itself.
    if not any(tpl.id == wanted for tpl in list_templates(svc.templates_dir)):
        await reply(message, t(lang, "template_unknown", id=wanted))
        return
    status = await reply(message, t(lang, "deltemplate_queued", id=wanted))
    new = jobs.NewJob(user_id=user.id, chat_id=message.chat_id, source_message_id=message.message_id,
                      input_file_id="", input_file_unique_id="", language=lang, template_id=wanted,
                      kind=JobKind.TEMPLATE_DELETE, status_message_id=status.message_id)
    await _queue(svc, new, f"delete template {wanted}")


async def _queue(svc: Services, new: jobs.NewJob, what: str) -> None:
    """Template jobs go through the render stage: never beside a running render."""
    job, _ = await jobs.enqueue(svc.db, new, svc.limits_for(new.user_id))
    metrics.job_entered("queued", new.kind)
    log.info("job %s queued: %s", job.id, what)
    svc.dispatch.render(job.id)
