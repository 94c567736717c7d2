"""The operations HTTP side: /healthz, /metrics and the Telegram webhook feeding a real PTB Application."""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from telegram import Update
from telegram.ext import ApplicationBuilder, CommandHandler

from bot.webhook import webhook_route
from ops import metrics
from ops.http_server import HealthReport, WebhookRoute, start_http_server
from tests.fake_telegram import FakeTelegram

TOKEN = "123456:TEST-token"
SECRET = "s3cret-Token_1"


async def healthy() -> HealthReport:
    return HealthReport(database=True, engine_state="ready", queue=3, runner="inference-cpu-bf16",
                        precision="bf16", device="cpu", step="ready", progress=1.0)


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def test_healthz_reports_ok(http):
    server = await start_http_server("127.0.0.1", 0, healthy)  # 0: any free port
    assert server.port != 0
    try:
        async with http.get(f"{server.url}/healthz") as resp:
            assert resp.status == 200
            body = await resp.json()
    finally:
        await server.stop()
    assert body["status"] == "ok" and body["database"] == "ok" and body["model"] == "loaded"
    assert body["queue"] == 3 and body["uptime_s"] >= 0
    assert body["engine"] == {"state": "ready", "runner": "inference-cpu-bf16", "precision": "bf16",
                              "device": "cpu", "detail": None, "step": "ready", "progress": 1.0}


async def test_healthz_is_200_while_loading_and_503_when_the_model_failed(http, unused_tcp_port):
    async def loading() -> HealthReport:
        return HealthReport(database=True, engine_state="loading", queue=0, step="preparing template yahey",
                            progress=0.5)

    async def failed() -> HealthReport:
        return HealthReport(database=True, engine_state="failed", queue=2, detail="checkpoint is not vox-256")

    answers = []
    for check in (loading, failed):
        server = await start_http_server("127.0.0.1", unused_tcp_port, check)
        try:
            async with http.get(f"{server.url}/healthz") as resp:
                answers.append((resp.status, await resp.json()))
        finally:
            await server.stop()
    (ok, loading_body), (unavailable, failed_body) = answers
    assert ok == 200 and loading_body["model"] == "loading" and loading_body["engine"]["progress"] == 0.5
    assert unavailable == 503 and failed_body["status"] == "unavailable" and failed_body["database"] == "ok"
    assert failed_body["model"] == "failed" and failed_body["engine"]["detail"] == "checkpoint is not vox-256"


async def test_healthz_is_503_while_the_database_is_unreachable(http, unused_tcp_port):
    async def broken_database() -> HealthReport:
        raise ConnectionError("unable to open database file")

    async def no_database() -> HealthReport:
        return HealthReport(database=False, engine_state="ready", queue=0)

    for check in (broken_database, no_database):
        server = await start_http_server("127.0.0.1", unused_tcp_port, check)
        try:
            async with http.get(f"{server.url}/healthz") as resp:
                assert resp.status == 503
                body = await resp.json()
        finally:
            await server.stop()
        assert body["status"] == "unavailable" and body["database"] == "unreachable"


