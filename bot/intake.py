"""From a photo to a queued job: which file, is it usable, the keyboard offer, limits, the cache.

Everything a user can get wrong ends here as a Refusal carrying a text key; handlers word it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from telegram import Bot, Message, ReplyParameters
from telegram.error import BadRequest

from bot import metrics
from bot.keyboards import template_keyboard
from bot.services import Services
from bot.texts import t
from engine import BadImage, ImageTooLarge, ImageTooSmall, Template, check_image, list_templates
from settings import LimitsSettings
from storage import Offer, jobs, offers

log = logging.getLogger(__name__)


class Refusal(Exception):
    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values

    def text(self, lang: str) -> str:
        return t(lang, self.key, **self.values)


@dataclass(frozen=True)
class PhotoRef:
    message_id: int
    file_id: str
    file_unique_id: str
    file_size: int | None


def photo_of(message: Message) -> PhotoRef | None:
    """The image in a message (the largest photo size, or an image document); None if it has none.
    Raises Refusal('not_image') for a document that is not an image."""
    if message.photo:
        size = message.photo[-1]  # Telegram lists sizes smallest first
        return PhotoRef(message.message_id, size.file_id, size.file_unique_id, size.file_size)
    doc = message.document
    if doc is not None:
        if not (doc.mime_type or "").startswith("image/"):
            raise Refusal("not_image")
        return PhotoRef(message.message_id, doc.file_id, doc.file_unique_id, doc.file_size)
    return None


async def validate(bot: Bot, ref: PhotoRef, limits: LimitsSettings) -> None:
    """Size from Telegram's metadata first (bots cannot download over 20 MB), then the image
    header and pixels (decompression bombs are refused before decoding)."""
    max_bytes = limits.max_file_mb * 1024 * 1024
    if ref.file_size is not None and ref.file_size > max_bytes:
        raise Refusal("too_big", mb=limits.max_file_mb)
    try:
        file = await bot.get_file(ref.file_id)
        data = bytes(await file.download_as_bytearray())
    except BadRequest as err:
        if "too big" in str(err).lower():  # Telegram's own 20 MB refusal, when no size was given
            raise Refusal("too_big", mb=limits.max_file_mb) from err
        log.info("photo %s download failed: %s", ref.file_unique_id, err)
        raise Refusal("download_failed") from err
    except Exception as err:  # any Telegram or network failure: ask to resend
        log.info("photo %s download failed: %s", ref.file_unique_id, err)
        raise Refusal("download_failed") from err
    if len(data) > max_bytes:
        raise Refusal("too_big", mb=limits.max_file_mb)
    try:
        await asyncio.to_thread(check_image, data, int(limits.max_megapixels * 1_000_000), limits.min_side)
    except ImageTooLarge:
        raise Refusal("image_too_large", mp=f"{limits.max_megapixels:g}") from None
    except ImageTooSmall:
        raise Refusal("image_too_small", px=limits.min_side) from None
    except BadImage:
        raise Refusal("bad_image") from None


async def offer(svc: Services, bot: Bot, chat_id: int, ref: PhotoRef, requester: int, lang: str) -> Message:
    """Record the photo and answer it with one button per template."""
    templates = list_templates(svc.templates_dir)
    if not templates:
        raise Refusal("no_templates")
    row = await offers.create(svc.db, chat_id=chat_id, owner_id=requester, photo_message_id=ref.message_id,
                              file_id=ref.file_id, file_unique_id=ref.file_unique_id)
    return await bot.send_message(
        chat_id, t(lang, "pick_template"), reply_markup=template_keyboard(row.id, templates, lang),
        reply_parameters=ReplyParameters(ref.message_id, allow_sending_without_reply=True),
    )


@dataclass
class Queued:
    job: jobs.Job
    position: int


@dataclass
class Cached:
    job: jobs.Job
    file_id: str


@dataclass
class Outcome:
    queued: Queued | None = None
    cached: Cached | None = None
    refusal: Refusal | None = field(default=None)


async def request_render(svc: Services, row: Offer, template: Template, lang: str,
                         status_message_id: int | None) -> Outcome:
    """A template was picked: answer from the file_id cache, or queue a render within the limits."""
    new = jobs.NewJob(user_id=row.owner_id, chat_id=row.chat_id, source_message_id=row.photo_message_id,
                      input_file_id=row.file_id, input_file_unique_id=row.file_unique_id, language=lang,
                      template_id=template.id, status_message_id=status_message_id)
    cached = await jobs.cached_result(svc.db, row.file_unique_id, template.id)
    if cached is not None:
        return Outcome(cached=Cached(await jobs.record_cached(svc.db, new, cached), cached))
    try:
        job, position = await jobs.enqueue(svc.db, new, svc.limits_for(row.owner_id))
    except jobs.AlreadyActive as err:
        return Outcome(refusal=Refusal("already_active", job=err.job.id, state=t(lang, f"state_{err.job.status}")))
    except jobs.QuotaExceeded as err:
        return Outcome(refusal=Refusal("quota", n=err.limit))
    except jobs.QueueFull:
        return Outcome(refusal=Refusal("queue_full"))
    metrics.JOBS.labels("queued").inc()
    log.info("job %s queued for user %s (template %s, position %d)", job.id, row.owner_id, template.id, position)
    return Outcome(queued=Queued(job, position))
