"""The one place the simulation touches the storage and pipeline API: building a host's stages,
claims and who holds a job, queueing jobs, cancel, start-up, the reconciler, reading the table.
When the state machine's API changes, this module changes; the world, the fakes and the
invariants do not.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiosqlite
import aiosqlite.core
import pytest
from sqlalchemy import DateTime, literal, select

import storage.models
from engine import OutputKind
from pipeline import (
    conversion_stage,
    delivery_stage,
    job_run,
    own_templates,
    render_stage,
    stage_base,
    telegram_calls,
    template_jobs,
)
from pipeline.assembly import Stages, make_stages
from pipeline.reconciler import redispatch_forgotten
from pipeline.stage_base import Stage
from pipeline.tuning import Tuning
from settings import Settings
from storage import Database, Job, JobKind, jobs
from storage.codecs import GridInput
from storage.jobs import Limits, NewJob
from storage.models import FINISHED_STATUSES
from tests.pipeline.sim_fakes import FakeEngine
from tests.pipeline.sim_world import AsyncioShim, World

EXEMPT = Limits(max_queue=10_000, daily_quota=10_000, exempt=True)

# The modules whose `asyncio` the simulation replaces (sleeps, waits, threads, slots become gates).
_STAGE_MODULES = (stage_base, job_run, render_stage, conversion_stage, delivery_stage, template_jobs,
                  telegram_calls, own_templates)


def install(monkeypatch: pytest.MonkeyPatch, world: World, engine: FakeEngine) -> None:
    for module in _STAGE_MODULES:
        if not hasattr(module, "asyncio"):
            continue
        # The render's progress line ticks every second; every 10 virtual seconds is as good a test
        # (it only edits the status message) and makes ten times fewer steps.
        min_sleep = 10.0 if module is render_stage else 0.0
        monkeypatch.setattr(module, "asyncio", AsyncioShim(module.__name__, min_sleep))
    monkeypatch.setattr(conversion_stage, "convert", engine.convert)
    monkeypatch.setattr(template_jobs, "import_template", engine.import_template)
    monkeypatch.setattr(storage.models, "clock", world.clock)
    _inline_sqlite(monkeypatch)


def _takes_write_lock(sql: str) -> bool:
    """Whether a statement may take SQLite's write lock (a DEFERRED BEGIN or a SELECT does not)."""
    head = sql.lstrip()[:16].upper()
    if head.startswith("BEGIN"):
        return "IMMEDIATE" in head or "EXCLUSIVE" in head
    return not head.startswith(("SELECT", "COMMIT", "ROLLBACK", "END"))


