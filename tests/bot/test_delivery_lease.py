"""The delivery stage against the fake Bot API, without an engine: a send that outlives the
delivery lease is renewed by its heartbeat and sent once; idle stages do not poll the database
while a send is under way; an unexpected error after Telegram accepted a video is bounded."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from bot_helpers import TOKEN, eventually, write_config
from telegram.ext import ExtBot

from pipeline.bot_api import bot_api_requests
from pipeline.delivery_stage import DeliveryStage
from pipeline.tuning import Tuning
from settings import Settings, load_settings
from storage import Database, JobStatus, jobs, upgrade_to_head, users
from tests import job_steps
from tests.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(180)
# Heartbeats scaled down with the leases (production: every 10 s for leases of 120-900 s).
TUNING = Tuning(status_interval=0.2, idle_poll=60.0, heartbeat=0.3)


def settings_for(tmp_path: Path, tg: FakeTelegram, **sections: dict[str, Any]) -> Settings:
    path = write_config(tmp_path / "config.toml", tg, tmp_path / "no-checkpoint", tmp_path / "templates",
                        tmp_path / "cache", **sections)
    return load_settings(path, env={})


@pytest.fixture
async def world(tg: FakeTelegram, tmp_path: Path, templates_root: Path) -> AsyncIterator[Callable[..., Any]]:
    """Builds (settings, db, bot, a rendered job's id) for a test; closes them afterwards."""
    opened: list[Any] = []

    async def make(**sections: dict[str, Any]) -> tuple[Settings, Database, ExtBot[None], int, dict[str, Any]]:
        settings = settings_for(tmp_path, tg, **sections)
        settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.storage.url)
        await upgrade_to_head(db)
        user = tg.user(language_code="en")
        dm = tg.private_chat(user)
        await users.touch(db, user["id"], "en")
        job, _ = await jobs.enqueue(db, jobs.NewJob(user["id"], dm["id"], 0, "f", "u", "en", "short",
                                                    template_title="Short"), jobs.Limits(10, 10))
        video = settings.storage.data_dir / f"{job.id}.mp4"
        shutil.copyfile(templates_root / "short" / "video.mp4", video)
        await job_steps.rendered(db, job.id, str(video), width=256, height=256, duration=0.2)
        request, _ = bot_api_requests(settings.telegram, connection_pool_size=16)  # as a worker's sender
        bot: ExtBot[None] = ExtBot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url, request=request)
        await bot.initialize()
        opened.extend([db, bot])
        return settings, db, bot, job.id, dm

    yield make
    for thing in reversed(opened):
        await (thing.shutdown() if isinstance(thing, ExtBot) else thing.close())


async def lease_until(db: Database, job_id: int) -> Any:
    record = await jobs.get(db, job_id)
    assert record is not None
    return record.lease_until


@pytest.mark.parametrize(("lease", "tuning"), [
    (2.0, TUNING),  # scaled by 10: the answer after > 5 s
    (20.0, Tuning(status_interval=0.2, idle_poll=60.0)),  # as the issue says, production heartbeat
], ids=["scaled", "20s-lease-answer-after-50s"])
async def test_a_send_answered_after_2_5_leases_is_sent_once_and_idle_slots_do_not_poll(
        tg: FakeTelegram, world: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, lease: float,
        tuning: Tuning) -> None:
    # A send whose answer comes 2.5 leases late (a 20 s lease and an answer after 50 s).
    settings, db, bot, job_id, dm = await world(queue={"delivery_lease_seconds": lease},
                                                limits={"deliveries_at_once": 3})
    # Parked once (waited for Telegram): its next_attempt_at lies in the past once claimed, which
    # made every free slot claim in a loop before it was cleared at claim.
    parked = await job_steps.claim(db, job_id)
    assert await jobs.reschedule_delivery(db, parked, 0.0, "Timed out")
    claims = 0
    real_claim = jobs.claim_delivery

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal claims
        claims += 1
        return await real_claim(*args, **kwargs)

    monkeypatch.setattr(jobs, "claim_delivery", counted)
    answer = tg.hold_answer_next("sendVideo")  # Telegram has the video; its answer is late
    stage = DeliveryStage(bot=bot, db=db, settings=settings, tuning=tuning, owner="one-box")
    # Another host's delivery stage, which takes over any lease it sees expire.
    other = DeliveryStage(bot=bot, db=db, settings=settings, tuning=tuning, owner="other-host")
    stage.start()
    try:
        await answer.reached(60)
        other.start()
        first = await lease_until(db, job_id)
        claims_when_sending = claims
        # Wait (on events, not a fixed sleep) until the send has outlived 2.5 leases: its lease, on
        # the database's clock, has been renewed that far beyond where it began.
        target = first.timestamp() + 2.5 * settings.queue.delivery_lease_seconds

        async def renewed_far() -> bool:
            return (await lease_until(db, job_id)).timestamp() >= target

        await eventually(renewed_far, 150, "the lease renewed 2.5 leases on")
        # Each free slot looked once, then slept until a wake-up or the lease's end (the other
        # host: about once per lease): no claim loop while the send lasts.
        assert claims - claims_when_sending <= 2 * settings.limits.deliveries_at_once + 4
        assert answer.waiting == 1  # nobody took the job over to upload it again
        answer.release()
        await eventually(lambda: tg.calls_to("sendVideo") and True, 30, "the answer")

        async def done() -> bool:
            record = await jobs.get(db, job_id)
            return record is not None and record.status == JobStatus.DONE

        await eventually(done, 30, "the job recorded done")
    finally:
        await asyncio.gather(stage.stop(), other.stop())
    assert len(tg.calls_to("sendVideo")) == 1
    assert len([m for m in tg.messages_in(dm["id"]) if "video" in m]) == 1


async def test_an_error_after_telegram_accepted_the_video_is_not_resent_for_ever(
        tg: FakeTelegram, world: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # The commit after Telegram's answer fails every time (the database write in mark_done).
    settings, db, bot, job_id, dm = await world(limits={"max_delivery_attempts": 2})

    async def broken(*args: Any, **kwargs: Any) -> bool:
        raise OSError("disk full")

    monkeypatch.setattr(jobs, "mark_done", broken)
    tuning = Tuning(status_interval=0.2, idle_poll=60.0, heartbeat=0.3,
                    retry=Tuning().retry.__class__(immediate_base_s=0.01, park_base_s=0.1, park_cap_s=0.2))
    stage = DeliveryStage(bot=bot, db=db, settings=settings, tuning=tuning, owner="one-box")
    stage.start()
    try:
        async def failed() -> bool:
            record = await jobs.get(db, job_id)
            return record is not None and record.status == JobStatus.FAILED

        await eventually(failed, 60, "the job failed after max_delivery_attempts")
    finally:
        await stage.stop()
    assert len(tg.calls_to("sendVideo")) == 2  # max_delivery_attempts, then a notice
    await eventually(lambda: any("could not be sent" in (m.get("text") or "") for m in tg.messages_in(dm["id"])),
                     10, "the failure notice")
