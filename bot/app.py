"""The python-telegram-bot Application: builder, lifecycle hooks, handler registration.

post_init opens the database (migrated to head, crash leftovers re-queued), builds the engine and
starts the worker; post_stop stops the worker (a running render is re-queued); post_shutdown stops
the HTTP server and closes the database.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot import metrics
from bot.delivery import RetryPolicy
from bot.handlers import admin_templates, callbacks, commands, errors, group, photo, start_help
from bot.housekeeping import daily_clean_up
from bot.http_server import HealthReport, WebhookRoute, start_http_server
from bot.keyboards import CALLBACK_PATTERN
from bot.services import KEY, Services
from bot.texts import EN, ZH, t
from bot.worker import Worker
from engine import Engine
from settings import Settings
from storage import Database, jobs, upgrade_to_head

log = logging.getLogger(__name__)
COMMANDS = ("start", "help", "templates", "status", "cancel", "yahey")


@dataclass(frozen=True)
class Tuning:
    """Timings the tests shorten; production uses the defaults."""

    status_interval: float = 3.0  # seconds between status edits
    idle_poll: float = 5.0  # seconds the idle worker waits before looking at the queue again
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clean_up_first: timedelta = timedelta(minutes=5)
    clean_up_every: timedelta = timedelta(days=1)


def build_application(settings: Settings, engine: Engine | None = None, tuning: Tuning = Tuning()) -> Application:
    """`engine`: an already built (maybe loaded) Engine to use instead of one from settings."""
    tg = settings.telegram
    builder = (
        ApplicationBuilder()
        .token(tg.token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .rate_limiter(AIORateLimiter(max_retries=0))  # 429s reach delivery.py, which honours retry_after
        .concurrent_updates(16)  # a slow download for one user must not hold up the others
        .media_write_timeout(120)
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
    )
    if tg.mode == "webhook":
        builder = builder.updater(None)  # updates arrive through bot/http_server.py
    app = builder.build()
    app.bot_data["settings"] = settings
    app.bot_data["engine"] = engine
    app.bot_data["tuning"] = tuning
    register_handlers(app)
    return app


def register_handlers(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    image = filters.PHOTO | filters.Document.ALL
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, group.on_migrate))
    app.add_handler(CommandHandler(["start", "help"], start_help.start_help))
    app.add_handler(CommandHandler("templates", commands.templates))
    app.add_handler(CommandHandler("status", commands.status))
    app.add_handler(CommandHandler("cancel", commands.cancel))
    app.add_handler(CommandHandler("stats", commands.stats))
    app.add_handler(CommandHandler("yahey", group.on_yahey))
    app.add_handler(MessageHandler(image & filters.CaptionRegex(group.CAPTION_COMMAND), group.on_yahey))
    app.add_handler(CommandHandler("addtemplate", admin_templates.add_template))
    app.add_handler(MessageHandler(
        (filters.VIDEO | filters.ANIMATION | filters.Document.ALL) & filters.CaptionRegex(r"(?i)^/addtemplate\b"),
        admin_templates.add_template))
    app.add_handler(CommandHandler("deltemplate", admin_templates.delete_template))
    app.add_handler(CallbackQueryHandler(callbacks.on_template_pressed, pattern=CALLBACK_PATTERN))
    app.add_handler(MessageHandler(private & image, photo.on_photo))
    app.add_handler(MessageHandler(private & ~filters.StatusUpdate.ALL, start_help.send_a_photo))
    app.add_error_handler(errors.on_error)


def _sqlite_path(url: str) -> Path | None:
    for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
        if url.startswith(prefix) and url[len(prefix):] not in ("", ":memory:"):
            return Path(url[len(prefix):])
    return None


def _make_engine(settings: Settings) -> Engine:
    e = settings.engine
    return Engine(e.checkpoint, e.cache_dir, device=e.device, precision=e.precision, threads=e.threads,
                  batch_size=e.batch_size)


async def _post_init(app: Application) -> None:
    settings: Settings = app.bot_data["settings"]
    tuning: Tuning = app.bot_data["tuning"]
    data_dir = settings.storage.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    db_path = _sqlite_path(settings.storage.url)
    if db_path is not None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    db = Database(settings.storage.url)
    await upgrade_to_head(db)
    requeued = await jobs.requeue_unfinished(db)
    if requeued:
        log.info("%d job(s) left running by the last run re-queued", requeued)
    shutil.rmtree(data_dir / "tmp", ignore_errors=True)  # no job runs yet: every temp folder is stale
    engine = app.bot_data.get("engine") or _make_engine(settings)
    worker = Worker(app.bot, db, engine, settings, status_interval=tuning.status_interval,
                    idle_poll=tuning.idle_poll, retry=tuning.retry)
    svc = Services(settings=settings, db=db, engine=engine, worker=worker)
    await _set_commands(app)
    metrics.QUEUE_LENGTH.set(await jobs.queue_length(db))
    if app.job_queue is not None:
        app.job_queue.run_repeating(daily_clean_up, interval=tuning.clean_up_every, first=tuning.clean_up_first,
                                    name="daily-clean-up")
    await _start_http(app, svc)
    if settings.telegram.mode == "webhook":
        await app.bot.set_webhook(settings.telegram.webhook_url, secret_token=settings.telegram.webhook_secret or None,
                                  allowed_updates=Update.ALL_TYPES)
    app.bot_data[KEY] = svc  # last: handlers and the shutdown hooks find a complete set
    worker.start()
    log.info("bot @%s up (%s mode)", app.bot.username, settings.telegram.mode)


async def _set_commands(app: Application) -> None:
    for lang, code in ((EN, None), (ZH, "zh")):
        await app.bot.set_my_commands([BotCommand(c, t(lang, f"cmd_{c}")) for c in COMMANDS], language_code=code)


async def _start_http(app: Application, svc: Services) -> None:
    """/healthz, /metrics and, in webhook mode, the update route, on the bot's own loop."""
    settings = svc.settings
    if settings.http.port == 0:
        return

    async def health() -> HealthReport:
        return HealthReport(database=await svc.db.ping(), model_loaded=svc.engine.loaded,
                            queue=await jobs.queue_length(svc.db))

    webhook = None
    if settings.telegram.mode == "webhook":
        webhook = WebhookRoute(settings.telegram.webhook_path, settings.telegram.webhook_secret, app)
    app.bot_data["http"] = await start_http_server(settings.http.host, settings.http.port, health, webhook)


async def _post_stop(app: Application) -> None:
    svc: Services | None = app.bot_data.get(KEY)
    if svc is not None:
        await svc.worker.stop()


async def _post_shutdown(app: Application) -> None:
    http = app.bot_data.pop("http", None)
    if http is not None:
        await http.stop()
    svc: Services | None = app.bot_data.get(KEY)
    if svc is not None:
        await svc.db.close()
        log.info("database closed")
