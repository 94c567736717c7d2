"""The database handle: SQLite (the one-box default, WAL mode, write transactions BEGIN IMMEDIATE)
or PostgreSQL (several processes: render workers on other hosts), behind the same two sessions.

Why IMMEDIATE: a plain (deferred) SQLite transaction takes the write lock only at its first write;
two such transactions that both read then write deadlock, and SQLite answers one of them at once
with "database is locked" (the busy timeout cannot help there). BEGIN IMMEDIATE takes the write
lock up front, so concurrent writers queue on the busy timeout instead. Read-only sessions keep a
deferred BEGIN: under WAL they never block anyone.

On PostgreSQL writers run at READ COMMITTED; what must not race there says so itself: claims use
FOR UPDATE SKIP LOCKED and conditional UPDATEs (storage/jobs.py), and checks that read before they
write (the queue cap, one pending job per user) take `serialize()`'s transaction-scoped lock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from storage.clock import db_time

BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another writer's lock before failing
_BEGIN_OPTION = "sqlite_begin"  # execution option read by the "begin" listener


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _is_postgresql(url: str) -> bool:
    return url.startswith("postgresql")


def _install_sqlite_listeners(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the driver: we emit our own in _on_begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, fast commits
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """One per process. `read()` for queries, `write()` for anything that changes rows."""

    def __init__(self, url: str) -> None:
        self.url = url
        # Tests and simulations: how far this handle's view of the database's clock is moved (a
        # lease running out, a parked job coming due) without waiting for it.
        self.clock_offset = 0.0
        self.is_sqlite = _is_sqlite(url)
        self.is_postgresql = _is_postgresql(url)
        if self.is_sqlite:
            self.engine: AsyncEngine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
            _install_sqlite_listeners(self.engine)
            writer = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})  # same pool
        else:  # a server: connections can go stale across its restarts
            self.engine = create_async_engine(url, pool_pre_ping=True)
            writer = self.engine
        self.writer_engine: AsyncEngine = writer  # on SQLite its transactions begin IMMEDIATE
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(writer, expire_on_commit=False)

    def now(self, seconds: float = 0.0) -> db_time:
        """The database's clock plus `seconds`, for use inside SQL (storage/clock.py)."""
        return db_time(seconds + self.clock_offset)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction (IMMEDIATE on SQLite), committed on normal exit, rolled back
        on error."""
        async with self._write() as session, session.begin():
            yield session

    async def serialize(self, session: AsyncSession | AsyncConnection, name: str) -> None:
        """Make this write transaction the only one holding `name` until it ends (PostgreSQL; on
        SQLite every write transaction is already alone)."""
        if self.is_postgresql:
            await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})

    async def ping(self) -> bool:
        """True when a trivial query succeeds (health checks)."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # any driver error means "unreachable" to a health check
            return False

    async def journal_mode(self) -> str:
        """SQLite's journal mode ("wal"); other databases have none."""
        if not self.is_sqlite:
            return ""
        async with self.engine.connect() as conn:
            return str((await conn.execute(text("PRAGMA journal_mode"))).scalar_one())

    async def close(self) -> None:
        await self.engine.dispose()
