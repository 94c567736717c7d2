"""The Bot API clients (pipeline/bot_api.py): one TLS context per process, still verifying."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import NetworkError

from bot.app import build_application
from pipeline.bot_api import bot_api_requests
from settings import Settings, TelegramSettings


def _tls_of(request: object) -> ssl.SSLContext:
    return request._client._transport._pool._ssl_context  # type: ignore[attr-defined, no-any-return]


async def test_every_client_of_the_process_shares_one_context_across_restarts() -> None:
    tg = TelegramSettings(token="1:T", upload_timeout=123.0)
    worker_send, worker_updates = bot_api_requests(tg, connection_pool_size=16)
    app = build_application(Settings(telegram=tg))
    bot_send, bot_updates = app.bot.request, app.bot._request[0]  # PTB keeps (getUpdates, the rest)
    requests = [worker_send, worker_updates, bot_send, bot_updates]
    assert len({id(_tls_of(r)) for r in requests}) == 1
    assert worker_send._media_write_timeout == bot_send._media_write_timeout == 123.0  # type: ignore[attr-defined]
    # PTB builds a new client when a shut-down request starts again (an application restarting)
    await worker_send.initialize()
    await worker_send.shutdown()
    await worker_send.initialize()
    try:
        assert _tls_of(worker_send) is _tls_of(bot_updates)
    finally:
        await worker_send.shutdown()


@pytest.fixture
def self_signed(tmp_path: Path) -> ssl.SSLContext:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_the_shared_context_still_refuses_an_unknown_certificate(self_signed: ssl.SSLContext) -> None:
    answered = []

    async def get_me(request: web.Request) -> web.Response:
        answered.append(request.path)
        return web.json_response({"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "impostor"}})

    server = web.Application()
    server.router.add_post("/bot1:T/getMe", get_me)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self_signed)
    await site.start()
    port = runner.addresses[0][1]
    request, _ = bot_api_requests(TelegramSettings(token="1:T"), connection_pool_size=1)
    try:
        bot = Bot("1:T", base_url=f"https://127.0.0.1:{port}/bot", request=request)
        with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"):
            await bot.get_me()
        assert answered == []
    finally:
        await request.shutdown()
        await runner.cleanup()
