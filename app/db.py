"""Database plumbing: URL normalisation, engines, portable column types, naming conventions."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

JSONType = JSON().with_variant(JSONB(), "postgresql")


def async_url(raw: str) -> URL:
    """Accept the plain URLs users paste and pick the async driver ourselves."""
    url = make_url(raw)
    backend = url.get_backend_name()
    if backend in ("postgres", "postgresql"):
        query = dict(url.query)
        sslmode = query.pop("sslmode", None)
        if sslmode is not None:
            query["ssl"] = sslmode
        return url.set(drivername="postgresql+asyncpg", query=query)
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    raise ValueError(f"unsupported database URL scheme: {url.drivername}")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware instants stored as UTC on every dialect.

    SQLite has no time zone type, so values are normalised to naive UTC there and given
    their zone back on the way out; PostgreSQL keeps `timestamptz`.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the database layer")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        assert isinstance(when, dt.datetime)
        if when.tzinfo is None:
            return when.replace(tzinfo=dt.UTC)
        return when.astimezone(dt.UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # WAL lets readers run beside the single writer; FULL sync makes an acknowledged
    # commit survive power loss, not only a process crash.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


IDLE_PING_SECONDS = 2.0


def _stamp_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Check a pooled connection before use only if it sat idle for a while.

    SQLAlchemy's `pool_pre_ping` costs three round trips (BEGIN, ping, ROLLBACK with
    asyncpg) on every checkout, which would double the cost of a submission. A connection
    back from a request a moment ago is known good; one that idled may have been cut by a
    database restart, so it is pinged, and a failed ping makes the pool open a fresh one.
    Errors on a connection in use still invalidate the whole pool (SQLAlchemy's disconnect
    handling), so the service recovers by itself either way.
    """
    since = record.info.get("idle_since")
    if since is not None and time.monotonic() - since < IDLE_PING_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as exc:
        raise DisconnectionError("stale pooled connection") from exc


# Seconds a statement may run on PostgreSQL before the client gives up on it (the request
# then answers 503), unless the engine's maker says otherwise.
COMMAND_TIMEOUT = 60.0


def make_engine(
    raw_url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    command_timeout: float | None = COMMAND_TIMEOUT,
    pool_timeout: float = 10,
) -> AsyncEngine:
    """One engine per process. SQL parameters are kept out of error messages, so no
    clinical value can reach a log through an exception.

    ``command_timeout`` bounds each statement of a request, so that a stuck database frees
    its connections; None removes the bound, for work whose statements grow with the
    registry (exports, bulk loads), which an operator or a reader's download paces instead.
    """
    url = async_url(raw_url)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 10}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        hide_parameters=True,
        connect_args={"timeout": 5, "command_timeout": command_timeout},
    )
    event.listen(engine.sync_engine, "checkin", _stamp_checkin)
    event.listen(engine.sync_engine, "checkout", _ping_if_idle)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
