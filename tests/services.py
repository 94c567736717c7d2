"""The machine's own PostgreSQL, RabbitMQ and Redis for the scale-out tests (this machine kind and CI
start them before every run: 127.0.0.1, trust auth / guest). The one-box default never needs them;
a clone without them skips these tests with the reason in the summary."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

PG_HOST, PG_PORT = "127.0.0.1", 5432
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
REDIS_URL = "redis://127.0.0.1:6379/0"


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require(service: str, port: int) -> None:
    if not reachable("127.0.0.1", port):
        pytest.skip(f"{service} is not running on 127.0.0.1:{port}")


@asynccontextmanager
async def postgresql_database(durable: bool = True) -> AsyncIterator[str]:
    """A new, empty database for one test; its SQLAlchemy URL. Dropped afterwards.

    `durable=False`: its commits return before their WAL reaches the disk (synchronous_commit off;
    only a crash of the server could lose them): for a test making thousands of commits."""
    import asyncpg

    require("PostgreSQL", PG_PORT)
    name = f"yahey_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        if not durable:
            await admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    finally:
        await admin.close()
    try:
        yield f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
