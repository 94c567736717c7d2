"""Housekeeping: the daily clean-up and the token-masking log filter."""

from __future__ import annotations

import io
import logging
import os
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from bot_helpers import TOKEN

from ops.log_masking import MASK, TokenMaskingFilter
from pipeline.housekeeping import clean_up
from pipeline.paths import render_path, tmp_dir
from settings import load_settings
from storage import Database, jobs, upgrade_to_head, users
from tests import job_steps


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
        video = render_path(data, job.id)
        video.parent.mkdir(parents=True, exist_ok=True)
        video.write_bytes(b"mp4")
        await job_steps.rendered(db, job.id, str(video))
        if n < 2:
            await job_steps.done(db, job.id, f"v{n}")
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


async def test_retention_holds_on_every_host_when_the_clock_moves_on(tmp_path: Path) -> None:
    """The bot's clean-up (rows, and files in the shared data folder) and a worker's (files in its
    own data folder), run at a moment past retention: nothing older is left, on either host;
    conversions, the file_id cache (cached answers) and temp folders included."""
    from sqlalchemy import text

    from pipeline.housekeeping import clean_files
    from storage import offers
    from storage.models import OutputKind, utcnow

    config = tmp_path / "config.toml"
    config.write_text('[storage]\nurl = "sqlite+aiosqlite:///data/bot.db"\ndata_dir = "data"\nretention_days = 7\n')
    settings = load_settings(config, env={})
    worker_config = tmp_path / "worker" / "config.toml"  # another host: the same database, its own data folder
    worker_config.parent.mkdir()
    worker_config.write_text(f'[storage]\nurl = "{settings.storage.url}"\ndata_dir = "data"\nretention_days = 7\n')
    worker = load_settings(worker_config, env={})
    shared, own = settings.storage.data_dir, worker.storage.data_dir
    shared.mkdir()
    db = Database(settings.storage.url)
    await upgrade_to_head(db)
    for user_id in (1, 2, 3):
        await users.touch(db, user_id, "en")
    exempt = jobs.Limits(10, 10, exempt=True)
    video, _ = await jobs.enqueue(db, jobs.NewJob(1, 1, 1, "f1", "u1", template_id="t", result_key="k"), exempt)
    made = render_path(own, video.id)  # rendered on the worker's host ...
    made.parent.mkdir(parents=True)
    made.write_bytes(b"mp4")
    await job_steps.rendered(db, video.id, str(render_path(shared, video.id)))
    render_path(shared, video.id).parent.mkdir(parents=True)
    render_path(shared, video.id).write_bytes(b"mp4")  # ... and kept in the shared folder
    await job_steps.done(db, video.id, "v1")
    gif = await jobs.add(db, jobs.NewJob(1, 1, 1, "f1", "u1", kind="convert", output_kind=OutputKind.GIF,
                                         parent_job_id=video.id, result_key="k"))
    for folder in (shared, own):
        (folder / "conversions").mkdir()
        (folder / "conversions" / f"{gif.id}.mp4").write_bytes(b"gif")
    await job_steps.done(db, gif.id, "g1")
    cached = await jobs.record_cached(db, jobs.NewJob(2, 2, 1, "f1", "u1", template_id="t", result_key="k"),
                                      await jobs.get(db, video.id))
    await job_steps.done(db, cached.id)
    await offers.create(db, chat_id=2, owner_id=2, photo_message_id=1, file_id="f1", file_unique_id="u1")
    active, _ = await jobs.enqueue(db, jobs.NewJob(3, 3, 1, "f3", "u3", template_id="t"), exempt)
    for folder in (shared, own):
        for job_id in (video.id, active.id):
            tmp_dir(folder, job_id).mkdir(parents=True)
            (tmp_dir(folder, job_id) / "photo").write_bytes(b"jpg")
    gone = own / "renders" / "99999.mp4"  # its row was deleted meanwhile (a /forget run by the bot)
    gone.write_bytes(b"mp4")

    # Today: only what no row names any more goes, on the worker's host too
    assert await clean_files(worker, db) == 1 and not gone.exists() and made.exists()

    later = utcnow() + timedelta(days=8)
    deleted, _ = await clean_up(settings, db, now=later)
    await clean_files(worker, db, now=later)

    assert deleted == 3  # the video, its GIF and the cached answer
    async with db.read() as session:
        left = {table: [tuple(r) for r in (await session.execute(text(f"SELECT id FROM {table}"))).all()]
                for table in ("jobs", "offers", "users")}
    assert left == {"jobs": [(active.id,)], "offers": [], "users": [(3,)]}  # user 3 still has a job in line
    for folder in (shared, own):
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.suffix != ".db"
                       and "bot.db" not in p.name)
        assert files == [f"tmp/{active.id}/photo"]  # only the job still in line
    await db.close()
