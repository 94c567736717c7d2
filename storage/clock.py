"""The database's clock: one time for every host.

Leases, parked jobs and the takeover of a dead stage's job compare times written by different
hosts; a host whose clock is two minutes behind would otherwise see live leases as expired (or keep
dead ones). So every such time is the database's: `db_time(seconds)` is "the database's now, plus
`seconds`", written into the SQL, as naive UTC like every other time in the schema
(storage/models.py).

SQLite: `strftime('%Y-%m-%d %H:%M:%f', 'now', '+N seconds')` is UTC text with milliseconds,
padded to SQLAlchemy's six-digit storage format so that text comparisons with stored values hold.
PostgreSQL: `timezone('utc', statement_timestamp())` plus an interval.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class db_time(FunctionElement[datetime]):  # noqa: N801 - reads like the SQL function it stands for
    """The database's current UTC time plus `seconds` (may be negative)."""

    type = DateTime()
    inherit_cache = True
    name = "db_time"

    def __init__(self, seconds: float = 0.0) -> None:
        super().__init__(bindparam(None, float(seconds), type_=Float()))


def _offset(element: db_time, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(next(iter(element.clauses)), **kw)


@compiles(db_time, "sqlite")
def _sqlite(element: db_time, compiler: SQLCompiler, **kw: Any) -> str:
    # The modifier is text ('12.5 seconds'); '000' pads milliseconds to microseconds.
    return (f"(strftime('%Y-%m-%d %H:%M:%f', 'now', CAST({_offset(element, compiler, **kw)} AS TEXT)"
            " || ' seconds') || '000')")


@compiles(db_time, "postgresql")
def _postgresql(element: db_time, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(timezone('utc', statement_timestamp()) + make_interval(secs => {_offset(element, compiler, **kw)}))"


@compiles(db_time)
def _other(element: db_time, compiler: SQLCompiler, **kw: Any) -> str:
    raise NotImplementedError(f"db_time on {compiler.dialect.name}: SQLite and PostgreSQL only")
