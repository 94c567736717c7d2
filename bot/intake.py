"""From a photo to a queued job: flood control, limits, the file, the keyboard offer, the cache.

The order is the cheap checks first: the per-user flood control and the daily quota come before
anything is downloaded, and downloads, full-size decodes and the face scan (which decodes the photo
as the render will) wait for a free slot, so a burst of 40-megapixel photos never competes with the
render for both cores at once, nor sits in memory waiting for its turn.
Everything a user can get wrong ends here as a Refusal carrying a text key; handlers word it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from telegram import Bot, Message, ReplyParameters
from telegram.error import BadRequest, TelegramError

from bot.context import Services
from bot.flood_control import Verdict
from bot.photo_ref import PhotoRef
from bot.refusal import Refusal
from engine import (
    BadImage,
    EngineState,
    ImageTooLarge,
    ImageTooSmall,
    Template,
    animated_count,
    check_size,
    faces_in_photo,
)
from i18n.texts import t
from ops import metrics
from pipeline.keyboards import template_keyboard
from pipeline.own_templates import visible_templates
from pipeline.render_choices import effective_options, render_choices
from pipeline.result_cache import result_key
from storage import Job, JobKind, Offer, forget, jobs, offers
from storage.codecs import GridInput

log = logging.getLogger(__name__)


class Ignored(Exception):
    """Dropped without an answer (a duplicate, a flood the user was already told about)."""




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


def ensure_engine_usable(svc: Services) -> None:
    if svc.engine is not None and svc.engine.status.state == EngineState.FAILED:
        raise Refusal("engine_down")


def _throttled(verdict: Verdict) -> None:
    """Raise what a refused verdict means: Ignored (silently dropped) or Refusal("slow_down")."""
    if verdict == Verdict.DUPLICATE:
        metrics.PHOTOS_THROTTLED.labels("duplicate").inc()
        raise Ignored()
    metrics.PHOTOS_THROTTLED.labels("flood").inc()
    if verdict == Verdict.THROTTLED:
        raise Ignored()
    raise Refusal("slow_down")


async def admit(svc: Services, user_id: int, chat_id: int, ref: PhotoRef) -> None:
    """Flood control, the renderer's health and the daily quota, before any download."""
    if not svc.is_admin(user_id):
        verdict = svc.flood.check(user_id, chat_id, ref.file_unique_id)
        if verdict != Verdict.ADMIT:
            _throttled(verdict)
    await _may_start(svc, user_id)


async def admit_album(svc: Services, user_id: int, chat_id: int, refs: list[PhotoRef]) -> list[PhotoRef]:
    """admit() for photos sent together: one flood token per photo. Returns the photos to take (a
    photo seen in this chat within the duplicate window is left out)."""
    if not svc.is_admin(user_id):
        verdict, new = svc.flood.check_album(user_id, chat_id, [r.file_unique_id for r in refs])
        if verdict != Verdict.ADMIT:
            _throttled(verdict)
        if len(new) < len(refs):
            metrics.PHOTOS_THROTTLED.labels("duplicate").inc(len(refs) - len(new))
        left = set(new)
        taken = []
        for ref in refs:  # an album may hold the same file twice: taken once
            if ref.file_unique_id in left:
                left.discard(ref.file_unique_id)
                taken.append(ref)
        refs = taken
    await _may_start(svc, user_id)
    return refs


async def _may_start(svc: Services, user_id: int) -> None:
    ensure_engine_usable(svc)
    if await forget.pending(svc.db, user_id):  # what it sends now would outlive the deletion
        raise Refusal("forget_in_progress")
    limits = svc.limits_for(user_id)
    if not limits.exempt and await jobs.used_today(svc.db, user_id) >= limits.daily_quota:
        raise Refusal("quota", n=limits.daily_quota)


def _check_and_count(data: bytes, max_pixels: int, min_side: int, max_side: int) -> int:
    check_size(data, max_pixels, min_side)  # the header first: bombs are refused undecoded
    return len(faces_in_photo(data, max_side))  # decodes once (JPEG at reduced scale), corrupt data refused


async def validate(svc: Services, bot: Bot, ref: PhotoRef) -> int:
    """Size from Telegram's metadata first (bots cannot download over 20 MB), then the image
    header and pixels (decompression bombs are refused before decoding), then its faces: "no
    face" is answered now, not after the queue. Returns how many faces were found."""
    limits = svc.settings.limits
    max_bytes = limits.max_file_mb * 1024 * 1024
    if ref.file_size is not None and ref.file_size > max_bytes:
        raise Refusal("too_big", mb=limits.max_file_mb)
    # The slot is taken before the download: at most decode_slots photos are held in memory at once
    # (a burst of 20 MB files waits in line as file ids, not as bytes).
    async with svc.decode_slots:
        try:
            file = await bot.get_file(ref.file_id)
            data = bytes(await file.download_as_bytearray())
        except BadRequest as err:
            if "too big" in str(err).lower():  # Telegram's own 20 MB refusal, when no size was given
                raise Refusal("too_big", mb=limits.max_file_mb) from err
            log.info("photo %s download failed: %s", ref.file_unique_id, err)
            raise Refusal("download_failed") from err
        except TelegramError as err:  # network, timeouts: ask to resend
            log.info("photo %s download failed: %s", ref.file_unique_id, err)
            raise Refusal("download_failed") from err
        if len(data) > max_bytes:
            raise Refusal("too_big", mb=limits.max_file_mb)
        try:
            faces = await asyncio.to_thread(_check_and_count, data, int(limits.max_megapixels * 1_000_000),
                                            limits.min_side, svc.options.max_side)
        except ImageTooLarge:
            raise Refusal("image_too_large", mp=f"{limits.max_megapixels:g}") from None
        except ImageTooSmall:
            raise Refusal("image_too_small", px=limits.min_side) from None
        except BadImage:
            raise Refusal("bad_image") from None
        finally:
            del data
    if faces == 0:
        raise Refusal("no_face")
    return faces


