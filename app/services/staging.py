"""Staged appends: rows queued during a request and written in one round trip at commit.

Submissions append to four tables (responses, their first versions, audit events,
idempotency records). On PostgreSQL, staged rows are written by a single statement — one
data-modifying CTE per table, each fed by `unnest` of typed arrays — just before COMMIT, so a
submission costs one write round trip whatever the number of tables or rows. On SQLite
(in-process, no round trips) they become ordinary multi-row INSERTs. A `before_commit` hook
guarantees staged rows are written by any commit of the session; a rollback discards them.

Callers that stage thousands of rows in one transaction (batch ingest, the demo loader) call
`copy()` instead, which sends them with binary COPY (encoded by `pgcopy`): a fraction of the
client and server work of the `unnest` INSERT.

Only append-only rows that nothing reads back inside the same transaction are staged.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    Uuid,
    event,
    insert,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.types import JSON, TypeDecorator, TypeEngine
from sqlalchemy.util import await_only

from app.services import pgcopy

_KEY = "staged_rows"


@dataclass(frozen=True, slots=True)
class Columns:
    """Rows given column by column: a list per column whose values differ from row to row,
    one value for each column every row shares. A batch stages its thousand rows per table
    this way, without a dict per row, and COPY encodes a shared value once."""

    varying: dict[str, list[Any]]
    shared: dict[str, Any]

    def __post_init__(self) -> None:
        if not self.varying:
            raise ValueError("Columns needs at least one varying column (it gives the count)")

    def __len__(self) -> int:
        return len(next(iter(self.varying.values())))

    def rows(self) -> list[dict[str, Any]]:
        if len(self) == 1:  # a single submission: the common case outside batches
            return [{**self.shared, **{k: v[0] for k, v in self.varying.items()}}]
        names = list(self.varying)
        return [
            {**self.shared, **dict(zip(names, values, strict=True))}
            for values in zip(*self.varying.values(), strict=True)
        ]


Staged = list[dict[str, Any]] | Columns


def stage(session: Any, model: Any, rows: Staged) -> None:
    """Queue rows for a mapped class; written at commit, in staging order (mind FKs)."""
    if len(rows):
        table = cast(Table, model.__table__)
        target = session.sync_session if hasattr(session, "sync_session") else session
        target.info.setdefault(_KEY, []).append((table, rows))


def take(session: Any) -> list[tuple[Table, Staged]]:
    """Remove and return the staged rows, for a caller that writes them itself (bulk COPY)."""
    target = session.sync_session if hasattr(session, "sync_session") else session
    staged: list[tuple[Table, Staged]] = target.info.pop(_KEY, [])
    return staged


def _as_rows(staged: list[tuple[Table, Staged]]) -> list[tuple[Table, list[dict[str, Any]]]]:
    return [(t, rows.rows() if isinstance(rows, Columns) else rows) for t, rows in staged]


def _pg_array_type(column_type: TypeEngine[Any]) -> tuple[str, bool]:
    """(PostgreSQL array element type, sent as JSON text) for a column type."""
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    kinds: list[tuple[type[TypeEngine[Any]], str]] = [
        (Uuid, "uuid"), (BigInteger, "bigint"), (Integer, "integer"), (Float, "float8"),
        (Boolean, "boolean"), (DateTime, "timestamptz"), (Date, "date"), (String, "text"),
    ]  # fmt: skip
    if isinstance(column_type, JSON):
        return "text", True
    for kind, name in kinds:
        if isinstance(column_type, kind):
            return name, False
    raise TypeError(f"no array mapping for {column_type!r}")


def _encode(value: Any, as_json: bool) -> Any:
    return _json_text(value) if as_json else value


def _placeholder(n: int, pg_type: str, as_json: bool) -> str:
    """Parameter n of one value, cast to its column's type (JSON is sent as text)."""
    return f"${n}::text::jsonb" if as_json else f"${n}::{pg_type}"


Shape = tuple[tuple[Table, tuple[str, ...]], ...]
_statements: dict[tuple[Shape, bool], tuple[str, list[bool]]] = {}


def _compile(shape: Shape, single: bool) -> tuple[str, list[bool]]:
    """SQL (asyncpg placeholders) for a shape of staged rows, built once per shape, and
    which of its arguments carry JSON text. With one row per table (a single submission)
    the values are plain parameters: encoding forty one-element arrays cost more CPU than
    the rest of the statement."""
    ctes: list[str] = []
    json_args: list[bool] = []
    for table, names in shape:
        selects, args = [], []
        for c_index, name in enumerate(names):
            pg_type, as_json = _pg_array_type(table.c[name].type)
            json_args.append(as_json)
            n = len(json_args)
            if single:
                args.append(_placeholder(n, pg_type, as_json))
                continue
            args.append(f"${n}::{pg_type}[]")
            selects.append(f"c{c_index}::jsonb" if as_json else f"c{c_index}")
        insert = f"s{len(ctes)} AS (INSERT INTO {table.name} ({', '.join(names)}) "
        if single:
            ctes.append(f"{insert}VALUES ({', '.join(args)}))")
            continue
        aliases = ", ".join(f"c{i}" for i in range(len(names)))
        ctes.append(
            f"{insert}SELECT {', '.join(selects)} FROM unnest({', '.join(args)}) AS u({aliases}))"
        )
    return f"WITH {', '.join(ctes)} SELECT 1", json_args


