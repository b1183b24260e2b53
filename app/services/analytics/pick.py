"""Aggregates that pick one row's value per group in a single pass (PostgreSQL).

"The earliest score" is the value of the row with the smallest (collected_at, created_at,
score) key; "the latest" the one with the largest. PostgreSQL compares arrays element by
element, so `min(ARRAY[collected_at, created_at, score])` finds that row in one hash
aggregate, without sorting the responses or ranking them with window functions. Instants
become epoch seconds (float8 holds microseconds exactly at this range). On an exact tie of
both instants the score itself decides: the lower one for "earliest", the higher one for
"latest" — the window-function path used on SQLite orders the same way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, func, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY, array


def _epoch(instant: Any) -> Any:
    return func.date_part("epoch", instant, type_=Float)


def value_at(value: Any, collected_at: Any, created_at: Any, where: Any, *, latest: bool) -> Any:
    """The value of the earliest (or latest) row matching `where` with a non-null value."""
    key = array([_epoch(collected_at), _epoch(created_at), type_coerce(value, Float)])
    agg = (func.max if latest else func.min)(key, type_=ARRAY(Float))
    picked = agg.filter(where & value.is_not(None))
    return type_coerce(picked, ARRAY(Float))[3]
