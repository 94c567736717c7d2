"""The start-up every process shares (`python -m bot`, `python -m worker`): the checked config,
logging with the token masked, Paddle imported before the stop signals are hooked, the database
opened and migrated, and /healthz + /metrics served.

A config or start-up check that fails is one line on stderr and exit code 2 (`refuse`)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from ops import metrics
from ops.http_server import HealthReport, HttpServer, WebhookRoute, start_http_server
from ops.log_masking import setup_logging
from ops.startup_checks import checked_settings
from settings import Settings
from storage import Database, make_database, upgrade_to_head

CONFIG_ERROR_EXIT = 2


def begin(config: str | Path | None, renders_here: bool | None = None) -> Settings:
    """The checked config (StartupError when it cannot start, ops/startup_checks.py), then the
    logging set up with its token masked. `renders_here` None: as `[queue].backend` says."""
    settings = checked_settings(config, renders_here)
    setup_logging(settings.logging.level, settings.telegram.token)
    return settings


def refuse(reason: object, code: int = CONFIG_ERROR_EXIT) -> int:
    """Say why the process does not start (a StartupError, a line), on one line; give its exit code."""
    print(f"error: {reason}", file=sys.stderr)
    return code


def import_paddle_early(settings: Settings, *, always: bool) -> None:
    """Paddle installs its own C-level SIGTERM handler when first imported: imported before the
    process hooks its stop signals, SIGTERM stays a graceful stop. `always` False: only when this
    process's runner needs Paddle (a CPU host with a converted OpenVINO model never imports it)."""
    from engine.model.choose import needs_paddle
    from engine.model.paddle_compat import import_paddle

    cfg = settings.engine
    if always or needs_paddle(cfg.device, cfg.checkpoint, cfg.cache_dir, cfg.batch_size):
        import_paddle(cfg.threads)


async def open_database(settings: Settings) -> Database:
    """The database, migrated to head (processes starting at once: the migration serialises them)."""
    settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    db = make_database(settings)
    await upgrade_to_head(db)
    return db


async def serve_http(settings: Settings, port: int, db: Database, health: Callable[[], Awaitable[HealthReport]],
                     webhook: WebhookRoute | None = None) -> HttpServer | None:
    """/healthz (`health`), /metrics (the queue counted at each scrape) and the webhook route on
    [http].host:`port`, on the running loop; None when `port` is 0 (off)."""
    if port == 0:
        return None
    return await start_http_server(settings.http.host, port, health, webhook,
                                   on_scrape=functools.partial(metrics.count_queue, db))
