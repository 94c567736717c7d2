"""`python -m bot --config config.toml`: check the essentials, set up logging, run the bot."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from ops.process import begin, import_paddle_early, refuse
from ops.startup_checks import StartupError

if TYPE_CHECKING:
    from pipeline.renderer import Renderer
    from pipeline.tuning import Tuning


def main(argv: list[str] | None = None, engine: Renderer | None = None, tuning: Tuning | None = None) -> int:
    """`engine`/`tuning`: for a harness that runs this same process with an engine it controls
    (tests/gated_bot.py); the bot itself builds both from the config."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="The 蚂蚁呀嘿 Telegram bot.")
    parser.add_argument("--config", default=None, help="path to config.toml (default: the repository's)")
    args = parser.parse_args(argv)
    try:
        settings = begin(args.config)
    except StartupError as err:
        return refuse(err)
    where = settings.config_path or "config.toml"
    renders_here = settings.queue.backend == "local"  # else `python -m worker` processes render

    from telegram import Update
    from telegram.error import InvalidToken, NetworkError

    from bot.app import build_application
    from bot.lifecycle import run_until_signalled

    # The model still loads later, in the render stage, while the bot already answers. A harness's
    # renderer brings its own (tests/gated_engine.py).
    if renders_here and engine is None:
        import_paddle_early(settings, always=False)
    app = build_application(settings, engine, tuning)
    try:
        if settings.telegram.mode == "polling":
            # run_polling stops on SIGINT/SIGTERM/SIGABRT and then runs post_stop/post_shutdown.
            app.run_polling(allowed_updates=Update.ALL_TYPES, timeout=settings.telegram.poll_timeout)
        else:
            asyncio.run(run_until_signalled(app, settings.telegram.poll_timeout))
    except InvalidToken:
        return refuse(f"Telegram refused the bot token: check BOT_TOKEN or [telegram].token in {where}")
    except NetworkError as err:  # at start-up (getMe); later network errors are retried by PTB
        return refuse(f"cannot reach the Bot API at {settings.telegram.base_url}: {err}", 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
