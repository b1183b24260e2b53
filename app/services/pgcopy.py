"""PostgreSQL binary COPY payloads, encoded column by column from staged rows.

asyncpg's `copy_records_to_table` encodes value by value, and its timestamps, UUIDs and
JSON text were most of a batch's client-side COPY cost. Here each column is encoded once
per distinct value (a batch repeats its timestamps, patients, key prefix and statuses on
every row) and the rows are joined into one buffer. The wire format is PostgreSQL's
(`COPY ... FROM STDIN (FORMAT binary)`): a header, per row a field count and per field its
length (-1 for NULL) and bytes, then a trailer. Values mean what asyncpg would send: a
naive datetime is local time, as `datetime.astimezone` reads it.
"""

from __future__ import annotations

import datetime as dt
import json
import struct
import uuid
from collections.abc import Callable
from itertools import chain
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import BigInteger, Boolean, Date, DateTime, Float, Integer, String, Table, Uuid
from sqlalchemy.types import JSON, TypeDecorator, TypeEngine

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
TRAILER = b"\xff\xff"
NULL = b"\xff\xff\xff\xff"
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_EPOCH_DAY = dt.date(2000, 1, 1).toordinal()
_MICROSECOND = dt.timedelta(microseconds=1)
_INT4, _INT8, _FLOAT8 = (
    struct.Struct("!ii").pack,
    struct.Struct("!iq").pack,
    struct.Struct("!id").pack,
)
_LENGTH = struct.Struct("!i").pack
_TRUE, _FALSE = b"\x00\x00\x00\x01\x01", b"\x00\x00\x00\x01\x00"
_UUID_LENGTH = _LENGTH(16)
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_JSON_OPTIONS |= orjson.OPT_PASSTHROUGH_DATACLASS

Encoder = Callable[[Any], bytes]


def _uuid(value: Any) -> bytes:
    raw = value.bytes if type(value) is uuid.UUID else uuid.UUID(str(value)).bytes
    return _UUID_LENGTH + raw


def _text(value: str) -> bytes:
    raw = value.encode()
    return _LENGTH(len(raw)) + raw


def _timestamptz(value: dt.datetime) -> bytes:
    if value.tzinfo is None:
        value = value.astimezone(dt.UTC)
    return _INT8(8, (value - _EPOCH) // _MICROSECOND)


def _date(value: dt.date) -> bytes:
    return _INT4(4, value.toordinal() - _EPOCH_DAY)


def json_bytes(value: Any) -> bytes:
    """JSON text of a value as the `unnest` INSERT sends it (json.dumps(default=str), up to
    whitespace, which jsonb does not keep): orjson for speed, json for what it refuses."""
    try:
        return orjson.dumps(value, default=str, option=_JSON_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, default=str).encode()


def _jsonb(value: Any) -> bytes:
    raw = json_bytes(value)
    return _LENGTH(len(raw) + 1) + b"\x01" + raw  # jsonb binary format version 1


_ENCODERS: list[tuple[type[TypeEngine[Any]], Encoder]] = [
    (Uuid, _uuid),
    (BigInteger, lambda v: _INT8(8, v)),
    (Integer, lambda v: _INT4(4, v)),
    (Float, lambda v: _FLOAT8(8, v)),
    (Boolean, lambda v: _TRUE if v else _FALSE),
    (DateTime, _timestamptz),
    (Date, _date),
    (String, _text),
]


def encoder(column_type: TypeEngine[Any]) -> tuple[Encoder, bool]:
    """(value encoder, whether equal values may share one encoding) for a column type."""
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, JSON):
        return _jsonb, False  # dicts and lists: not hashable
    for kind, encode in _ENCODERS:
        if isinstance(column_type, kind):
            return encode, True
    raise TypeError(f"no binary COPY encoding for {column_type!r}")


Memo = dict[Encoder, dict[Any, bytes]]


def _column(values: list[Any], encode: Encoder, shared: bool, memo: Memo) -> list[bytes] | bytes:
    """The column's encoded values, or its one encoding when every row has the same value."""
    if not shared:
        return [NULL if v is None else encode(v) for v in values]
    codes = memo.setdefault(encode, {})
    distinct = set(values)
    for value in distinct.difference(codes):
        codes[value] = NULL if value is None else encode(value)
    if len(distinct) == 1:
        return codes[values[0]]
    return list(map(codes.__getitem__, values))


def payload(
    table: Table,
    rows: list[dict[str, Any]],
    memo: Memo | None = None,
) -> tuple[list[str], memoryview]:
    """(column names, COPY FROM STDIN binary data) of rows that all have the same keys.

    `rows` may instead be given column by column (`columns`, below). `memo` keeps
    encodings across calls (the response ids come back as the versions' foreign keys).
    """
    names = list(rows[0])
    return columns(table, {n: list(map(itemgetter(n), rows)) for n in names}, {}, memo)


def columns(
    table: Table, varying: dict[str, list[Any]], shared: dict[str, Any], memo: Memo | None = None
) -> tuple[list[str], memoryview]:
    """The same for rows given as a list per column plus the values every row shares.

    Shared values, and columns found to hold one value on every row, are encoded once and
    joined into one piece per row; a row is then a handful of pieces, not one per column.
    """
    memo = {} if memo is None else memo
    count = len(next(iter(varying.values())))  # at least one column varies (the ids)
    names = [*shared, *varying]
    run = [struct.pack("!h", len(names))]  # each row starts with its field count
    for name, value in shared.items():
        encode, _ = encoder(table.c[name].type)
        run.append(NULL if value is None else encode(value))
    pieces: list[list[bytes]] = []
    for name, values in varying.items():
        encode, can_share = encoder(table.c[name].type)
        column = _column(values, encode, can_share, memo)
        if isinstance(column, bytes):
            run.append(column)
            continue
        if run:
            pieces.append([b"".join(run)] * count)
            run = []
        pieces.append(column)
    if run:
        pieces.append([b"".join(run)] * count)
    body = chain.from_iterable(zip(*pieces, strict=True))
    data = b"".join(chain((HEADER,), body, (TRAILER,)))
    return names, memoryview(data)  # a view: asyncpg would take bytes for a file path
