"""Statements sent straight to the asyncpg connection (app/direct.py): PostgreSQL only, in
the session's connection, and failing with the same SQLAlchemy exceptions as the session
would — a terminated backend must still read as an outage (503), a duplicate as a conflict."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from app import direct
from app.db import make_engine, make_sessionmaker
from app.errors import is_outage


def test_direct_statements_and_their_errors(database_url: str) -> None:
    async def run() -> None:
        engine = make_engine(database_url)
        sessions = make_sessionmaker(engine)
        try:
            async with sessions() as session:
                pg = await direct.connection(session)
                if engine.dialect.name != "postgresql":
                    assert pg is None  # SQLite keeps the SQLAlchemy statements
                    return
                assert pg is not None
                assert await direct.connection(session) is pg
                row = await pg.fetchrow("SELECT $1::int + 1", 41)
                assert row is not None
                assert row[0] == 42
                # Same connection as the session: a temporary table is visible to both.
                await pg.execute("CREATE TEMPORARY TABLE direct_probe (k int PRIMARY KEY)")
                await session.execute(text("INSERT INTO direct_probe VALUES (1)"))
                assert [r[0] for r in await pg.fetch("SELECT k FROM direct_probe")] == [1]
                with pytest.raises(IntegrityError):
                    await pg.execute("INSERT INTO direct_probe VALUES (1)")
                await session.rollback()

            async with sessions() as session:
                pg = await direct.connection(session)
                assert pg is not None
                with pytest.raises(DBAPIError) as caught:
                    await pg.fetchrow("SELECT pg_terminate_backend(pg_backend_pid())")
                assert is_outage(caught.value)
                await session.rollback()

            # The dead connection was invalidated: the next session gets a working one.
            async with sessions() as session:
                pg = await direct.connection(session)
                assert pg is not None
                row = await pg.fetchrow("SELECT 1")
                assert row is not None
                assert row[0] == 1
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_pooled_connection_without_a_session(database_url: str) -> None:
    """`direct.checkout`: a driver connection from the engine's pool, no session, with the
    same error translation (single submissions use it on PostgreSQL)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the sessionless path is PostgreSQL's; SQLite always uses a session")

    async def run() -> None:
        engine = make_engine(database_url, pool_size=1, max_overflow=0)
        try:
            conn = await direct.checkout(engine)
            row = await conn.fetchrow("SELECT $1::int + 1", 1)
            assert row is not None
            assert row[0] == 2
            await conn.execute("CREATE TEMPORARY TABLE pooled_probe (k int PRIMARY KEY)")
            await conn.execute("INSERT INTO pooled_probe VALUES (1)")  # autocommit
            with pytest.raises(IntegrityError):
                await conn.execute("INSERT INTO pooled_probe VALUES (1)")
            assert [r[0] for r in await conn.fetch("SELECT k FROM pooled_probe")] == [1]
            await conn.release()

            conn = await direct.checkout(engine)  # the same connection (pool of one)
            assert await conn.fetch("SELECT k FROM pooled_probe")
            with pytest.raises(DBAPIError) as caught:
                await conn.fetchrow("SELECT pg_terminate_backend(pg_backend_pid())")
            assert is_outage(caught.value)
            await conn.release()

            conn = await direct.checkout(engine)  # the dead one was replaced
            gone = await conn.fetchrow("SELECT to_regclass('pg_temp.pooled_probe') IS NULL")
            assert gone is not None
            assert gone[0]
            await conn.execute("CREATE TEMPORARY TABLE pooled_probe (k int PRIMARY KEY)")
            await conn.release(discard=True)  # closed, not returned

            conn = await direct.checkout(engine)
            with pytest.raises(DBAPIError):  # a new connection: its temporary table is gone
                await conn.fetch("SELECT k FROM pooled_probe")
            await conn.release()
        finally:
            await engine.dispose()

    asyncio.run(run())
