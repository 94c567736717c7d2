"""The webhook's side of the Telegram front end: an update POSTed to ops/http_server.py goes into
the Application's update queue, as PTB's custom-webhook pattern does."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application

from ops.http_server import WebhookRoute


def webhook_route(path: str, secret: str, app: Application[Any, Any, Any, Any, Any, Any]) -> WebhookRoute:
    async def deliver(data: dict[str, Any]) -> None:
        await app.update_queue.put(Update.de_json(data, app.bot))

    return WebhookRoute(path, secret, deliver)
