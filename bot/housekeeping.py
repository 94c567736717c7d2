"""Daily clean-up (PTB JobQueue): finished job rows and rendered videos past storage.retention_days,
and any temp folder no running job owns."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from telegram.ext import ContextTypes

from bot.paths import renders_dir
from bot.services import services
from settings import Settings
from storage import Database
from storage.cleanup import purge_before
from storage.jobs import older_than

log = logging.getLogger(__name__)


async def clean_up(settings: Settings, db: Database, running_job_id: int | None) -> tuple[int, int]:
    """Returns (job rows deleted, files deleted)."""
    days = settings.storage.retention_days
    deleted_rows, paths = await purge_before(db, older_than(days))
    removed = 0
    for path in paths:
        try:
            Path(path).unlink(missing_ok=True)
            removed += 1
        except OSError as err:
            log.warning("cannot remove %s: %s", path, err)
    cutoff = time.time() - days * 86400
    renders = renders_dir(settings.storage.data_dir)
    if renders.is_dir():
        for video in renders.glob("*.mp4"):
            if video.stat().st_mtime < cutoff:  # a render whose row is gone (or never was)
                video.unlink(missing_ok=True)
                removed += 1
    tmp = settings.storage.data_dir / "tmp"
    if tmp.is_dir():
        for folder in tmp.iterdir():
            if folder.name != str(running_job_id):
                shutil.rmtree(folder, ignore_errors=True)
    log.info("clean-up: %d finished job(s) and %d file(s) older than %d day(s) removed", deleted_rows, removed, days)
    return deleted_rows, removed


async def daily_clean_up(context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    await clean_up(svc.settings, svc.db, svc.worker.current_job_id)
