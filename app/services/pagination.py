"""Keyset pagination over (created_at, id): stable under concurrent inserts, O(page) cost."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Unprocessable

T = TypeVar("T")

AnySelect = Select[*tuple[Any, ...]]


def encode_cursor(created_at: dt.datetime, id_: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(id_)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, id_ = json.loads(base64.urlsafe_b64decode(padded.encode()))
        when = dt.datetime.fromisoformat(created)
        if when.tzinfo is None:
            raise ValueError("naive")
        return when, uuid.UUID(id_)
    except Exception as exc:
        raise Unprocessable(
            "The cursor is not one this server issued.",
            errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}],
        ) from exc


async def page(
    session: AsyncSession,
    stmt: AnySelect,
    created_col: Any,
    id_col: Any,
    *,
    limit: int,
    cursor: str | None,
    key: Callable[[Any], tuple[dt.datetime, uuid.UUID]],
) -> tuple[Sequence[Any], str | None]:
    """Run `stmt` for one page; returns the rows and the cursor of the next page.

    `key` reads (created_at, id) back from a row to build the next cursor.
    """
    if cursor:
        after_at, after_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(created_col > after_at, and_(created_col == after_at, id_col > after_id))
        )
    rows = (await session.execute(stmt.order_by(created_col, id_col).limit(limit + 1))).all()
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], encode_cursor(*key(rows[limit - 1]))