def scrape(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_move_after_a_job(http, unused_tcp_port):
    server = await start_http_server("127.0.0.1", unused_tcp_port, healthy)
    try:
        async with http.get(f"{server.url}/metrics") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
            before = scrape(await resp.text())
        metrics.JOBS.labels(status="done", kind="grid").inc()
        metrics.QUEUE_LENGTH.set(4)
        metrics.RENDER_SECONDS.observe(42.0)
        metrics.RENDER_FPS.observe(7.5)
        metrics.DELIVERY_RETRIES.inc()
        metrics.TELEGRAM_ERRORS.labels(kind="retry_after").inc()
        async with http.get(f"{server.url}/metrics") as resp:
            after = scrape(await resp.text())
    finally:
        await server.stop()

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before[key]

    assert delta("yahey_jobs_total", status="done", kind="grid") == 1
    assert delta("yahey_jobs_total", status="done", kind="render") == 0
    assert delta("yahey_jobs_total", status="failed", kind="grid") == 0
    assert after[("yahey_queue_length", ())] == 4
    assert delta("yahey_render_seconds_count") == 1 and delta("yahey_render_seconds_sum") == 42.0
    assert delta("yahey_render_seconds_bucket", le="45.0") == 1 and delta("yahey_render_seconds_bucket", le="30.0") == 0
    assert delta("yahey_render_fps_count") == 1
    assert delta("yahey_delivery_retries_total") == 1
    assert delta("yahey_telegram_errors_total", kind="retry_after") == 1


async def test_metrics_are_refreshed_at_each_scrape_and_served_when_the_refresh_fails(http, unused_tcp_port):
    counts = iter([7, 2])

    async def count_queue() -> None:
        value = next(counts, None)
        if value is None:
            raise ConnectionError("database gone")
        metrics.QUEUE_LENGTH.set(value)

    server = await start_http_server("127.0.0.1", unused_tcp_port, healthy, on_scrape=count_queue)
    seen = []
    try:
        for _ in range(3):
            async with http.get(f"{server.url}/metrics") as resp:
                assert resp.status == 200
                seen.append(scrape(await resp.text())[("yahey_queue_length", ())])
    finally:
        await server.stop()
    assert seen == [7, 2, 2]  # each scrape counted anew; a failed count keeps the last one


async def test_healthz_is_503_while_the_broker_is_unreachable(http, unused_tcp_port):
    async def broker(up: bool) -> HealthReport:
        return HealthReport(database=True, engine_state="workers", queue=0, broker=up)

    answers = []
    for up in (True, False):
        server = await start_http_server("127.0.0.1", unused_tcp_port, lambda up=up: broker(up))
        try:
            async with http.get(f"{server.url}/healthz") as resp:
                answers.append((resp.status, (await resp.json())["broker"]))
        finally:
            await server.stop()
    assert answers == [(200, "ok"), (503, "unreachable")]


@pytest.fixture
async def webhook_bot(unused_tcp_port):
    """A PTB Application in custom-webhook mode (updater None) against the fake Bot API,
    with /start answered, and the HTTP server feeding its update queue."""
    async with FakeTelegram(token=TOKEN) as tg:
        app = (ApplicationBuilder().token(TOKEN).base_url(tg.base_url).base_file_url(tg.base_file_url)
               .updater(None).build())
        seen: list[Update] = []

        async def start(update: Update, context) -> None:
            seen.append(update)
            await update.message.reply_text("hello from the webhook")

        app.add_handler(CommandHandler("start", start))
        async with app:
            await app.start()
            server = await start_http_server("127.0.0.1", unused_tcp_port, healthy,
                                             webhook_route("/telegram", SECRET, app))
            try:
                yield SimpleNamespace(tg=tg, server=server, app=app, seen=seen)
            finally:
                await server.stop()
                await app.stop()


async def test_webhook_accepts_updates_with_the_secret(webhook_bot, http):
    tg, server, seen = webhook_bot.tg, webhook_bot.server, webhook_bot.seen
    ann = tg.user(first_name="Ann")
    tg.send_text(ann, tg.private_chat(ann), "/start")
    update = tg.pending_updates[-1]  # the exact JSON Telegram would post
    secret = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with http.post(f"{server.url}/telegram", json=update, headers=secret) as resp:
        assert resp.status == 200
    call = await tg.wait_for("sendMessage", timeout=10)
    assert call.params["text"] == "hello from the webhook" and call.params["chat_id"] == ann["id"]
    assert [u.update_id for u in seen] == [update["update_id"]]


async def test_webhook_refuses_a_missing_or_wrong_secret_and_bad_bodies(webhook_bot, http):
    tg, server, seen = webhook_bot.tg, webhook_bot.server, webhook_bot.seen
    ann = tg.user()
    tg.send_text(ann, tg.private_chat(ann), "/start")
    update = tg.pending_updates[-1]
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
        async with http.post(f"{server.url}/telegram", json=update, headers=headers) as resp:
            assert resp.status == 403
    for body in (b"{not json", b"[1, 2]", b'{"no_update_id": 1}'):
        async with http.post(f"{server.url}/telegram", data=body,
                             headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as resp:
            assert resp.status == 400
    async with http.get(f"{server.url}/healthz") as resp:  # still serving
        assert resp.status == 200
    # Updates are handled in order: once a later good one is answered, a refused one would have been too.
    tg.send_text(ann, tg.private_chat(ann), "/start again")
    good = tg.pending_updates[-1]
    secret = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with http.post(f"{server.url}/telegram", json=good, headers=secret) as resp:
        assert resp.status == 200
    await tg.wait_for("sendMessage", timeout=10)
    assert [u.update_id for u in seen] == [good["update_id"]]
    assert len(tg.calls_to("sendMessage")) == 1


async def test_telegram_delivers_to_the_webhook_end_to_end(webhook_bot):
    tg, server = webhook_bot.tg, webhook_bot.server
    await webhook_bot.app.bot.set_webhook(f"{server.url}/telegram", secret_token=SECRET)
    ann = tg.user()
    tg.send_text(ann, tg.private_chat(ann), "/start")
    call = await tg.wait_for("sendMessage", timeout=10)
    assert call.params["chat_id"] == ann["id"] and tg.webhook_errors == []


def test_webhook_needs_a_secret():
    from ops.http_server import HttpServer

    with pytest.raises(ValueError, match="secret"):
        HttpServer("127.0.0.1", 0, healthy, WebhookRoute("/telegram", "", object()))


async def _until(condition, timeout: float, what: str) -> None:
    """Wait for a condition the fake server or the bot reaches (checked as the loop turns)."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def _webhook_app(tg: FakeTelegram, port: int, seen: list[int], gate=None):
    """A PTB Application wired like bot/app.py in webhook mode: its HTTP server started in post_init
    (kept in bot_data.http, where bot/lifecycle.py finds it), stopped in post_shutdown."""
    from bot.context import CONTEXT_TYPES

    async def post_init(app) -> None:
        app.bot_data.http = await start_http_server("127.0.0.1", port, healthy, webhook_route("/telegram", SECRET, app))
        await app.bot.set_webhook(f"{app.bot_data.http.url}/telegram", secret_token=SECRET)

    async def post_shutdown(app) -> None:
        await app.bot_data.http.stop()

    async def start(update: Update, context) -> None:
        if gate is not None and not seen:
            await gate.wait()  # the first update keeps the bot busy: the rest wait in its queue
        seen.append(update.update_id)
        await update.message.reply_text(f"handled {update.update_id}")

    app = (ApplicationBuilder().token(TOKEN).base_url(tg.base_url).base_file_url(tg.base_file_url).updater(None)
           .context_types(CONTEXT_TYPES).post_init(post_init).post_shutdown(post_shutdown).build())
    app.add_handler(CommandHandler("start", start))
    return app


async def test_a_webhook_restart_loses_no_update(unused_tcp_port):
    """Updates arriving while the bot stops get 503 (Telegram sends them again, to the next
    process); those already accepted are handled before the stop."""
    import asyncio

    from bot.lifecycle import run_until

    async with FakeTelegram(token=TOKEN) as tg:
        ann = tg.user()
        chat = tg.private_chat(ann)
        sent: list[int] = []

        def send() -> int:
            tg.send_text(ann, chat, "/start")
            sent.append(tg.pending_updates[-1]["update_id"])
            return sent[-1]

        seen_first: list[int] = []
        gate = asyncio.Event()
        first = _webhook_app(tg, unused_tcp_port, seen_first, gate)
        stop_first = asyncio.Event()
        running = asyncio.create_task(run_until(first, stop_first))
        await _until(lambda: first.running, 30, "the first bot started")
        for _ in range(5):
            send()
        await _until(lambda: not tg.pending_updates, 30, "the first five updates accepted")
        stop_first.set()  # a restart begins while the first update is still being handled
        await _until(lambda: not first.running, 30, "the first bot stopping")
        errors = len(tg.webhook_errors)
        for _ in range(5):
            send()
        # The first of these is now either accepted by the stopping bot or refused (kept by Telegram).
        await _until(lambda: len(tg.webhook_errors) > errors or not tg.pending_updates, 30,
                     "an update arriving during the stop answered")
        gate.set()
        await asyncio.wait_for(running, 30)
        assert seen_first == sent[:5]  # what was in the queue was handled before the stop

        seen_second: list[int] = []
        second = _webhook_app(tg, unused_tcp_port, seen_second)
        stop_second = asyncio.Event()
        running = asyncio.create_task(run_until(second, stop_second))
        try:
            last = send()  # handled in order: once it is, every update before it was too
            await _until(lambda: last in seen_second, 60, "the second bot handling Telegram's resends")
        finally:
            stop_second.set()
            await asyncio.wait_for(running, 30)
        assert seen_first + seen_second == sent  # each update once, in order, none lost
