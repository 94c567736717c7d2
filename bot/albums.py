"""A private album (2-9 photos sent together) becomes one grid offer, not one keyboard per photo.

Telegram delivers an album as separate messages sharing a `media_group_id`, within about a second.
The photos are gathered here and, once none has come for ALBUM_QUIET_S (a PTB JobQueue timer,
restarted by each photo), taken as one request: more photos than a grid holds are refused before
anything is downloaded, one flood-control token is spent per photo, each photo is checked and its
faces counted, then one keyboard for the album. A photo without a face is named in the answer; with
one face left the album is offered like a single photo.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

from telegram import Bot, ReplyParameters
from telegram.ext import Job, JobQueue

from bot import intake
from bot.context import BotContext, Services
from bot.photo_ref import PhotoRef
from bot.refusal import Refusal
from i18n.texts import t
from pipeline.keyboards import template_keyboard
from pipeline.own_templates import visible_templates
from storage import offers
from storage.codecs import OfferPhoto
from storage.models import OfferKind

log = logging.getLogger(__name__)

ALBUM_QUIET_S = 1.5  # Telegram sends an album's messages within about a second


@dataclass
class _Album:
    chat_id: int
    user_id: int
    lang: str
    photos: list[PhotoRef] = field(default_factory=list)
    timer: Job[BotContext] | None = None


class AlbumCollector:
    def __init__(self) -> None:
        self._open: dict[tuple[int, str], _Album] = {}

    def add(self, job_queue: JobQueue[BotContext], group_id: str, chat_id: int, user_id: int, lang: str,
            ref: PhotoRef) -> None:
        key = (chat_id, group_id)
        album = self._open.setdefault(key, _Album(chat_id, user_id, lang))
        album.photos.append(ref)
        if album.timer is not None:
            album.timer.schedule_removal()
        album.timer = job_queue.run_once(functools.partial(self._finish, key), ALBUM_QUIET_S,
                                         name=f"album-{chat_id}-{group_id}")

    async def _finish(self, key: tuple[int, str], context: BotContext) -> None:
        album = self._open.pop(key, None)
        if album is None:
            return
        svc = context.bot_data.services
        if svc is None:
            return
        try:
            await offer_album(svc, context.bot, album.chat_id, album.user_id, album.lang,
                              sorted(album.photos, key=lambda r: r.message_id))
        except intake.Ignored:
            return
        except Refusal as refusal:
            first = min(r.message_id for r in album.photos)
            await context.bot.send_message(album.chat_id, refusal.text(album.lang),
                                           reply_parameters=ReplyParameters(first, allow_sending_without_reply=True))


async def offer_album(svc: Services, bot: Bot, chat_id: int, user_id: int, lang: str,
                      photos: list[PhotoRef]) -> None:
    """Check every photo of the album and offer one keyboard for the grid of those with a face."""
    max_tiles = svc.settings.limits.max_tiles
    if len(photos) > max_tiles:  # before any token is spent or any photo downloaded
        raise Refusal("grid_too_many", n=max_tiles)
    position = {ref.message_id: n for n, ref in enumerate(photos, start=1)}  # as the user numbers them
    photos = await intake.admit_album(svc, user_id, chat_id, photos)  # one flood token per photo
    kept: list[tuple[PhotoRef, int]] = []  # each photo with a face, and its number of faces
    faceless: list[int] = []
    for ref in photos:
        try:
            kept.append((ref, await intake.validate(svc, bot, ref)))
        except Refusal as refusal:
            if refusal.key != "no_face":
                raise
            faceless.append(position[ref.message_id])
    if not kept:
        raise Refusal("no_face")
    if len(kept) == 1:  # one face left: an ordinary photo
        only, faces = kept[0]
        await intake.offer(svc, bot, chat_id, only, user_id, lang, faces)
        return
    templates = await visible_templates(svc.db, svc.settings, chat_id, user_id)
    if not templates:
        raise Refusal("no_templates")
    first = photos[0]
    tiles = tuple(OfferPhoto(file_id=ref.file_id, file_unique_id=ref.file_unique_id, message_id=ref.message_id,
                             user_id=user_id, faces=faces) for ref, faces in kept)
    row = await offers.create(svc.db, chat_id=chat_id, owner_id=user_id, photo_message_id=first.message_id,
                              file_id=first.file_id, file_unique_id=first.file_unique_id, kind=OfferKind.ALBUM,
                              photos=tiles)
    text = t(lang, "album_pick", n=len(kept))
    if faceless:
        text += "\n" + t(lang, "album_skipped", photos=", ".join(map(str, faceless)))
    await bot.send_message(chat_id, text, reply_markup=template_keyboard(row.id, templates, lang),
                           reply_parameters=ReplyParameters(first.message_id, allow_sending_without_reply=True))
    log.info("offer %s: an album of %d photo(s) for a grid", row.id, len(kept))
