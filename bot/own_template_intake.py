"""A user's /template NAME, before the download: the name, the clip's size and length from
Telegram's metadata, the owner's count and the daily quota are checked, then the import is queued
as a render-stage job (pipeline/template_jobs.py runs it). Everything a user can get wrong is
a Refusal (bot/refusal.py)."""

from __future__ import annotations

from dataclasses import dataclass

from bot import intake
from bot.context import Services
from bot.refusal import Refusal
from storage import JobKind, jobs, owned_templates
from storage.owned_templates import Owner


@dataclass(frozen=True)
class Clip:
    message_id: int
    file_id: str
    file_unique_id: str
    file_size: int | None
    duration: float | None


def clean_name(raw: str, max_chars: int) -> str | None:
    """The template's name as shown on its button: one line of 1..max_chars printable characters."""
    name = " ".join(raw.split())
    if not name or len(name) > max_chars or not name.isprintable():
        return None
    return name


async def check_request(svc: Services, chat_id: int, user_id: int, clip: Clip, raw_name: str) -> str:
    """The name to import the clip under, when the name, the clip's size and length (Telegram's
    metadata), the owner's count and the daily quota allow it. Raises Refusal."""
    cfg = svc.settings.user_templates
    name = clean_name(raw_name, cfg.max_name)
    if name is None:
        raise Refusal("own_template_bad_name", n=cfg.max_name)
    if clip.file_size is not None and clip.file_size > cfg.max_mb * 1024 * 1024:
        raise Refusal("own_template_too_large", mb=cfg.max_mb)
    if clip.duration is not None and clip.duration > cfg.max_seconds:
        raise Refusal("own_template_too_long", s=f"{cfg.max_seconds:g}")
    owner = Owner.of_chat(chat_id, user_id)
    if await owned_templates.name_taken(svc.db, owner, name):
        raise Refusal("own_template_name_taken", name=name)
    if await owned_templates.count(svc.db, owner) >= cfg.per_owner:
        raise Refusal("own_template_too_many", n=cfg.per_owner)
    limits = svc.limits_for(user_id)  # an import costs one render of the day
    if not limits.exempt and await jobs.used_today(svc.db, user_id) >= limits.daily_quota:
        raise Refusal("quota", n=limits.daily_quota)
    intake.ensure_engine_usable(svc)
    return name


async def queue_import(svc: Services, chat_id: int, user_id: int, clip: Clip, name: str, lang: str,
                       status_message_id: int | None) -> intake.Queued:
    """Queue the import as a render-stage job, within the daily quota (an import costs one render)
    and the one-job-in-line rule. Raises Refusal."""
    new = jobs.NewJob(user_id=user_id, chat_id=chat_id, source_message_id=clip.message_id,
                      input_file_id=clip.file_id, input_file_unique_id=clip.file_unique_id, language=lang,
                      template_title=name, kind=JobKind.OWN_TEMPLATE, status_message_id=status_message_id)
    return await intake.queue_job(svc, new, lang)
