"""The one health report of every process (/healthz, ops/http_server.py's HealthReport): a process that renders
(the bot in local mode, each worker) reports its engine and the start-up preparation; the bot in
queue mode, which renders nothing, reports the broker the workers are reached through."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from engine import EngineStatus
from ops.http_server import HealthReport
from storage import Database, jobs

BROKER_TIMEOUT_S = 3.0  # /healthz's connection to the broker; the whole check has 5 s


class Engined(Protocol):
    """What renders (the engine, or a stand-in for it): its state, as the health report shows it."""

    @property
    def status(self) -> EngineStatus: ...


class Preparation(Protocol):
    """The render stage's start-up preparation (pipeline/render_stage.py Readiness)."""

    @property
    def step(self) -> str: ...

    @property
    def fraction(self) -> float: ...


async def rendering_health(db: Database, engine: Engined, preparation: Callable[[], Preparation]) -> HealthReport:
    """A process that renders: the engine's state and how far the preparation is (`preparation`
    is asked at each check: the stage replaces its readiness as it goes)."""
    database, queue = await db.ping(), await jobs.queue_length(db)
    status, ready = engine.status, preparation()
    return HealthReport(database=database, engine_state=status.state, queue=queue, runner=status.runner,
                        precision=status.precision, device=status.device, detail=status.detail,
                        step=ready.step, progress=round(ready.fraction, 3))


async def front_end_health(db: Database, broker_reachable: Callable[[float], bool] | None) -> HealthReport:
    """The bot in queue mode: the workers report their own engines; jobs reach them only through
    the broker, whose reachability (`broker_reachable(timeout_s)`, blocking) is checked when given."""
    database, queue = await db.ping(), await jobs.queue_length(db)
    broker = None
    if broker_reachable is not None:
        broker = await asyncio.to_thread(broker_reachable, BROKER_TIMEOUT_S)
    return HealthReport(database=database, engine_state="workers", queue=queue, broker=broker)
