"""The bot's HTTP side on [http].host/port: GET /healthz, GET /metrics and, in webhook mode, the
Telegram webhook. It runs on the process's own event loop (no thread); ops/process.py starts it.

/healthz answers 200 while the bot can do its work (the model may still be loading: "model" and
"engine" say so, with progress) and 503 when it cannot: the database is unreachable, the model
failed to load, or (queue mode) the broker is unreachable; ops/health.py builds the report.
/metrics first runs `on_scrape` (counts the queue, ops/metrics.py), bounded by the same timeout,
then renders the registry. Webhook mode follows PTB's custom-webhook pattern: updates POSTed to
the path with the right X-Telegram-Bot-Api-Secret-Token go to app.update_queue; a missing or wrong
secret gets 403, a body that is not an update 400. At shutdown `close_webhook()` runs before the
application stops reading its queue: from then on updates get 503, which Telegram resends (to the
next process), instead of a 200 for an update no one would handle.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ops.metrics import REGISTRY

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_TIMEOUT_S = 5.0  # a hung database counts as unreachable


@dataclass(frozen=True)
class HealthReport:
    database: bool  # the database answered
    engine_state: str  # loading | ready | degraded | failed (engine.EngineState); workers: queue-mode bot
    queue: int  # jobs waiting for or in the render stage
    runner: str | None = None
    precision: str | None = None
    device: str | None = None
    detail: str | None = None  # why degraded or failed
    step: str | None = None  # what start-up preparation is doing
    progress: float | None = None  # 0..1 of the start-up preparation
    broker: bool | None = None  # queue mode: the broker accepted a connection; None: not used

    @property
    def healthy(self) -> bool:
        return self.database and self.engine_state != "failed" and self.broker is not False


@dataclass(frozen=True)
class WebhookRoute:
    path: str  # e.g. settings.telegram.webhook_path, "/telegram"
    secret: str  # settings.telegram.webhook_secret, also given to set_webhook(secret_token=...)
    # Decodes one update's JSON and puts it in the application's queue (bot/webhook.py); raises
    # ValueError for a body that is not an update.
    deliver: Callable[[dict[str, Any]], Awaitable[None]]


class HttpServer:
    """aiohttp on the current event loop; start() binds, stop() closes. port=0 binds a free port."""

    def __init__(self, host: str, port: int, health: Callable[[], Awaitable[HealthReport]],
                 webhook: WebhookRoute | None = None, on_scrape: Callable[[], Awaitable[None]] | None = None):
        if webhook is not None and not webhook.secret:
            raise ValueError("webhook mode needs a secret ([telegram].webhook_secret)")
        self.host, self.port = host, port
        self._health = health
        self._on_scrape = on_scrape
        self._webhook = webhook
        self._runner: web.AppRunner | None = None
        self._started = time.monotonic()
        self._accepting = True  # webhook updates: False once close_webhook() ran
        self._delivering = 0  # updates being put into the queue right now
        self._delivered = asyncio.Event()  # set whenever none is
        self._delivered.set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        if self._webhook is not None:
            app.router.add_post(self._webhook.path, self._receive_update)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        self._started = time.monotonic()
        log.info("http server listening on %s (webhook %s)", self.url, "on" if self._webhook else "off")

    async def close_webhook(self) -> None:
        """Stop taking updates (503 from now on, so Telegram keeps them and sends them again) and
        wait for the ones being handed to the queue; /healthz and /metrics still answer."""
        self._accepting = False
        await self._delivered.wait()

    async def stop(self) -> None:
        self._accepting = False
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        try:
            report = await asyncio.wait_for(self._health(), HEALTH_TIMEOUT_S)
        except Exception as exc:  # whatever broke, the probe answers; the cause goes to the log
            log.warning("health check failed: %r", exc)
            report = None
        healthy = report is not None and report.healthy
        body: dict[str, Any] = {
            "status": "ok" if healthy else "unavailable",
            "database": "ok" if report is not None and report.database else "unreachable",
            "uptime_s": round(time.monotonic() - self._started, 1),
        }
        if report is not None:
            body["model"] = {"ready": "loaded", "degraded": "loaded"}.get(report.engine_state, report.engine_state)
            body["engine"] = {"state": report.engine_state, "runner": report.runner, "precision": report.precision,
                              "device": report.device, "detail": report.detail, "step": report.step,
                              "progress": report.progress}
            body["queue"] = report.queue
            if report.broker is not None:
                body["broker"] = "ok" if report.broker else "unreachable"
        return web.json_response(body, status=200 if healthy else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        if self._on_scrape is not None:
            try:
                await asyncio.wait_for(self._on_scrape(), HEALTH_TIMEOUT_S)
            except Exception as exc:  # the scrape still answers, with the last values
                log.warning("metrics refresh failed: %r", exc)
        response = web.Response(body=generate_latest(REGISTRY))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def _receive_update(self, request: web.Request) -> web.Response:
        assert self._webhook is not None
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._webhook.secret.encode()):
            log.warning("webhook: refused a request without the right secret from %s", request.remote)
            return web.Response(status=403, text="forbidden")
        try:
            data = json.loads(await request.read())
            if not isinstance(data, dict) or "update_id" not in data:
                raise ValueError("not an update")
        except Exception as exc:  # any malformed body is the sender's problem, not a 500
            log.warning("webhook: bad update body: %s", exc)
            return web.Response(status=400, text="bad update")
        # Checked after the body is read: an update is either in the queue before close_webhook()
        # returns, or refused and resent by Telegram.
        if not self._accepting:
            return web.Response(status=503, text="shutting down")
        self._delivering += 1
        self._delivered.clear()
        try:
            await self._webhook.deliver(data)
        except Exception as exc:
            log.warning("webhook: bad update body: %s", exc)
            return web.Response(status=400, text="bad update")
        finally:
            self._delivering -= 1
            if self._delivering == 0:
                self._delivered.set()
        return web.Response(status=200)


async def start_http_server(host: str, port: int, health: Callable[[], Awaitable[HealthReport]],
                            webhook: WebhookRoute | None = None,
                            on_scrape: Callable[[], Awaitable[None]] | None = None) -> HttpServer:
    """Bind and serve /healthz, /metrics (and the webhook); returns the server, stop() it at shutdown."""
    server = HttpServer(host, port, health, webhook, on_scrape)
    await server.start()
    return server
