"""Housekeeping: the daily clean-up and the token-masking log filter."""

from __future__ import annotations

import io
import logging
import os
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from bot.housekeeping import clean_up
from bot.log_masking import MASK, TokenMaskingFilter
from bot.paths import render_path, tmp_dir
from bot_helpers import TOKEN
from settings import load_settings
from storage import Database, jobs, upgrade_to_head, users


async def test_clean_up_removes_old_jobs_renders_and_stale_temp_folders(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[storage]\nurl = "sqlite+aiosqlite:///data/bot.db"\ndata_dir = "data"\nretention_days = 2\n')
    settings = load_settings(config, env={})
    settings.storage.data_dir.mkdir()
    db = Database(settings.storage.url)
    await upgrade_to_head(db)
    await users.touch(db, 1, "en")
    data = settings.storage.data_dir
    ids = []
    for n in range(3):
        job, _ = await jobs.enqueue(db, jobs.NewJob(1, 1, n, f"f{n}", f"u{n}", template_id="t"),
                                    jobs.Limits(10, 10, exempt=True))
        await jobs.claim_render(db, "stage", timedelta(minutes=1))
        video = render_path(data, job.id)
        video.parent.mkdir(parents=True, exist_ok=True)
        video.write_bytes(b"mp4")
        await jobs.hand_over(db, job.id, "stage", path=str(video), width=1, height=1, duration=1, seconds=1)
        if n < 2:
            await jobs.mark_done(db, job.id, f"v{n}")
        ids.append(job.id)
    old_id, new_id, active_id = ids  # the third is still being delivered
    async with db.write() as session:  # the first finished three days ago
        from sqlalchemy import text

        await session.execute(text("UPDATE jobs SET finished_at = datetime('now', '-3 days') WHERE id = :i"),
                              {"i": old_id})
    orphan = data / "renders" / "orphan.mp4"
    orphan.write_bytes(b"x")
    a_day_ago = time.time() - 2 * 86400
    os.utime(orphan, (time.time() - 5 * 86400,) * 2)
    fresh = tmp_dir(data, 999)  # a job claimed after the clean-up read the active ones
    for folder in (tmp_dir(data, old_id), tmp_dir(data, active_id), tmp_dir(data, 998), fresh):
        folder.mkdir(parents=True)
    for folder in (tmp_dir(data, old_id), tmp_dir(data, active_id), tmp_dir(data, 998)):
        os.utime(folder, (a_day_ago, a_day_ago))

    deleted, removed = await clean_up(settings, db)

    assert (deleted, removed) == (1, 2)
    assert await jobs.get(db, old_id) is None and await jobs.get(db, new_id) is not None
    assert not render_path(data, old_id).exists() and not orphan.exists()
    assert render_path(data, new_id).exists() and render_path(data, active_id).exists()
    # Stale folders of finished (or unknown) jobs go; an active job's and a fresh one stay.
    assert not tmp_dir(data, old_id).exists() and not tmp_dir(data, 998).exists()
    assert tmp_dir(data, active_id).exists() and fresh.exists()
    await db.close()


def test_token_is_masked_in_messages_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(TokenMaskingFilter(TOKEN))
    log = logging.getLogger("test.masking")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("POST https://api.telegram.org/bot%s/sendVideo failed", TOKEN)
        log.warning("GET https://api.telegram.org/file/bot%s/photos/1.jpg failed", quote(TOKEN, safe=""))
        try:
            raise RuntimeError(f"connect to /bot{TOKEN}/getUpdates refused")
        except RuntimeError:
            log.exception("polling failed")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert TOKEN not in text and quote(TOKEN, safe="") not in text and TOKEN.split(":")[1] not in text
    assert text.count(MASK) == 3 and "RuntimeError" in text
