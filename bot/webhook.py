"""The webhook's side of the Telegram front end: an update POSTed to ops/http_server.py goes into
the Application's update queue, as PTB's custom-webhook pattern does; at shutdown the route is
closed before the application stops reading that queue (bot/lifecycle.py), so no update that was
answered 200 is dropped."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.context import BotData
from ops.http_server import WebhookRoute


def webhook_route(path: str, secret: str, app: Application[Any, Any, Any, Any, Any, Any]) -> WebhookRoute:
    async def deliver(data: dict[str, Any]) -> None:
        await app.update_queue.put(Update.de_json(data, app.bot))

    return WebhookRoute(path, secret, deliver)


async def stop_taking_updates(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Close the webhook route (503: Telegram resends) of a running bot's HTTP server, if it has one."""
    data = app.bot_data
    if isinstance(data, BotData) and data.http is not None:
        await data.http.close_webhook()
