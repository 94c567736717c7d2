"""Start-up recovery in-process: jobs a crash left 'delivering' (rendered, or answered from the
file_id cache, not yet confirmed sent) are sent on the next start without rendering again."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from bot_helpers import eventually, jobs_rows, running_bot

from ops.metrics import REGISTRY
from pipeline.paths import render_path
from storage import Database, Job, jobs, upgrade_to_head, users
from tests import job_steps
from tests.fake_telegram import FakeTelegram

LEASE = timedelta(hours=1)  # the dead run's leases had not expired: only the start-up releases them


async def test_rendered_but_unsent_job_is_sent_on_start_without_rendering(
        tg: FakeTelegram, make_settings, fake_engine, templates_root: Path) -> None:
    settings = make_settings()
    ann = tg.user(language_code="en")
    dm = tg.private_chat(ann)
    ben = tg.user(language_code="en")
    dm_b = tg.private_chat(ben)
    photo = tg.send_photo(ann, dm, _png())
    earlier = tg.send_video(ben, dm_b, (templates_root / "short" / "video.mp4").read_bytes())  # a known file_id
    tg.state.updates.clear()  # the previous run had already taken these updates

    settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.storage.url)  # what the previous run left behind
    await upgrade_to_head(db)
    await users.touch(db, ann["id"], "en")
    job, _ = await jobs.enqueue(db, jobs.NewJob(ann["id"], dm["id"], photo["message_id"], "f", "u", "en", "short",
                                                template_title="Short"), jobs.Limits(10, 10))
    video = render_path(settings.storage.data_dir, job.id, "claim")
    video.parent.mkdir(parents=True)
    shutil.copyfile(templates_root / "short" / "video.mp4", video)
    await job_steps.rendered(db, job.id, str(video), "dead-run", width=256, height=256, duration=0.2, seconds=3.0)
    assert await jobs.claim_delivery(db, "dead-run", LEASE, max_attempts=5) is not None  # it was being sent
    # ... and an answer from the file_id cache that was being sent when the process died.
    await users.touch(db, ben["id"], "en")
    cached_id = earlier["video"]["file_id"]
    source = Job(result_file_id=cached_id, result_width=256, result_height=256, result_duration=0.2)
    await jobs.record_cached(db, jobs.NewJob(ben["id"], dm_b["id"], 1, "f2", "u2", "en", "short",
                                             template_title="Short"), source)
    await db.close()

    renders_before = REGISTRY.get_sample_value("yahey_render_seconds_count")
    async with running_bot(settings, fake_engine):
        sent = await tg.wait_for("sendVideo", 60, where=lambda c: c.ok and c.params["chat_id"] == dm["id"])
        resent = await tg.wait_for("sendVideo", 60, where=lambda c: c.ok and c.params["chat_id"] == dm_b["id"])
        await eventually(lambda: [r["status"] for r in jobs_rows(settings)] == ["done", "done"], what="done")
    assert sent.files["video"] == video.read_bytes()
    assert sent.params["reply_parameters"]["message_id"] == photo["message_id"]
    assert REGISTRY.get_sample_value("yahey_render_seconds_count") == renders_before
    assert "Short" in sent.params["caption"]
    assert resent.params["video"] == cached_id and resent.files == {}
    assert len(tg.calls_to("sendVideo")) == 2
    assert not tg.calls_to("getFile")  # nothing downloaded: nothing rendered


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (300, 300), 90).save(buf, "PNG")
    return buf.getvalue()