def statement(staged: list[tuple[Table, list[dict[str, Any]]]]) -> tuple[str, list[Any]]:
    """The one statement (asyncpg placeholders) and its arguments that write staged rows.

    Sent straight to the driver: building and binding a 40-parameter statement through
    SQLAlchemy's text() cost more CPU than the database spent on the insert.
    """
    shape = tuple((table, tuple(rows[0])) for table, rows in staged)
    single = all(len(rows) == 1 for _, rows in staged)
    if (shape, single) not in _statements:
        _statements[shape, single] = _compile(shape, single)
    sql, json_args = _statements[shape, single]
    columns = [(rows, name) for (_, rows), (_, names) in zip(staged, shape, strict=True)
               for name in names]  # fmt: skip
    args: list[Any] = [
        _encode(rows[0][name], as_json) if single
        else [_encode(row[name], as_json) for row in rows]
        for (rows, name), as_json in zip(columns, json_args, strict=True)
    ]  # fmt: skip
    return sql, args


_guarded: dict[tuple[Shape, int, str, frozenset[str]], tuple[list[str], list[bool | None]]] = {}


def guarded(
    staged: list[tuple[Table, list[dict[str, Any]]]],
    *,
    start: int,
    source: str,
    taken: frozenset[str] = frozenset(),
) -> tuple[list[str], list[Any]]:
    """Data-modifying CTEs writing one staged row per table only if the query `source` has a
    row, for a statement that checks and writes at once; parameters are numbered from `start`.
    Columns named in `taken` ("table.column") are read from `source`'s column of that name
    instead of being sent."""
    shape = tuple((table, tuple(rows[0])) for table, rows in staged)
    cached = (shape, start, source, taken)
    if cached not in _guarded:
        ctes: list[str] = []
        json_args: list[bool | None] = []  # None: read from `source`, not sent
        for table, names in shape:
            values = []
            for name in names:
                pg_type, as_json = _pg_array_type(table.c[name].type)
                if f"{table.name}.{name}" in taken:
                    json_args.append(None)
                    values.append(f"{source}.{name}")
                    continue
                n = start + sum(j is not None for j in json_args)
                json_args.append(as_json)
                values.append(_placeholder(n, pg_type, as_json))
            ctes.append(
                f"w{len(ctes)} AS (INSERT INTO {table.name} ({', '.join(names)})"
                f" SELECT {', '.join(values)} FROM {source})"
            )
        _guarded[cached] = ctes, json_args
    ctes, sent = _guarded[cached]
    values = [row[name] for _, rows in staged for row in rows for name in row]
    args = [_encode(v, j) for v, j in zip(values, sent, strict=True) if j is not None]
    return ctes, args


def _pg_write(session: Session, staged: list[tuple[Table, list[dict[str, Any]]]]) -> None:
    """One statement through the session's own asyncpg connection (same transaction)."""
    sql, args = statement(staged)
    driver = session.connection().connection.driver_connection
    assert driver is not None, "a pooled connection always has its driver connection"
    try:
        await_only(driver.execute(sql, *args))
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(sql, None, exc) from exc


def _write_staged(session: Session) -> None:
    staged = _as_rows(take(session))
    if not staged:
        return
    session.flush()  # ORM-added rows first: staged rows may reference them
    if session.get_bind().dialect.name == "postgresql":
        _pg_write(session, staged)
        return
    for table, rows in staged:
        session.execute(insert(table), rows)


def _json_text(value: Any) -> str | None:
    """JSON text of a value for a `jsonb` column, as COPY sends it (`pgcopy.json_bytes`)."""
    return None if value is None else pgcopy.json_bytes(value).decode()


def _driver_error(exc: Exception, statement: str) -> Exception:
    """The SQLAlchemy exception the unit of work expects for a driver error: IntegrityError
    (answered 409), an outage (503), or DBAPIError."""
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return IntegrityError(statement, None, exc, hide_parameters=True)
    if isinstance(exc, asyncpg.PostgresError):
        return DBAPIError(statement, None, exc, hide_parameters=True)
    return OperationalError(statement, None, exc, hide_parameters=True)


async def copy(session: AsyncSession) -> None:
    """Write every staged row now with binary COPY (PostgreSQL), in the session's transaction.

    Same rows, same order (parents before children) as the commit would write; on SQLite
    this does nothing and the commit writes them as usual. The transaction is required:
    it is what makes the four tables' rows commit together, so an autocommit session is
    refused. A constraint violation (a concurrent request that stored the same
    Idempotency-Key, a missing parent row) raises IntegrityError, as the commit would.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    staged = take(session)
    if not staged:
        return
    await session.flush()  # ORM-added rows first: staged rows may reference them
    connection = await session.connection()
    driver: Any = (await connection.get_raw_connection()).driver_connection
    if not driver.is_in_transaction():  # the driver opens it lazily, at the first statement
        await connection.exec_driver_sql("SELECT 1")
    if not driver.is_in_transaction():
        raise RuntimeError("COPY of staged rows needs a transaction (not autocommit)")
    memo: pgcopy.Memo = {}
    for table, rows in staged:
        statement = f"COPY {table.name}"
        try:
            if isinstance(rows, Columns):
                names, data = pgcopy.columns(table, rows.varying, rows.shared, memo)
            else:
                names, data = pgcopy.payload(table, rows, memo)
        except (TypeError, ValueError, AttributeError, OverflowError, struct.error) as exc:
            raise DBAPIError(statement, None, exc, hide_parameters=True) from exc
        try:
            await driver.copy_to_table(table.name, source=data, columns=names, format="binary")
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise _driver_error(exc, statement) from exc


def _discard(session: Session, *_: Any) -> None:
    session.info.pop(_KEY, None)


event.listen(Session, "before_commit", _write_staged)
event.listen(Session, "after_rollback", _discard)