def _inline_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite: aiosqlite's calls run in the calling task, not on the connection's thread.

    The statements, the transactions, the locks and the database are the same; only the hop to
    a thread and back (most of the CPU time of a step) is gone, and with it the one source of
    disorder left: two tasks runnable at once (a process starting its stages) took turns as their
    threads happened to answer, so a long walk's order could differ from one run to the next.
    While another connection holds the write lock (a task waits inside a write transaction), a
    call goes to its thread as before: run inline, it could hold the event loop through SQLite's
    busy wait for a lock that only the waiting task can release. (A read transaction left open,
    a session whose close is still to run, blocks no one under WAL.)"""
    writing: set[aiosqlite.Connection] = set()  # took, or may have taken, the write lock in their transaction
    on_thread: set[aiosqlite.Connection] = set()  # a call of theirs runs on their thread now
    connect, threaded = aiosqlite.connect, aiosqlite.core.Connection._execute

    def connecting(*args: Any, **kwargs: Any) -> aiosqlite.Connection:
        kwargs["check_same_thread"] = False  # opened on its thread, then used from the event loop's
        return connect(*args, **kwargs)

    def locked_elsewhere(self: aiosqlite.Connection) -> bool:
        if on_thread - {self}:
            return True
        for other in writing:
            raw = other._connection
            if other is not self and raw is not None and raw.in_transaction:
                return True
        return False

    async def execute(self: aiosqlite.Connection, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if not self._connection.in_transaction:
            writing.discard(self)
        if args and isinstance(args[0], str) and _takes_write_lock(args[0]):
            writing.add(self)  # a writer until its transaction ends
        if (writing or on_thread) and locked_elsewhere(self):
            on_thread.add(self)
            try:
                return await threaded(self, fn, *args, **kwargs)
            finally:
                on_thread.discard(self)
        return fn(*args, **kwargs)

    monkeypatch.setattr(aiosqlite, "connect", connecting)
    monkeypatch.setattr(aiosqlite.core.Connection, "_execute", execute)


def tuning() -> Tuning:
    return Tuning()


def longest_job(settings: Settings) -> float:
    """Seconds within which every job ends, whatever happens to it: the render side's and the
    delivery side's deadlines, every attempt's lease run out, and an hour for restarts and the queue."""
    q, limits = settings.queue, settings.limits
    return (2 * limits.delivery_deadline_hours * 3600 + limits.max_attempts * q.render_lease_seconds
            + limits.max_delivery_attempts * q.delivery_lease_seconds + 3600)


_DB_NOW: list[datetime] = []  # the simulation's true time: what the database's clock reads


async def set_db_clock(db: Database, now: datetime) -> None:
    """Leases are on the database's clock (SQL now()): keep it at the simulation's true time."""
    _DB_NOW[:] = [now]


async def prepare_db(db: Database) -> None:
    """The database's clock, read by every claim, renewal and comparison (Database.now), becomes
    the simulation's true time, exactly: SQL now() would add the real time a step takes, and
    two stages waiting for the same lease would wake in either order from one run to the next."""

    def now(seconds: float = 0.0) -> Any:
        return literal(_DB_NOW[0] + timedelta(seconds=seconds + db.clock_offset), DateTime())

    db.now = now  # type: ignore[method-assign]


@dataclass(frozen=True)
class Row:
    """What the invariants read of a job (`Reader.rows`)."""

    id: int
    kind: str
    status: str
    attempts: int
    holder: str | None  # the claim holding it (its token)
    lease_until: datetime | None
    next_attempt_at: datetime | None
    finished: bool
    source_message_id: int
    delivery_attempts: int


_ROW_COLUMNS = ("id, kind, status, attempts, claim_token, lease_until, next_attempt_at, source_message_id, "
                "delivery_attempts")


def _row(r: Any, when: Callable[[Any], datetime | None]) -> Row:
    return Row(int(r[0]), str(r[1]), str(r[2]), int(r[3] or 0), r[4], when(r[5]), when(r[6]),
               str(r[2]) in FINISHED_STATUSES, int(r[7]), int(r[8] or 0))


def _sqlite_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _pg_time(value: datetime | None) -> datetime | None:
    return value


class Reader:
    """What the invariants read of the jobs table (`snapshot`'s rows), on a connection of their own
    outside SQLAlchemy: read after every step, a session, a pool checkout and a statement built
    each time cost as much as the stages' own work. The latest committed rows, as a new session
    reads them (SQLite: autocommit under WAL; PostgreSQL: autocommit, READ COMMITTED)."""

    def __init__(self, db: Database) -> None:
        self._url = db.engine.url
        self._sqlite: sqlite3.Connection | None = None
        self._pg: Any = None

    async def open(self) -> None:
        url = self._url
        if url.get_backend_name() == "sqlite":
            self._sqlite = sqlite3.connect(str(url.database), isolation_level=None)
            return
        import asyncpg

        self._pg = await asyncpg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                                         database=url.database)
        self._pg_query = await self._pg.prepare(f"SELECT {_ROW_COLUMNS} FROM jobs WHERE id = ANY($1::bigint[])")

    async def rows(self, ids: list[int]) -> dict[int, Row]:
        if self._sqlite is not None:
            found = self._sqlite.execute(f"SELECT {_ROW_COLUMNS} FROM jobs WHERE id IN ({','.join('?' * len(ids))})",
                                         ids).fetchall()
            return {int(r[0]): _row(r, _sqlite_time) for r in found}
        return {int(r[0]): _row(r, _pg_time) for r in await self._pg_query.fetch(ids)}

    async def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._pg is not None:
            await self._pg.close()
            self._pg = None


def claim_key(stage: Stage, job: Any) -> str | None:
    """What a stage's claim writes as the job's holder: the claim's own token."""
    return str(job.claim)


def claimed_id(job: Any) -> int:
    return int(job.id)


# --- a host's stages ------------------------------------------------------------------------------
ClaimHook = Callable[[Stage, str, Any, int | None], Any]  # (stage, stage name, job or None, job_id) -> record


def build_stages(bot: Any, db: Database, engine: FakeEngine, settings: Settings, tune: Tuning, owner: str,
                 on_claim: ClaimHook, run_claimed: Callable[[Any, Callable[[], Awaitable[None]]], Awaitable[None]],
                 redispatch: Callable[[str, int, datetime | None], None] | None) -> Stages:
    """The real stages of one process, their claims and work reported to the simulation."""
    stages = make_stages(bot, db, engine, settings, tune, owner)  # type: ignore[arg-type]

    async def ready() -> bool:  # the model "loads" at once
        return True

    stages.render.before_first_claim = ready  # type: ignore[method-assign]
    for stage, name in ((stages.render, "render"), (stages.conversion, "conversion"), (stages.delivery, "delivery")):
        _wrap(stage, name, on_claim, run_claimed)
    if redispatch is not None:
        stages.render.redispatch = lambda job_id, at: redispatch("render", job_id, at)
        stages.conversion.redispatch = lambda job_id, at: redispatch("conversion", job_id, at)
    return stages


def _wrap(stage: Stage, name: str, on_claim: ClaimHook,
          run_claimed: Callable[[Any, Callable[[], Awaitable[None]]], Awaitable[None]]) -> None:
    claim, work = stage.claim, stage.work_on
    records: dict[int, Any] = {}

    async def claiming(job_id: int | None = None) -> Any:
        job = await claim(job_id)
        record = on_claim(stage, name, job, job_id)
        if job is not None:
            records[id(job)] = record
        return job

    async def working(job: Any) -> None:
        record = records.pop(id(job), None)
        await run_claimed(record, lambda: work(job))

    stage.claim = claiming  # type: ignore[method-assign]
    stage.work_on = working  # type: ignore[method-assign]


def start_loops(stages: Stages, one_box: bool) -> None:
    """One box: every stage runs its loop. Workers: renders and conversions come as tasks; the
    delivery stage runs its loop."""
    if one_box:
        stages.render.start()
        stages.conversion.start()
    stages.delivery.start()


async def on_start(db: Database, one_box: bool, settings: Settings) -> None:
    """What a process does with the database before its stages start (bot/app.py)."""
    if one_box:
        await jobs.release_all_leases(db, settings.limits.max_attempts)


async def run_dispatched(stages: Stages, stage: str, job_id: int) -> float | None:
    """A Celery task of the worker (worker/tasks.py): None when done, else retry in seconds."""
    return await (stages.render if stage == "render" else stages.conversion).run_dispatched(job_id)


def cancel_here(stages: Stages | None, job_id: int) -> None:
    if stages is not None:
        stages.cancel(job_id)


async def reconcile(db: Database, dispatch: Any, waited: timedelta) -> int:
    return await redispatch_forgotten(db, dispatch, waited)


# --- jobs as the front end queues them --------------------------------------------------------------
def _new(user: int, key: int, kind: JobKind, **more: Any) -> NewJob:
    return NewJob(user_id=user, chat_id=user, source_message_id=key, input_file_id=f"in-{key}",
                  input_file_unique_id=f"u-{key}", kind=kind, status_message_id=key + 1, **more)


async def queue_render(db: Database, user: int, key: int, template_id: str) -> int:
    job, _ = await jobs.enqueue(db, _new(user, key, JobKind.RENDER, template_id=template_id,
                                         result_key="k"), EXEMPT)
    return int(job.id)


async def queue_grid(db: Database, user: int, key: int, template_id: str, photos: int) -> int:
    inputs = tuple(GridInput(file_id=f"in-{key}-{n}", file_unique_id=f"u-{key}-{n}") for n in range(photos))
    job, _ = await jobs.enqueue(db, _new(user, key, JobKind.GRID, template_id=template_id, inputs=inputs,
                                         cost=photos), EXEMPT)
    return int(job.id)


async def queue_template_import(db: Database, user: int, key: int) -> int:
    job, _ = await jobs.enqueue(db, _new(user, key, JobKind.TEMPLATE_IMPORT, template_title=f"t{key}"), EXEMPT)
    return int(job.id)


async def queue_conversion(db: Database, user: int, key: int, parent_id: int, output: OutputKind) -> int:
    job = await jobs.add(db, _new(user, key, JobKind.CONVERT, parent_job_id=parent_id, output_kind=output))
    return int(job.id)


async def queue_cached(db: Database, user: int, key: int, source_id: int) -> int | None:
    source = await jobs.get(db, source_id)
    if source is None or source.result_file_id is None:
        return None
    job = await jobs.record_cached(db, _new(user, key, JobKind.RENDER, result_key="k"), source)
    return int(job.id)


async def delivered_renders(db: Database) -> list[tuple[int, bool]]:
    """(id, has a file on disk) of done renders: what conversions and cached answers start from."""
    async with db.read() as session:
        rows = (await session.execute(select(Job.id, Job.result_path).where(
            Job.status == "done", Job.kind == JobKind.RENDER, Job.result_file_id.is_not(None),
            Job.from_cache.is_(False)).order_by(Job.id.desc()).limit(20))).all()
    return [(int(i), bool(p)) for i, p in rows]


async def cancel(db: Database, user: int) -> int | None:
    job = await jobs.request_cancel(db, user)
    return int(job.id) if job is not None else None


async def job_user(db: Database, job_id: int) -> int:
    async with db.read() as session:
        return int((await session.execute(select(Job.user_id).where(Job.id == job_id))).scalar_one())
