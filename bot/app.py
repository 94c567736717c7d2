"""The python-telegram-bot Application: builder, lifecycle hooks, handler registration (wiring only).

post_init opens the database (migrated to head) and, in local mode, releases this box's leftover
leases, builds the engine and starts the render, conversion and delivery stages; post_stop stops
them (a running render goes back in line) and any ffmpeg still running; post_shutdown stops the
HTTP server and closes the database.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
from collections.abc import Awaitable, Callable
from typing import cast

from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot.albums import AlbumCollector
from bot.context import CONTEXT_TYPES, BotApplication, BotContext, BotData, Services, services
from bot.flood_control import FloodControl, PressLimit
from bot.forget import ForgetStage
from bot.grid_collection import CANCEL_PATTERN
from bot.handlers import (
    admin_templates,
    callbacks,
    commands,
    conversions,
    errors,
    grid,
    group,
    inline,
    language,
    own_templates,
    photo,
    privacy,
    start_help,
)
from bot.webhook import webhook_route
from engine import clean_staging, kill_all_ffmpeg
from engine.cpu_features import usable_cpus
from engine.from_settings import render_options
from i18n.languages import EN, LANGUAGES
from i18n.texts import t
from ops import metrics
from ops.health import front_end_health, rendering_health
from ops.http_server import HealthReport
from ops.process import open_database, serve_http
from pipeline.assembly import Stages, make_stages, stage_owner
from pipeline.bot_api import bot_api_requests
from pipeline.dispatch import CeleryDispatcher, Dispatcher, LocalDispatcher, broker_reachable, make_celery
from pipeline.housekeeping import clean_up
from pipeline.job_run import tell_owners_failed
from pipeline.keyboards import BACKGROUND_PATTERN, CALLBACK_PATTERN, CONVERT_PATTERN, DELETE_PATTERN, LANGUAGE_PATTERN
from pipeline.reconciler import give_up_exhausted, redispatch_forgotten
from pipeline.renderer import Renderer, renderer_from_settings
from pipeline.tuning import Tuning
from settings import Settings
from storage import forget, jobs

log = logging.getLogger(__name__)
COMMANDS = ("start", "help", "templates", "template", "status", "cancel", "language", "privacy", "forget", "yahey",
            "grid")


def concurrent_updates(settings: Settings) -> int:
    """Updates handled at once: mostly waiting on Telegram, so a few per core (decodes are bounded
    separately, bot/intake.py)."""
    configured = settings.telegram.concurrent_updates
    return configured or max(8, min(32, 4 * usable_cpus()))


def build_application(settings: Settings, engine: Renderer | None = None,
                      tuning: Tuning | None = None) -> BotApplication:
    """`engine`: an already built (maybe loaded) Renderer to use instead of the one from settings;
    `tuning`: None, the defaults."""
    tg = settings.telegram
    # PTB's builder would make the same two requests, each with its own TLS context
    request, get_updates_request = bot_api_requests(tg, connection_pool_size=256)
    builder = (
        ApplicationBuilder()
        .token(tg.token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .context_types(CONTEXT_TYPES)
        .rate_limiter(AIORateLimiter(max_retries=0))  # 429s reach pipeline/telegram_calls.py, which honours retry_after
        .concurrent_updates(concurrent_updates(settings))
        .request(request)
        .get_updates_request(get_updates_request)
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
    )
    if tg.mode == "webhook":
        builder = builder.updater(None)  # updates arrive through ops/http_server.py
    # PTB's builder keeps the default JobQueue's context type after context_types(): named here.
    app = cast(BotApplication, builder.build())
    data: BotData = app.bot_data
    data.settings, data.engine, data.tuning = settings, engine, tuning or Tuning()
    register_handlers(app)
    return app


def register_handlers(app: BotApplication) -> None:
    # Only new messages from a person: edits of old ones, channel posts (no sender) and messages
    # sent on behalf of a chat (a channel, an anonymous admin: no one to count quota against)
    # never start anything.
    new = filters.UpdateType.MESSAGE & filters.User(allow_empty=True) & ~filters.SenderChat.ALL
    private = filters.ChatType.PRIVATE
    image = filters.PHOTO | filters.Document.ALL
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, group.on_migrate))
    app.add_handler(CommandHandler(["start", "help"], start_help.start_help, filters=new))
    app.add_handler(CommandHandler("templates", commands.templates, filters=new))
    app.add_handler(CommandHandler("status", commands.status, filters=new))
    app.add_handler(CommandHandler("cancel", commands.cancel, filters=new))
    app.add_handler(CommandHandler("stats", commands.stats, filters=new))
    app.add_handler(CommandHandler("language", language.on_language, filters=new))
    app.add_handler(CommandHandler("privacy", privacy.privacy, filters=new))
    app.add_handler(CommandHandler("forget", privacy.forget_command, filters=new))
    app.add_handler(CommandHandler("yahey", group.on_yahey, filters=new))
    app.add_handler(CommandHandler("grid", grid.on_grid, filters=new))
    yahey_caption = filters.CaptionRegex(group.CAPTION_COMMAND)
    # A photo replying to one of the bot's messages is for a /grid collection, unless it says /yahey.
    app.add_handler(MessageHandler(new & filters.ChatType.GROUPS & filters.REPLY & image & ~yahey_caption,
                                   grid.on_reply_with_photo))
    app.add_handler(MessageHandler(new & image & yahey_caption, group.on_yahey))
    app.add_handler(CommandHandler("addtemplate", admin_templates.add_template, filters=new))
    app.add_handler(MessageHandler(
        new & (filters.VIDEO | filters.ANIMATION | filters.Document.ALL) & filters.CaptionRegex(r"(?i)^/addtemplate\b"),
        admin_templates.add_template))
    app.add_handler(CommandHandler("deltemplate", admin_templates.delete_template, filters=new))
    clip = filters.VIDEO | filters.VIDEO_NOTE | filters.ANIMATION | filters.Document.VIDEO
    app.add_handler(CommandHandler("template", own_templates.on_template, filters=new))
    app.add_handler(MessageHandler(new & clip & filters.CaptionRegex(own_templates.CAPTION_COMMAND),
                                   own_templates.on_template))
    app.add_handler(CallbackQueryHandler(own_templates.on_delete_pressed, pattern=DELETE_PATTERN))
    app.add_handler(CallbackQueryHandler(callbacks.on_template_pressed, pattern=CALLBACK_PATTERN))
    app.add_handler(CallbackQueryHandler(callbacks.on_background_pressed, pattern=BACKGROUND_PATTERN))
    app.add_handler(CallbackQueryHandler(grid.on_cancel_pressed, pattern=CANCEL_PATTERN))
    app.add_handler(CallbackQueryHandler(conversions.on_conversion_pressed, pattern=CONVERT_PATTERN))
    app.add_handler(CallbackQueryHandler(language.on_language_pressed, pattern=LANGUAGE_PATTERN))
    app.add_handler(CallbackQueryHandler(privacy.on_forget_pressed, pattern=privacy.FORGET_PATTERN))
    app.add_handler(InlineQueryHandler(inline.on_inline_query))
    app.add_handler(MessageHandler(new & private & clip, own_templates.on_bare_clip))
    app.add_handler(MessageHandler(new & private & image, photo.on_photo))
    app.add_handler(MessageHandler(new & private & ~filters.StatusUpdate.ALL, start_help.send_a_photo))
    app.add_error_handler(errors.on_error)


async def _post_init(app: BotApplication) -> None:
    data: BotData = app.bot_data
    settings, tuning = data.settings, data.tuning
    assert settings is not None
    db = await open_database(settings)
    engine: Renderer | None = None
    stages: Stages | None = None
    dispatch: Dispatcher
    if settings.queue.backend == "local":
        # One box: this process is the database's only user, so whatever its last run held is free.
        released = await jobs.release_all_leases(db, settings.limits.max_attempts)
        if released.requeued:
            log.info("%d job(s) left running by the last run re-queued", released.requeued)
        if released.given_up:  # each killed the process it ran in, max_attempts times
            log.warning("job(s) %s failed after %d attempts", [j.id for j in released.given_up],
                        settings.limits.max_attempts)
            await tell_owners_failed(app.bot, released.given_up, tuning, "render_failed_attempts",
                                     n=settings.limits.max_attempts)
        if await forget.release_all(db):
            log.info("a /forget left under way by the last run is taken up again")
        shutil.rmtree(settings.storage.data_dir / "tmp", ignore_errors=True)  # no job runs yet: all stale
        clean_staging(settings.templates.dir)  # half-made imports: their jobs redo them from the start
        clean_staging(settings.user_templates.dir)
        engine = data.engine or renderer_from_settings(settings)
        stages = make_stages(app.bot, db, engine, settings, tuning, stage_owner())
        dispatch = LocalDispatcher(stages.render.wake, stages.conversion.wake, stages.delivery.wake)
    else:  # workers render and deliver; this process takes updates and queues jobs
        dispatch = CeleryDispatcher(make_celery(settings), settings)
    limits = settings.limits
    svc = Services(settings=settings, db=db, engine=engine, options=render_options(settings), dispatch=dispatch,
                   stages=stages, flood=FloodControl(limits.photo_burst, limits.photos_per_minute),
                   decode_slots=asyncio.Semaphore(1), albums=AlbumCollector(),
                   conversion_presses=PressLimit(limits.conversion_press_burst, limits.conversion_presses_per_minute))
    owner = stages.render.owner if stages is not None else stage_owner()
    svc.forgetting = ForgetStage(app.bot, svc, tuning, owner, stages.cancel if stages is not None else lambda _: False)
    await _set_commands(app)
    metrics.QUEUE_LENGTH.set(await jobs.queue_length(db))
    if engine is not None:
        metrics.set_engine_info(engine.status.state, engine.status.runner, engine.status.precision,
                                engine.status.device)
    if app.job_queue is not None:
        app.job_queue.run_repeating(_daily_clean_up, interval=tuning.clean_up_every, first=tuning.clean_up_first,
                                    name="daily-clean-up")
        app.job_queue.run_repeating(grid.sweep_expired, interval=tuning.grid_sweep_every, first=tuning.grid_sweep_every,
                                    name="grid-expiry")
        if stages is None:
            app.job_queue.run_repeating(_reconcile, interval=tuning.reconcile_every, first=tuning.reconcile_every,
                                        name="reconcile")
    await _start_http(app, svc)
    if settings.telegram.mode == "webhook":
        await app.bot.set_webhook(settings.telegram.webhook_url, secret_token=settings.telegram.webhook_secret or None,
                                  allowed_updates=Update.ALL_TYPES)
    data.services = svc  # last: handlers and the shutdown hooks find a complete set
    svc.forgetting.start()  # in both modes: this process deletes what a /forget asks for
    if stages is not None:
        for stage in stages.all():
            stage.start()
    log.info("bot @%s up (%s mode, %s)", app.bot.username, settings.telegram.mode,
             "rendering here" if stages else "workers render")


async def _daily_clean_up(context: BotContext) -> None:
    svc = services(context)
    await clean_up(svc.settings, svc.db)


async def _reconcile(context: BotContext) -> None:
    svc = context.bot_data.services
    if svc is not None:
        await give_up_exhausted(svc.db, context.bot, context.bot_data.tuning, svc.settings.limits.max_attempts)
        await redispatch_forgotten(svc.db, svc.dispatch, context.bot_data.tuning.stuck_after)


async def _set_commands(app: BotApplication) -> None:
    """The command menu in every language (Telegram shows the list of the app's language; English
    is the list for all others)."""
    for lang in LANGUAGES:
        await app.bot.set_my_commands([BotCommand(c, t(lang.code, f"cmd_{c}")) for c in COMMANDS],
                                      language_code=None if lang.code == EN else lang.code)


async def _start_http(app: BotApplication, svc: Services) -> None:
    """/healthz, /metrics and, in webhook mode, the update route, on the bot's own loop."""
    settings, engine, stages = svc.settings, svc.engine, svc.stages
    health: Callable[[], Awaitable[HealthReport]]
    if engine is not None and stages is not None:  # local mode: this process renders
        health = functools.partial(rendering_health, svc.db, engine, lambda: stages.render.readiness)
    else:  # the workers report their own engines; jobs reach them only through the broker
        dispatch = svc.dispatch
        broker = (functools.partial(broker_reachable, dispatch.app) if isinstance(dispatch, CeleryDispatcher)
                  else None)
        health = functools.partial(front_end_health, svc.db, broker)
    webhook = None
    if settings.telegram.mode == "webhook":
        webhook = webhook_route(settings.telegram.webhook_path, settings.telegram.webhook_secret, app)
    data: BotData = app.bot_data
    data.http = await serve_http(settings, settings.http.port, svc.db, health, webhook)


async def _post_stop(app: BotApplication) -> None:
    svc = app.bot_data.services
    if svc is not None:  # together: the graceful stop fits the grace period once
        running = (*(svc.stages.all() if svc.stages is not None else ()),
                   *((svc.forgetting,) if svc.forgetting is not None else ()))
        await asyncio.gather(*(stage.stop() for stage in running))
    killed = kill_all_ffmpeg()
    if killed:
        log.info("%d ffmpeg process(es) stopped", killed)


async def _post_shutdown(app: BotApplication) -> None:
    data: BotData = app.bot_data
    if data.http is not None:
        await data.http.stop()
        data.http = None
    if data.services is not None:
        await data.services.db.close()
        log.info("database closed")
