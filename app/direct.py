"""Statements sent straight through a session's asyncpg connection (PostgreSQL only).

Every request runs a few small lookups (the API key, the Idempotency-Key, the patient of a
submission). Through `AsyncSession.execute` each costs about six times the CPU of the
statement itself (compilation cache, parameter processing, result wrapping, a greenlet
switch); sent as SQL text on the session's own driver connection, with asyncpg's prepared
statement cache, they cost what asyncpg costs. They run on the same connection, so inside
the session's transaction when it has one.

Errors are handed to SQLAlchemy's own handling, exactly as if the statement had gone through
the session: a disconnect invalidates the connection (and the pool), and the caller sees the
same `sqlalchemy.exc` types (`OperationalError`, `IntegrityError`, …) that the unit of work
turns into 503 or 409. Callers keep a generic SQLAlchemy path for SQLite: `connection()`
returns None there.

`checkout()` hands out the same kind of driver connection straight from the engine's pool,
without a session, for a unit of work that is nothing but such statements (a single
submission, `app.submit`); its errors are translated the same way.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

_KEY = "direct_pg"


class Direct:
    """The driver connection of one session, for the duration of its current connection."""

    __slots__ = ("_driver", "_sync")

    def __init__(self, sync: Connection, driver: asyncpg.Connection) -> None:
        self._sync, self._driver = sync, driver

    @property
    def driver(self) -> asyncpg.Connection:
        return self._driver

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        try:
            rows: list[asyncpg.Record] = await self._driver.fetch(sql, *args)
            return rows
        except Exception as exc:
            await self._reraise(exc, sql, args)
            raise  # pragma: no cover - _reraise always raises

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        try:
            row: asyncpg.Record | None = await self._driver.fetchrow(sql, *args)
            return row
        except Exception as exc:
            await self._reraise(exc, sql, args)
            raise  # pragma: no cover - _reraise always raises

    async def execute(self, sql: str, *args: Any) -> None:
        try:
            await self._driver.execute(sql, *args)
        except Exception as exc:
            await self._reraise(exc, sql, args)

    async def _reraise(self, exc: Exception, sql: str, args: tuple[Any, ...]) -> None:
        """Raise what SQLAlchemy would have raised for this driver error, with the same
        side effects (invalidating a dead connection)."""
        await greenlet_spawn(_translate, self._sync, exc, sql, args)


class Pooled(Direct):
    """A driver connection checked out of the engine's pool without a session.

    Statements run in autocommit, each atomic by itself. The SQLAlchemy connection that
    translates errors (and invalidates a dead connection and the pool, as a session's
    would) is only built when a statement fails.
    """

    __slots__ = ("_engine", "_fairy")

    def __init__(self, engine: Engine, fairy: PoolProxiedConnection) -> None:
        driver = fairy.driver_connection
        assert isinstance(driver, asyncpg.Connection), "PostgreSQL pools hold asyncpg"
        self._engine, self._fairy, self._driver = engine, fairy, driver

    async def _reraise(self, exc: Exception, sql: str, args: tuple[Any, ...]) -> None:
        sync = Connection(self._engine, connection=self._fairy)
        await greenlet_spawn(_translate, sync, exc, sql, args)

    async def release(self, *, discard: bool = False) -> None:
        """Return the connection to the pool (a dead one is discarded there); `discard`
        closes it first, for a connection left in an unknown state."""
        if discard:
            self._fairy.invalidate()
        await greenlet_spawn(self._fairy.close)


def _checkout(engine: Engine) -> PoolProxiedConnection:
    # What `Connection()` does, so a failed connect raises the same SQLAlchemy error.
    try:
        return engine.raw_connection()
    except engine.dialect.loaded_dbapi.Error as err:
        Connection._handle_dbapi_exception_noconnection(err, engine.dialect, engine)
        raise


async def checkout(engine: AsyncEngine) -> Pooled:
    """A pooled PostgreSQL driver connection; `release()` it when done."""
    sync = engine.sync_engine
    return Pooled(sync, await greenlet_spawn(_checkout, sync))


def _translate(sync: Connection, exc: Exception, sql: str, args: tuple[Any, ...]) -> None:
    adapted: Any = sync.connection.dbapi_connection
    try:
        adapted._handle_exception(exc)  # asyncpg error -> the DB-API error SQLAlchemy expects
    except Exception as dbapi_error:
        sync._handle_dbapi_exception(dbapi_error, sql, args, None, None)
    raise exc  # pragma: no cover - both calls above always raise


async def connection(session: AsyncSession) -> Direct | None:
    """The session's driver connection on PostgreSQL (checked out if need be), else None."""
    info = session.sync_session.info
    direct: Direct | None = info.get(_KEY)
    if direct is not None and not direct._sync.closed and not direct._sync.invalidated:
        return direct
    if session.sync_session.get_bind().dialect.name != "postgresql":
        return None
    conn = await session.connection()
    driver = conn.sync_connection.connection.driver_connection if conn.sync_connection else None
    assert isinstance(driver, asyncpg.Connection), "PostgreSQL sessions run on asyncpg"
    assert conn.sync_connection is not None
    direct = info[_KEY] = Direct(conn.sync_connection, driver)
    return direct
