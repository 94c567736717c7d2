"""Running the Application until told to stop, in the order run_polling uses (initialize → post_init
→ start polling → start … stop polling → stop → post_stop → shutdown → post_shutdown).

Used for webhook mode (no Updater, so no run_polling) and by the in-process tests.
"""

from __future__ import annotations

import asyncio
import signal

from telegram import Update

from bot.context import BotApplication


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
