"""Write a chunk's staged rows with binary COPY on PostgreSQL, just before its commit.

The services stage the rows (app.services.staging); at the demo's volume (tens of thousands
of rows per transaction) COPY sends them with a fraction of the client and server work of
the `unnest` INSERT the stage would otherwise run at commit. Same rows, same order (parents
before children), same transaction; on SQLite the stage writes them as usual.
"""

from __future__ import annotations

import json
import operator
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import JSON

from app.services import staging

_json = json.JSONEncoder(default=str).encode  # json.dumps(v, default=str), built once


def _taken(session: AsyncSession) -> list[tuple[Table, list[dict[str, Any]]]]:
    """The rows staged so far, removed from the stage (which then has nothing to write)."""
    staged: list[tuple[Table, list[dict[str, Any]]]]
    staged = staging.take(session)
    return staged


def _records(table: Table, rows: list[dict[str, Any]]) -> tuple[list[str], list[Any]]:
    """Column names and one tuple per row; JSON values as text, as the stage sends them."""
    names = list(rows[0])
    values = operator.itemgetter(*names)
    records = [values(row) for row in rows]
    for i in [i for i, n in enumerate(names) if isinstance(table.c[n].type, JSON)]:
        for r, record in enumerate(records):
            if record[i] is not None:
                records[r] = (*record[:i], _json(record[i]), *record[i + 1 :])
    return names, records


async def write_staged(session: AsyncSession) -> None:
    """COPY every staged row now (PostgreSQL only; elsewhere the commit writes them)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    staged = _taken(session)
    if not staged:
        return
    await session.flush()  # ORM-added rows first: staged rows may reference them
    # A synthetic cohort need not wait for each commit's WAL flush; this statement also
    # opens the database transaction that the COPYs below join (the driver opens it lazily).
    await session.execute(text("SET LOCAL synchronous_commit = off"))
    connection = await (await session.connection()).get_raw_connection()
    driver: Any = connection.driver_connection  # asyncpg.Connection
    for table, rows in staged:
        names, records = _records(table, rows)
        await driver.copy_records_to_table(table.name, records=records, columns=names)
