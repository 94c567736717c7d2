"""What the handlers share: settings, database, engine, worker. Kept in application.bot_data."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from telegram.ext import ContextTypes

from settings import Settings
from storage import Database
from storage.jobs import Limits

if TYPE_CHECKING:
    from bot.worker import Worker
    from engine import Engine

KEY = "services"


@dataclass
class Services:
    settings: Settings
    db: Database
    engine: Engine
    worker: Worker
    started_at: float = field(default_factory=time.monotonic)

    @property
    def templates_dir(self) -> Path:
        return self.settings.templates.dir

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.telegram.admins

    def limits_for(self, user_id: int) -> Limits:
        lim = self.settings.limits
        return Limits(max_queue=lim.max_queue, daily_quota=lim.daily_quota, exempt=self.is_admin(user_id))


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.application.bot_data[KEY]
