"""What an operator sees on /metrics after renders through the real bot (PTB over HTTP against the
fake Bot API, the real engine held at a gate): process metrics, the queue counted at scrape, jobs by
kind, time in line and photo to video; and /healthz in queue mode naming a broker that is down."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import aiohttp
from bot_helpers import eventually, first_button, free_port, keyboard_for, running_bot
from prometheus_client.parser import text_string_to_metric_families

from tests.fake_engine import Gate
from tests.fake_telegram import FakeTelegram


async def scrape(http: aiohttp.ClientSession, port: int) -> dict[tuple[str, tuple], float]:
    async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_after_renders_metrics_show_the_process_the_queue_jobs_by_kind_and_both_waits(
        tg: FakeTelegram, make_settings, fake_engine, face_photo: Path) -> None:
    port = free_port()
    gate = Gate()
    async with running_bot(make_settings(http={"port": port}), fake_engine.gated(gate)), \
            aiohttp.ClientSession() as http:
        before = await scrape(http, port)
        ann, bob = tg.user(first_name="Ann"), tg.user(first_name="Bob")
        chats = [tg.private_chat(ann), tg.private_chat(bob)]
        for user, chat in zip((ann, bob), chats, strict=False):
            mark = tg.mark()
            tg.send_photo(user, chat, face_photo.read_bytes())
            keyboard = await keyboard_for(tg, chat, mark)
            tg.press_button(user, chat, keyboard.result, first_button(tg, chat, keyboard))
            if user is ann:
                await gate.wait_entered()  # Ann's render holds the render stage

        # Bob's job waits behind Ann's: no render has ended, so only a count made at the scrape
        # itself can say 2 (one rendering, one in line).
        async def queued_render_counted() -> bool:
            now = await scrape(http, port)
            return value(now, "yahey_jobs_total", status="queued", kind="render") - \
                value(before, "yahey_jobs_total", status="queued", kind="render") == 2

        await eventually(queued_render_counted, 30, "Bob's job queued")
        during = await scrape(http, port)
        assert value(during, "yahey_queue_length") == 2
        gate.open()

        for chat in chats:
            await tg.wait_for("sendVideo", 180, where=lambda c, chat=chat: c.ok and c.params["chat_id"] == chat["id"])

        async def both_timed() -> bool:
            now = await scrape(http, port)
            return value(now, "yahey_photo_to_video_seconds_count") - \
                value(before, "yahey_photo_to_video_seconds_count") == 2

        await eventually(both_timed, 30, "both deliveries timed")
        after = await scrape(http, port)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # the process itself (prometheus_client's ProcessCollector reads /proc: Linux, as deployed)
    if sys.platform == "linux":
        assert value(after, "process_resident_memory_bytes") > 0
        assert value(after, "process_cpu_seconds_total") > 0
        assert value(after, "process_open_fds") > 0
    # both waits observed once per job; the one in line waited at least as long as the render
    # ahead of it was held, and a photo's whole wait includes its wait in line
    assert delta("yahey_queue_wait_seconds_count") == 2
    assert delta("yahey_photo_to_video_seconds_count") == 2
    assert delta("yahey_photo_to_video_seconds_sum") >= delta("yahey_queue_wait_seconds_sum") > 0
    assert delta("yahey_photo_to_video_seconds_bucket", le="+Inf") == 2
    # jobs by status and kind: two renders queued, run and delivered; no grid, no conversion
    for status in ("queued", "running", "delivering", "done"):
        assert delta("yahey_jobs_total", status=status, kind="render") == 2, status
    assert delta("yahey_jobs_total", status="queued", kind="grid") == 0
    assert delta("yahey_jobs_total", status="queued", kind="convert") == 0
    assert value(after, "yahey_queue_length") == 0  # counted now: the line is empty
    (build,) = [labels for (name, labels) in after if name == "yahey_build_info"]
    build = dict(build)
    assert build["python_version"] == platform.python_version()
    assert build["version"] and build["paddle_version"] not in ("", "none")


async def test_healthz_in_queue_mode_reports_a_broker_that_is_down(tg: FakeTelegram, make_settings) -> None:
    port, closed = free_port(), free_port()  # nothing listens on `closed`
    settings = make_settings(queue={"backend": "celery", "broker_url": f"amqp://guest:guest@127.0.0.1:{closed}//"},
                             http={"port": port})
    async with running_bot(settings, None), aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
            body = await resp.json()
            assert resp.status == 503
    assert body["status"] == "unavailable" and body["broker"] == "unreachable"
    assert body["database"] == "ok" and body["model"] == "workers"
