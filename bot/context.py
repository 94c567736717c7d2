"""What the handlers share, typed: PTB's `bot_data` is a `BotData`, its `services` the running parts.

Handlers take `context: BotContext` and reach everything through `services(context)`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, JobQueue

from bot.flood_control import FloodControl, PressLimit
from bot.keyed_locks import KeyedLocks
from bot.photo_ref import PhotoRef
from engine import RenderOptions
from ops.http_server import HttpServer
from pipeline.assembly import Stages
from pipeline.dispatch import Dispatcher
from pipeline.renderer import Renderer
from pipeline.stage_base import StageLoop
from pipeline.tuning import Tuning
from settings import Settings
from storage import Database
from storage.jobs import Limits


class AlbumGatherer(Protocol):
    """bot/albums.py's AlbumCollector: an album's photos, gathered until no more come."""

    def add(self, job_queue: JobQueue[Any], group_id: str, chat_id: int, user_id: int, lang: str,
            ref: PhotoRef) -> None: ...


@dataclass
class Services:
    settings: Settings
    db: Database
    engine: Renderer | None  # None when workers render (`[queue].backend = "celery"`)
    options: RenderOptions
    dispatch: Dispatcher
    stages: Stages | None  # None when workers render
    flood: FloodControl
    decode_slots: asyncio.Semaphore  # full-size image decodes at once (they compete with the render)
    albums: AlbumGatherer
    # /grid per chat: its message is known to the database only after Telegram answers the send,
    # and a reply to it may arrive first; edits of one collecting message one at a time
    grid_chats: KeyedLocks = field(default_factory=KeyedLocks)
    # Presses of the conversion buttons, per user: a token bucket, and one request at a time
    conversion_presses: PressLimit = field(default_factory=PressLimit)
    conversion_users: KeyedLocks = field(default_factory=KeyedLocks)
    forgetting: StageLoop[Any] | None = None  # works through confirmed /forget requests
    started_at: float = field(default_factory=time.monotonic)

    @property
    def templates_dir(self) -> Path:
        return self.settings.templates.dir

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.telegram.admins

    def limits_for(self, user_id: int) -> Limits:
        lim = self.settings.limits
        return Limits(max_queue=lim.max_queue, daily_quota=lim.daily_quota, exempt=self.is_admin(user_id))


class BotData:
    """application.bot_data. `settings` (and, for tests, a prebuilt `engine`) are set when the
    Application is built; `services` once post_init has started everything."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.engine: Renderer | None = None
        self.tuning: Tuning = Tuning()
        self.services: Services | None = None
        self.http: HttpServer | None = None


# ExtBot[int]: the AIORateLimiter's per-call arguments are ints (its max_retries).
BotContext = CallbackContext[ExtBot[int], dict[Any, Any], dict[Any, Any], BotData]
CONTEXT_TYPES = ContextTypes(bot_data=BotData)
BotApplication = Application[ExtBot[int], BotContext, dict[Any, Any], dict[Any, Any], BotData, JobQueue[BotContext]]


def services(context: BotContext) -> Services:
    svc = context.bot_data.services
    if svc is None:  # an update before post_init finished cannot happen: PTB starts handlers after it
        raise RuntimeError("the bot's services are not started")
    return svc
