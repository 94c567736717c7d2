"""/status, /templates, /stats (admins only), the /healthz + /metrics wiring and webhook mode."""

from __future__ import annotations

import sqlite3

import aiohttp
from bot_helpers import ADMIN_ID, free_port, reply_text, running_bot, settings_of
from prometheus_client.parser import text_string_to_metric_families

from storage.from_settings import sqlite_path
from tests.fake_telegram import FakeTelegram


async def test_status_templates_and_stats(tg: FakeTelegram, bot_app) -> None:
    settings = settings_of(bot_app)
    assert bot_app.job_queue.get_jobs_by_name("daily-clean-up")  # housekeeping is scheduled
    user, admin = tg.user(language_code="en"), tg.user(id=ADMIN_ID, language_code="zh-cn")
    dm, dm_admin = tg.private_chat(user), tg.private_chat(admin)

    tg.send_text(user, dm, "/status")
    text = await reply_text(tg, dm, 0)
    assert "no job in progress" in text and "0 job(s) in the queue" in text

    mark = tg.mark()
    tg.send_text(user, dm, "/templates")
    assert "Short (short)" in await reply_text(tg, dm, mark)

    mark = tg.mark()
    tg.send_text(user, dm, "/stats")
    assert "only the bot's admins" in await reply_text(tg, dm, mark)

    # Finished jobs as earlier runs would have left them.
    with sqlite3.connect(sqlite_path(settings.storage.url)) as raw:
        raw.execute("INSERT INTO users (id, language, first_seen, last_seen) "
                    "VALUES (9, 'en', '2026-01-01', '2026-01-01')")
        for status, seconds in (("done", 4.0), ("done", 6.0), ("failed", None)):
            raw.execute("INSERT INTO jobs (kind, user_id, chat_id, source_message_id, language, input_file_id,"
                        " input_file_unique_id, template_id, status, cancel_requested, from_cache, created_at,"
                        " render_seconds) VALUES ('render', 9, 9, 1, 'en', 'f', 'u', 'short', ?, 0, 0,"
                        " '2026-01-01', ?)", (status, seconds))
    mark = tg.mark()
    tg.send_text(admin, dm_admin, "/stats")
    text = await reply_text(tg, dm_admin, mark)
    assert "done 2, failed 1" in text and "5.0s" in text and "队列长度：0" in text


async def test_webhook_mode_with_health_and_metrics(tg: FakeTelegram, make_settings, fake_engine) -> None:
    port = free_port()
    settings = make_settings(
        telegram={"mode": "webhook", "webhook_url": f"http://127.0.0.1:{port}/telegram", "webhook_secret": "s3cret"},
        http={"port": port},
    )
    async with running_bot(settings, fake_engine):
        webhook = await tg.wait_for("setWebhook", 10)
        assert webhook.params["secret_token"] == "s3cret"
        user = tg.user(language_code="en")
        dm = tg.private_chat(user)
        tg.send_text(user, dm, "/help")  # POSTed to the bot's webhook by the fake server
        assert "/yahey" in await reply_text(tg, dm, 0)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{port}/telegram", json={"update_id": 1}) as refused:
                assert refused.status == 403  # no secret
            async with http.get(f"http://127.0.0.1:{port}/healthz") as health:
                body = await health.json()
                assert health.status == 200 and body["model"] == "loaded" and body["queue"] == 0
                assert body["engine"]["runner"] == fake_engine.status.runner
                assert body["engine"]["device"] == "cpu" and body["engine"]["precision"] in ("fp32", "bf16")
            async with http.get(f"http://127.0.0.1:{port}/metrics") as metrics:
                names = {f.name for f in text_string_to_metric_families(await metrics.text())}
                assert {"yahey_jobs", "yahey_queue_length", "yahey_render_seconds"} <= names


async def test_ready_before_the_first_render_with_progress_on_healthz(tg: FakeTelegram, make_settings,
                                                                      fake_engine, face_photo) -> None:
    from bot_helpers import eventually, first_button, keyboard_for, services_of

    from tests.fake_engine import Gate

    port = free_port()
    preparing = Gate()  # the start-up preparation of the templates' motion, held open
    async with running_bot(make_settings(http={"port": port}), fake_engine.gated(Gate(opened=True), preparing)) as app:
        await preparing.wait_entered()
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as health:
            body = await health.json()
        assert health.status == 200 and body["model"] == "loaded"  # the model is in; the motion is not yet
        assert body["engine"]["step"] == "preparing template short" and 0 < body["engine"]["progress"] < 1
        user = tg.user(language_code="en")
        dm = tg.private_chat(user)
        tg.send_photo(user, dm, face_photo.read_bytes())  # answered meanwhile ...
        keyboard = await keyboard_for(tg, dm)
        tg.press_button(user, dm, keyboard.result, first_button(tg, dm, keyboard))
        await tg.wait_for("editMessageText", 30, where=lambda c: c.params["text"].startswith("⏳"))
        assert not tg.calls_to("sendVideo") and not services_of(app).stages.render.readiness.ready  # ... not rendered
        preparing.open()
        await tg.wait_for("sendVideo", 180, where=lambda c: c.ok)
        await eventually(lambda: services_of(app).stages.render.readiness.ready, what="ready")
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as health:
            body = await health.json()
        assert body["engine"]["step"] == "ready" and body["engine"]["progress"] == 1.0
