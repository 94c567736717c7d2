"""Daily clean-up: rows past storage.retention_days (PTB JobQueue on the bot), users' own templates
unused for [user_templates].expire_days (with their folders and motion: pipeline/own_templates.py), and
the files of one host's data folder (the bot's, and every worker's own: worker/runtime.py runs
`clean_files` too).

Files go when a row no longer names them: a render, note, sticker or GIF named by a job id with no
row (deleted by retention here, or by a /forget, whichever host ran it), or any other file in those
folders past retention that no row names. A temp folder is removed only when its job is not active
and the folder has not been touched for a day: the database says which jobs are active *now*, and a
job claimed just after that reading has a fresh folder (the render stage recreates it at the claim),
so the running job's files are never pulled from under it.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from pipeline import own_templates
from pipeline.paths import conversions_dir, job_id_of, renders_dir
from settings import Settings
from storage import Database, jobs
from storage.cleanup import kept_files, purge_before
from storage.models import utcnow

log = logging.getLogger(__name__)
STALE_TMP = timedelta(days=1)


async def clean_up(settings: Settings, db: Database, now: datetime | None = None) -> tuple[int, int]:
    """Rows and this host's files past retention (`now`: naive UTC, a test moves it). Returns (job
    rows deleted, files deleted)."""
    now = now or utcnow()
    days = settings.storage.retention_days
    deleted_rows, paths = await purge_before(db, now - timedelta(days=days))
    removed = sum(remove_file(Path(path)) for path in paths)
    removed += await clean_files(settings, db, now)
    await own_templates.expire(db, settings, now)
    log.info("clean-up: %d finished job(s) and %d file(s) older than %d day(s) removed", deleted_rows, removed, days)
    return deleted_rows, removed


async def clean_files(settings: Settings, db: Database, now: datetime | None = None) -> int:
    """The file side alone, for this host's data folder; returns how many files went."""
    now = now or utcnow()
    data = settings.storage.data_dir
    cutoff = _epoch(now - timedelta(days=settings.storage.retention_days))
    ids, named = await kept_files(db)
    removed = 0
    for folder in (renders_dir(data), conversions_dir(data)):
        if not folder.is_dir():
            continue
        for kept in folder.iterdir():
            if not kept.is_file() or str(kept) in named:
                continue
            job_id = job_id_of(kept)
            if (job_id is not None and job_id not in ids) or kept.stat().st_mtime < cutoff:
                removed += remove_file(kept)
    tmp = data / "tmp"
    if tmp.is_dir():
        active = {str(i) for i in await jobs.active_job_ids(db)}
        stale = _epoch(now - STALE_TMP)
        for folder in tmp.iterdir():
            if folder.name in active:
                continue
            try:
                if folder.stat().st_mtime > stale:
                    continue
            except OSError:
                continue
            removed += sum(1 for f in folder.rglob("*") if f.is_file())
            shutil.rmtree(folder, ignore_errors=True)
    return removed


def _epoch(naive_utc: datetime) -> float:
    return (naive_utc - datetime(1970, 1, 1)).total_seconds()


def remove_file(path: Path) -> int:
    """1 when the file was there and is gone, 0 otherwise (a failure is logged)."""
    try:
        path.unlink()
        return 1
    except FileNotFoundError:
        return 0
    except OSError as err:
        log.warning("cannot remove %s: %s", path, err)
        return 0