def offer_text(lang: str, faces: int, max_faces: int) -> str:
    """The keyboard's line: how many faces will sing (only the largest max_faces when there are more)."""
    if faces > max_faces:
        return t(lang, "pick_template_some", n=faces, k=animated_count(faces, max_faces))
    return t(lang, "pick_template" if faces == 1 else "pick_template_all", n=faces)


async def offer(svc: Services, bot: Bot, chat_id: int, ref: PhotoRef, requester: int, lang: str,
                faces: int) -> Message:
    """Record the photo and answer it with one button per template (the owner's own first)."""
    templates = await visible_templates(svc.db, svc.settings, chat_id, requester)
    if not templates:
        raise Refusal("no_templates")
    row = await offers.create(svc.db, chat_id=chat_id, owner_id=requester, photo_message_id=ref.message_id,
                              file_id=ref.file_id, file_unique_id=ref.file_unique_id)
    return await bot.send_message(
        chat_id, offer_text(lang, faces, svc.options.max_faces),
        reply_markup=template_keyboard(row.id, templates, lang),
        reply_parameters=ReplyParameters(ref.message_id, allow_sending_without_reply=True),
    )


async def take_photo(svc: Services, bot: Bot, chat_id: int, ref: PhotoRef, requester: int, lang: str) -> None:
    """A photo to animate arrived: admit, download and check it, offer the keyboard."""
    await admit(svc, requester, chat_id, ref)
    faces = await validate(svc, bot, ref)
    await offer(svc, bot, chat_id, ref, requester, lang, faces)


@dataclass
class Queued:
    job: Job
    position: int


@dataclass
class Cached:
    job: Job


async def request_render(svc: Services, row: Offer, template: Template, lang: str,
                         status_message_id: int | None) -> Queued | Cached:
    """A template was picked: answer from the file_id cache, or queue a render within the limits.
    Raises Refusal for a limit."""
    ensure_engine_usable(svc)
    choices = render_choices(row.clean_background)
    key = await asyncio.to_thread(result_key, template, effective_options(svc.options, choices))
    new = jobs.NewJob(user_id=row.owner_id, chat_id=row.chat_id, source_message_id=row.photo_message_id,
                      input_file_id=row.file_id, input_file_unique_id=row.file_unique_id, language=lang,
                      template_id=template.id, template_title=template.title_for(lang),
                      status_message_id=status_message_id, result_key=key, options=choices)
    source = await jobs.cached_result(svc.db, row.file_unique_id, key)
    if source is not None:
        job = await jobs.record_cached(svc.db, new, source)
        log.info("job %s answered from the file_id cache", job.id)
        svc.dispatch.deliver()
        return Cached(job)
    return await _enqueue(svc, new, lang)


async def _enqueue(svc: Services, new: jobs.NewJob, lang: str) -> Queued:
    try:
        job, position = await jobs.enqueue(svc.db, new, svc.limits_for(new.user_id))
    except jobs.AlreadyActive as err:
        raise Refusal("already_active", job=err.job.id, state=t(lang, f"state_{err.job.status}")) from None
    except jobs.QuotaExceeded as err:
        raise Refusal("quota", n=err.limit) from None
    except jobs.QueueFull:
        raise Refusal("queue_full") from None
    metrics.job_entered("queued", new.kind)
    log.info("job %s queued for user %s (%s, template %s, position %d)", job.id, new.user_id, new.kind,
             new.template_id, position)
    svc.dispatch.render(job.id)
    return Queued(job, position)


async def queue_job(svc: Services, new: jobs.NewJob, lang: str) -> Queued:
    """Queue a render-stage job within the limits (pipeline/own_templates.py's imports). Raises Refusal."""
    return await _enqueue(svc, new, lang)


async def request_grid(svc: Services, row: Offer, template: Template, requester: int, lang: str,
                       status_message_id: int | None, reply_to: int) -> Queued:
    """An album's or a collection's template was picked: one grid job, costing its number of
    photos against the requester's daily quota. Raises Refusal for a limit."""
    ensure_engine_usable(svc)
    photos = offers.photos_of(row)[: svc.settings.limits.max_tiles]
    inputs = tuple(GridInput(file_id=p.file_id, file_unique_id=p.file_unique_id) for p in photos)
    choices = render_choices(row.clean_background)
    key = await asyncio.to_thread(result_key, template, effective_options(svc.options, choices))
    together = hashlib.sha256(":".join(p.file_unique_id for p in inputs).encode()).hexdigest()[:32]
    new = jobs.NewJob(user_id=requester, chat_id=row.chat_id, source_message_id=reply_to,
                      input_file_id=inputs[0].file_id, input_file_unique_id=f"grid-{together}", language=lang,
                      template_id=template.id, template_title=template.title_for(lang),
                      status_message_id=status_message_id, result_key=key, options=choices, kind=JobKind.GRID,
                      cost=len(inputs), inputs=inputs)
    return await _enqueue(svc, new, lang)
