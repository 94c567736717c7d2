"""Daily clean-up (PTB JobQueue): finished job rows and rendered videos past storage.retention_days,
temp folders nobody works in any more, and users' own templates unused for
[user_templates].expire_days (with their folders and motion: bot/own_templates.py).

A temp folder is removed only when its job is not active and the folder has not been touched for a
day: the database says which jobs are active *now*, and a job claimed just after that reading has
a fresh folder (the render stage recreates it at the claim), so the running job's files are never
pulled from under it.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from bot import own_templates
from bot.context import BotContext, services
from bot.paths import conversions_dir, renders_dir
from settings import Settings
from storage import Database, jobs
from storage.cleanup import purge_before

log = logging.getLogger(__name__)
STALE_TMP_S = 86400.0


async def clean_up(settings: Settings, db: Database) -> tuple[int, int]:
    """Returns (job rows deleted, files deleted)."""
    days = settings.storage.retention_days
    deleted_rows, paths = await purge_before(db, jobs.older_than(days))
    removed = 0
    for path in paths:
        try:
            Path(path).unlink(missing_ok=True)
            removed += 1
        except OSError as err:
            log.warning("cannot remove %s: %s", path, err)
    now = time.time()
    cutoff = now - days * 86400
    for folder in (renders_dir(settings.storage.data_dir), conversions_dir(settings.storage.data_dir)):
        if not folder.is_dir():
            continue
        for kept in folder.iterdir():
            if kept.is_file() and kept.stat().st_mtime < cutoff:  # its row is gone (or never was)
                kept.unlink(missing_ok=True)
                removed += 1
    tmp = settings.storage.data_dir / "tmp"
    if tmp.is_dir():
        active = {str(i) for i in await jobs.active_job_ids(db)}
        for folder in tmp.iterdir():
            if folder.name in active:
                continue
            try:
                if folder.stat().st_mtime > now - STALE_TMP_S:
                    continue
            except OSError:
                continue
            shutil.rmtree(folder, ignore_errors=True)
    await own_templates.expire(db, settings)
    log.info("clean-up: %d finished job(s) and %d file(s) older than %d day(s) removed", deleted_rows, removed, days)
    return deleted_rows, removed


async def daily_clean_up(context: BotContext) -> None:
    svc = services(context)
    await clean_up(svc.settings, svc.db)
