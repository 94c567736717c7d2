"""How each kind of result is sent to its chat: the video (with the buttons for its other forms),
a round video note, a sticker, a GIF, or a sticker added to the user's own pack.

One Telegram call each, as a reply to the message the job answers; the caller (the delivery
stage) retries and records; the pack is the exception: several calls, each retried inside.
Uploads get [telegram].upload_timeout as read and write timeouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from telegram import Bot, Message, ReplyParameters

from i18n.texts import t
from pipeline.keyboards import result_keyboard
from pipeline.render_choices import caption_notes
from pipeline.retry_policy import RetryPolicy
from pipeline.sticker_pack import EMOJI, add_to_pack
from pipeline.telegram_calls import send_text
from settings import Settings
from storage import Database
from storage.jobs import JobRecord
from storage.models import OutputKind


@dataclass(frozen=True)
class Sent:
    message: Message | None  # None: the pack got the sticker but the note saying so was lost
    file_id: str | None  # what to send next time instead of uploading again


def media_of(job: JobRecord) -> Path | str | None:
    """The job's file on disk, or the file_id of an earlier identical result (the cache)."""
    if job.from_cache:
        return job.result_file_id
    return Path(job.result_path) if job.result_path else None


async def send_result(bot: Bot, db: Database, settings: Settings, job: JobRecord, media: Path | str,
                      policy: RetryPolicy) -> Sent:
    """Send `media` as what the job's output_kind says. Raises PTB's errors; for the pack, its own
    (which already went through the retries: the caller must not repeat an add)."""
    # 0: the chat moved (a group became a supergroup) and the message it answers stayed behind.
    reply = ReplyParameters(job.source_message_id, allow_sending_without_reply=True) if job.source_message_id else None
    upload = settings.telegram.upload_timeout
    title, lang = job.template_title or "", job.language
    kind = OutputKind(job.output_kind)
    duration = max(1, round(job.result_duration)) if job.result_duration else None
    if kind == OutputKind.VIDEO:
        caption = "\n".join([t(lang, "caption", title=title), *caption_notes(job.notes, lang)])
        message = await bot.send_video(
            job.chat_id, media, caption=caption, width=job.result_width, height=job.result_height,
            duration=duration, supports_streaming=True, reply_parameters=reply,
            reply_markup=result_keyboard(job.id, lang), read_timeout=upload, write_timeout=upload)
        return Sent(message, message.video.file_id if message.video else None)
    if kind == OutputKind.NOTE:
        message = await bot.send_video_note(job.chat_id, media, length=job.result_width, duration=duration,
                                            reply_parameters=reply, read_timeout=upload, write_timeout=upload)
        note = message.video_note or message.video  # Telegram shows a non-square file as a video
        return Sent(message, note.file_id if note else None)
    if kind == OutputKind.STICKER:
        message = await bot.send_sticker(job.chat_id, media, emoji=EMOJI, reply_parameters=reply,
                                         read_timeout=upload, write_timeout=upload)
        return Sent(message, message.sticker.file_id if message.sticker else None)
    if kind == OutputKind.GIF:
        message = await bot.send_animation(
            job.chat_id, media, caption=t(lang, "caption", title=title), width=job.result_width,
            height=job.result_height, reply_parameters=reply, read_timeout=upload, write_timeout=upload)
        return Sent(message, message.animation.file_id if message.animation else None)
    if kind == OutputKind.PACK:
        if not isinstance(media, Path):  # a pack takes a file it can upload
            raise ValueError("a sticker for the pack must be a file")
        added = await add_to_pack(bot, db, job.user_id, media, lang, policy)
        notice = await send_text(bot, job.chat_id, t(lang, "pack_added", link=added.link),
                                 job.source_message_id or None, policy)
        return Sent(notice, added.file_id)
    raise ValueError(f"unknown output kind {job.output_kind!r}")
