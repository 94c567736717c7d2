"""A worker's asyncio side, in its own thread: the database, a Bot, the engine, the three stages,
and /healthz + /metrics. Celery's task threads hand it coroutines (`call`) and wait for them.

The engine is loaded and every template's motion prepared before the worker takes its first task,
so a task never waits for the model. The delivery stage runs its own loop: it sends what this
worker rendered at once, and any parked delivery it finds due.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram.ext import AIORateLimiter, ExtBot

from ops import metrics
from ops.health import rendering_health
from ops.process import open_database, serve_http
from pipeline.assembly import Stages, make_stages, stage_owner
from pipeline.bot_api import bot_api_requests
from pipeline.dispatch import CeleryDispatcher, make_celery
from pipeline.housekeeping import clean_files
from pipeline.renderer import Renderer, renderer_from_settings
from pipeline.tuning import Tuning
from settings import Settings
from storage import Database

log = logging.getLogger(__name__)
T = TypeVar("T")


class WorkerFailed(Exception):
    """The worker cannot take tasks (its model failed to load); the message is one line."""


class WorkerRuntime:
    def __init__(self, settings: Settings, tuning: Tuning | None = None, engine: Renderer | None = None,
                 http_port: int = 0) -> None:
        self.settings = settings
        self.tuning = tuning or Tuning()
        self.engine = engine
        self.http_port = http_port
        self.name = stage_owner()  # its leases' owner
        self.stages: Stages | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._failure: str | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._thread_main, name="worker-runtime", daemon=True)

    # --- from the main thread ----------------------------------------------------------------------
    def start(self) -> None:
        """Start and wait until the model and the templates are ready; WorkerFailed if they cannot be."""
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise WorkerFailed(self._failure)

    def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine on the runtime's loop and wait for its result (from a Celery task thread)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(self._wrap(make), self._loop).result()

    @staticmethod
    async def _wrap(make: Callable[[], Awaitable[T]]) -> T:
        return await make()

    def interrupt(self) -> None:
        """A shutdown began: running jobs stop at their next step and go back in line (thread-safe)."""
        if self._loop is not None and self.stages is not None:
            for stage in self.stages.all():
                self._loop.call_soon_threadsafe(stage.interrupt)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=self.tuning.stop_timeout + 30)

    # --- the runtime's own thread ------------------------------------------------------------------
    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as err:  # noqa: BLE001 - reported to start() as one line
            log.exception("worker runtime failed")
            self._failure = self._failure or f"worker failed: {err}"
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        settings = self.settings
        db = await open_database(settings)
        bot = self._bot()
        await bot.initialize()  # getMe: the bot's username names sticker packs
        engine = self.engine or renderer_from_settings(settings)
        self.stages = stages = make_stages(bot, db, engine, settings, self.tuning, self.name)
        dispatch = CeleryDispatcher(make_celery(settings), settings, wake_deliver=stages.delivery.wake)
        stages.render.redispatch = dispatch.render
        stages.conversion.redispatch = dispatch.convert
        if self.http_port:  # the engine's series, before its stage reports
            metrics.set_engine_info("loading", None, None, None)
        http = await serve_http(settings, self.http_port, db, functools.partial(
            rendering_health, db, engine, lambda: stages.render.readiness))
        try:
            if not await stages.render.before_first_claim():
                self._failure = f"the model failed to load: {engine.status.detail}"
                return
            stages.delivery.start()
            sweeping = asyncio.create_task(self._clean_files_daily(db), name="clean-files")
            log.info("worker %s ready (%s)", self.name, engine.status.runner)
            self._ready.set()
            await self._stop.wait()
            sweeping.cancel()
            await asyncio.gather(sweeping, return_exceptions=True)
            await asyncio.gather(*(stage.stop() for stage in stages.all()))
        finally:
            if http is not None:
                await http.stop()
            await bot.shutdown()
            await db.close()

    async def _clean_files_daily(self, db: Database) -> None:
        """This host's data folder past retention, and files whose rows are gone (the bot deletes
        rows: by retention or a /forget), like the bot's daily clean-up does for its own."""
        assert self._stop is not None
        wait = self.tuning.clean_up_first.total_seconds()
        while True:
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=wait)
                return
            except TimeoutError:
                pass
            try:
                removed = await clean_files(self.settings, db)
                log.info("clean-up: %d file(s) removed from %s", removed, self.settings.storage.data_dir)
            except Exception:  # a failed sweep is tried again next time
                log.exception("clean-up failed")
            wait = self.tuning.clean_up_every.total_seconds()

    def _bot(self) -> ExtBot[int]:
        tg = self.settings.telegram
        request, get_updates_request = bot_api_requests(tg, connection_pool_size=16)
        return ExtBot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url, request=request,
                      get_updates_request=get_updates_request, rate_limiter=AIORateLimiter(max_retries=0))
