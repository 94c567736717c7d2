"""Users' own templates (/template NAME): what each chat's keyboard shows, which template a job
names, deleting them, and their expiry (the request itself: bot/own_template_intake.py).

The folders live in [user_templates].dir, apart from the public templates, each named by its clip's
content (the first 20 hex digits of its sha256), so the same clip is one folder and one cached
motion whoever sent it; storage.owned_templates keeps who owns which under what name. A job names an
owned template as "@<folder>". A folder is deleted only when no row names it and no active job
uses it (`sweep`): deleting a row never pulls a clip from under a render.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import datetime, timedelta

from engine import Template, TemplateMissing, delete_template, list_templates, load_template
from engine.driving import MotionCache
from engine.hashing import sha256_file
from pipeline.renderer import Renderer
from settings import Settings
from storage import Database, OwnedTemplate, OwnerKind, owned_templates
from storage.models import utcnow
from storage.owned_templates import JOB_PREFIX, Owner

log = logging.getLogger(__name__)
FOLDER_DIGITS = 20


def folder_for(content_sha256: str) -> str:
    return content_sha256[:FOLDER_DIGITS]


def job_template_id(folder: str) -> str:
    return f"{JOB_PREFIX}{folder}"


def load_job_template(settings: Settings, template_id: str) -> Template:
    """The template a job names: a public id, or "@<folder>" for an owned one. Raises TemplateMissing."""
    if template_id.startswith(JOB_PREFIX):
        found = load_template(template_id.removeprefix(JOB_PREFIX), settings.user_templates.dir)
        return dataclasses.replace(found, id=template_id)
    return load_template(template_id, settings.templates.dir)


def _as_template(settings: Settings, row: OwnedTemplate) -> Template | None:
    try:
        found = load_job_template(settings, job_template_id(row.folder))
    except TemplateMissing:
        return None
    return dataclasses.replace(found, title=row.name, title_zh=None, title_en=None)


async def visible_templates(db: Database, settings: Settings, chat_id: int, user_id: int) -> list[Template]:
    """What a keyboard in this chat offers this user: the owner's own templates first (in a
    private chat the user's, in a group the group's), then the public ones."""
    rows = await owned_templates.for_owner(db, Owner.of_chat(chat_id, user_id))
    own = [tpl for tpl in (_as_template(settings, row) for row in rows) if tpl is not None]
    return own + list_templates(settings.templates.dir)


async def used(db: Database, chat_id: int, user_id: int, template: Template) -> None:
    """A render of an owned template was asked for: it does not expire for another while."""
    if template.id.startswith(JOB_PREFIX):
        await owned_templates.touch(db, Owner.of_chat(chat_id, user_id), template.id.removeprefix(JOB_PREFIX))


# --- deleting -----------------------------------------------------------------------------------
def may_delete(row: OwnedTemplate, user_id: int, is_admin: bool) -> bool:
    """The user who owns it, in a group the member who made it, or an admin."""
    if is_admin:
        return True
    if row.owner_kind == OwnerKind.USER:
        return row.owner_id == user_id
    return row.created_by == user_id


async def sweep(db: Database, settings: Settings, engine: Renderer | None = None) -> int:
    """Delete the folders (and cached motion) no row names and no active job uses; returns how
    many went. Idempotent."""
    keep = await owned_templates.folders_in_use(db)
    root = settings.user_templates.dir

    def remove() -> int:
        unused = [tpl for tpl in list_templates(root) if tpl.id not in keep]
        # The motion cache is keyed by the video's content: a public template of the same clip keeps it.
        public = {sha256_file(tpl.video) for tpl in list_templates(settings.templates.dir)} if unused else set()
        removed = 0
        for template in unused:
            try:
                if sha256_file(template.video) not in public:
                    if engine is not None:
                        engine.forget_template(template)  # its motion in memory and on disk
                    else:
                        MotionCache(settings.engine.cache_dir).remove_video(template.video)
                delete_template(template)
            except OSError as err:  # another sweep (another process) took it first
                log.info("user template %s not removed here: %s", template.id, err)
                continue
            removed += 1
        return removed

    removed = await asyncio.to_thread(remove)
    if removed:
        log.info("%d unused user template folder(s) removed", removed)
    return removed


async def delete_one(db: Database, settings: Settings, row_id: int,
                     engine: Renderer | None = None) -> OwnedTemplate | None:
    """Delete one owned template (its row at once; its folder when nobody else has the clip)."""
    row = await owned_templates.remove(db, row_id)
    if row is not None:
        await sweep(db, settings, engine=engine)
    return row


async def delete_owner_templates(db: Database, settings: Settings, owner: Owner, engine: Renderer | None = None) -> int:
    """Forget everything `owner` (a user, or a group) made: their rows, and every folder and cached
    motion nobody else owns. Idempotent; returns how many templates were theirs. A folder an active
    job still renders from stays until the next daily clean-up."""
    folders = await owned_templates.remove_owner(db, owner)
    await sweep(db, settings, engine=engine)
    return len(folders)


async def expire(db: Database, settings: Settings, now: datetime | None = None) -> int:
    """Delete templates unused for [user_templates].expire_days, and their files; returns how many."""
    since = (now or utcnow()) - timedelta(days=settings.user_templates.expire_days)
    folders = await owned_templates.expire(db, since)
    await sweep(db, settings)
    if folders:
        log.info("%d user template(s) unused since %s expired", len(folders), since.isoformat(timespec="minutes"))
    return len(folders)
