"""The export's rows: one query that applies the de-identification, read in column batches.

The Safe Harbor shape is applied here and only here: the patient's random UUID (never the
pseudonym), birth year with every age of 90 or more shown as exactly 90, day offsets from
infusion 1 (or enrolment) instead of dates, and no free text. The database does the work
row by row (ids as text, the birth-year rule and, on PostgreSQL, the day offsets); Python
only reshapes whole columns of each batch.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    DateTime,
    Float,
    Select,
    String,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from app.models import Patient, Response, ResponseVersion, Site
from app.schemas.common import ResponseStatus
from app.services.analytics import sources
from app.services.analytics.scope import Scope

BATCH_ROWS = 5000  # rows fetched per round trip: a few MB of Python objects at most
SECONDS_PER_DAY = 86_400.0
OLDEST_AGE = 90  # Safe Harbor: ages of 90 and over are one category
TIMES = ("collected_at", "t1", "enrolled_on")  # SQLite: the inputs of `day`, for Python


@dataclass(frozen=True, slots=True)
class Batch:
    """Export columns of a batch of rows, by name, in the dictionary's order."""

    columns: dict[str, Sequence[Any]]

    @property
    def num_rows(self) -> int:
        return len(self.columns["response_id"])


def _versions(scope: Scope) -> Any:
    """The response version an export shows: the current one, or the latest by `as_of`."""
    if scope.as_of is None:
        return Response.version
    earlier = aliased(ResponseVersion)
    return (
        select(func.max(earlier.version))
        .where(earlier.response_id == Response.id, earlier.recorded_at <= scope.as_of)
        .correlate(Response)
        .scalar_subquery()
    )


def _text_id(scope: Scope, column: Any) -> Any:
    """A UUID as its canonical text (SQLite stores 32 hex digits without hyphens)."""
    if scope.dialect == "postgresql":
        return cast(column, String)
    hexa = cast(column, String)
    parts = [func.substr(hexa, start, size) for start, size in ((1, 8), (9, 4), (13, 4), (17, 4))]
    return func.lower(
        parts[0] + "-" + parts[1] + "-" + parts[2] + "-" + parts[3] + "-" + func.substr(hexa, 21)
    )


def collapse_birth_year(birth_year: Any, reference_year: int) -> Any:
    """Anyone 90 or older in `reference_year` is shown as born exactly 90 years before it."""
    oldest = reference_year - OLDEST_AGE
    return case((birth_year < oldest, literal(oldest)), else_=birth_year)


def _day(scope: Scope, collected_at: Any, t1: Any, enrolled_on: Any) -> list[Any]:
    """Days since infusion 1 (else midnight UTC of enrolment) in SQL on PostgreSQL; SQLite
    has no exact interval arithmetic, so there the three instants go to Python."""
    if scope.dialect != "postgresql":
        return [collected_at, t1, enrolled_on]
    midnight = func.timezone("UTC", cast(enrolled_on, DateTime()))
    origin = func.coalesce(t1, midnight)
    seconds = extract("epoch", collected_at) - extract("epoch", origin)
    return [cast(seconds / SECONDS_PER_DAY, Float).label("day")]


def query(scope: Scope) -> Select[Any]:
    """Rows of the export, ordered by patient then collection time (a stable order)."""
    coh, inf, v = sources.cohort(scope), sources.infusions(scope), ResponseVersion
    columns = (
        _text_id(scope, coh.c.id).label("patient_id"), Site.code.label("site"),
        collapse_birth_year(coh.c.birth_year, scope.used_at.year).label("birth_year"),
        coh.c.sex, cast(coh.c.conditions, String).label("conditions"),
        _text_id(scope, Response.id).label("response_id"), v.version, Response.instrument,
        Response.timepoint, Response.visit, inf.c.number.label("infusion_number"),
        *_day(scope, v.collected_at, coh.c.t1, Patient.enrolled_on), v.pain, v.hads_anxiety,
        v.hads_depression, v.prorated,
    )  # fmt: skip
    stmt = (
        select(*columns)
        .select_from(Response)
        .join(v, and_(v.response_id == Response.id, v.version == _versions(scope)))
        .join(coh, coh.c.id == Response.patient_id)
        .join(Patient, Patient.id == Response.patient_id)
        .join(Site, Site.id == coh.c.site_id)
        .outerjoin(inf, inf.c.id == Response.infusion_id)
        .where(v.status != ResponseStatus.entered_in_error.value)
        .order_by(coh.c.id, v.collected_at, Response.id)
    )
    if scope.as_of is not None:
        stmt = stmt.where(Response.created_at <= scope.as_of)
    return stmt


def _aware(when: dt.datetime) -> dt.datetime:
    # SQLite hands back naive UTC through a raw subquery column.
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def python_days(
    collected: Sequence[dt.datetime], t1: Sequence[Any], enrolled: Sequence[Any]
) -> list[float | None]:
    """`day` for SQLite, the definition the PostgreSQL expression follows."""
    out: list[float | None] = []
    for when, first, on in zip(collected, t1, enrolled, strict=True):
        origin = first if first is not None or on is None else dt.datetime.combine(on, dt.time())
        seconds = None if origin is None else (_aware(when) - _aware(origin)).total_seconds()
        out.append(None if seconds is None else seconds / SECONDS_PER_DAY)
    return out


class Conditions:
    """Conditions arrive as JSON text; the few distinct values are parsed and sorted once."""

    def __init__(self) -> None:
        self._seen: dict[str | None, list[str]] = {}

    def lists(self, texts: Sequence[str | None]) -> list[list[str]]:
        seen = self._seen
        for text in set(texts) - seen.keys():
            seen[text] = sorted(json.loads(text)) if text else []
        return [seen[t] for t in texts]


async def batches(conn: AsyncConnection, scope: Scope) -> AsyncIterator[Batch]:
    """De-identified rows in column batches, read through a server-side cursor."""
    if scope.dialect == "postgresql":
        # The export reads on a connection of its own: the same whole-cohort join strategy
        # as the analytics (see analytics.scope.resolve), for this transaction only.
        await conn.exec_driver_sql("SET LOCAL enable_nestloop = off")
    stmt = query(scope)
    names = list(stmt.selected_columns.keys())
    conditions = Conditions()
    result = await conn.stream(stmt.execution_options(yield_per=BATCH_ROWS))
    async for partition in result.partitions(BATCH_ROWS):
        transposed = zip(*partition, strict=True)  # rows to columns, at C speed
        columns: dict[str, Sequence[Any]] = dict(zip(names, transposed, strict=True))
        columns["conditions"] = conditions.lists(columns["conditions"])
        if "day" not in columns:
            columns["day"] = python_days(*(columns.pop(name) for name in TIMES))
        yield Batch(columns)
