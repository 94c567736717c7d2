"""Running the Application until told to stop, in the order run_polling uses (initialize → post_init
→ start polling → start … stop polling → stop → post_stop → shutdown → post_shutdown).
In webhook mode the update route is closed (503) before `stop`: `stop` handles what is already in
the queue and drops what comes after, so an update accepted then would be lost.

Used for webhook mode (no Updater, so no run_polling) and by the in-process tests.
"""

from __future__ import annotations

import asyncio
import signal

from telegram import Update

from bot.context import BotApplication
from bot.webhook import stop_taking_updates


async def run_until(app: BotApplication, stop: asyncio.Event, poll_timeout: int = 30) -> None:
    await app.initialize()
    try:
        if app.post_init:
            await app.post_init(app)
        if app.updater is not None:
            await app.updater.start_polling(timeout=poll_timeout, allowed_updates=Update.ALL_TYPES)
        await app.start()
        await stop.wait()
    finally:
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        await stop_taking_updates(app)
        if app.running:
            await app.stop()
        if app.post_stop:
            await app.post_stop(app)
        await app.shutdown()
        if app.post_shutdown:
            await app.post_shutdown(app)


async def run_until_signalled(app: BotApplication, poll_timeout: int = 30) -> None:
    """SIGTERM / SIGINT stop the bot gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run_until(app, stop, poll_timeout)
