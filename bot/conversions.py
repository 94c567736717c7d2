"""From a press under a video to a conversion job (or an answer from the cache).

Each user has one conversion on its way at a time, and their presses of these buttons go through a
token bucket (bot/flood_control.py's PressLimit): the conversion stage has few slots (one by
default) shared by everyone, so one user pressing every button of every video cannot fill it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bot.context import Services
from bot.refusal import Refusal
from engine import OutputKind
from ops import metrics
from storage import JobKind, forget, jobs

log = logging.getLogger(__name__)


async def request(svc: Services, video_job_id: int, kind: OutputKind, presser: int, chat_id: int,
                  lang: str) -> None:
    """Queue `kind` made from the video of job `video_job_id`, pressed by `presser` in `chat_id`.
    Raises Refusal with a text key: not theirs, expired, already on its way, another of theirs on its
    way, too many presses, being forgotten."""
    if not svc.is_admin(presser) and not svc.conversion_presses.allow(presser):
        raise Refusal("conversion_slow_down")
    async with svc.conversion_users.hold(presser):  # two quick presses: the second sees the first's job
        await _request(svc, video_job_id, kind, presser, chat_id, lang)


async def _request(svc: Services, video_job_id: int, kind: OutputKind, presser: int, chat_id: int,
                   lang: str) -> None:
    video = await jobs.get(svc.db, video_job_id)
    if video is None or video.chat_id != chat_id:
        raise Refusal("offer_expired")
    if video.user_id != presser:
        raise Refusal("not_yours")
    if await forget.pending(svc.db, presser):  # it would outlive the deletion under way
        raise Refusal("forget_in_progress")
    if await jobs.active_conversion(svc.db, video.id, kind) is not None:
        raise Refusal("conversion_on_its_way")
    if not svc.is_admin(presser) and await jobs.active_conversions_of(svc.db, presser) > 0:
        raise Refusal("conversion_one_at_a_time")
    new = jobs.NewJob(user_id=presser, chat_id=chat_id, source_message_id=video.source_message_id,
                      input_file_id=video.input_file_id, input_file_unique_id=video.input_file_unique_id,
                      language=lang, template_id=video.template_id, template_title=video.template_title,
                      kind=JobKind.CONVERT, result_key=video.result_key, output_kind=kind, parent_job_id=video.id,
                      cost=0)
    # The same sticker (note, GIF) of the same photo and template content, sent before: its
    # file_id. A pack needs the file itself, so it is always made.
    source = None if kind == OutputKind.PACK else await jobs.cached_result(
        svc.db, video.input_file_unique_id, video.result_key or "", kind)
    if source is not None:
        job = await jobs.record_cached(svc.db, new, source)
        log.info("job %s: %s of job %s answered from the file_id cache", job.id, kind, video.id)
        svc.dispatch.deliver()
        return
    if video.result_path is None or not Path(video.result_path).is_file():  # past retention
        raise Refusal("render_expired")
    job = await jobs.add(svc.db, new)  # no queue cap or quota: ffmpeg only, seconds, beside renders
    metrics.job_entered("queued", job.kind)
    log.info("job %s queued: %s of job %s", job.id, kind, video.id)
    svc.dispatch.convert(job.id)
