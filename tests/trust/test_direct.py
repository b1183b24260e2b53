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
