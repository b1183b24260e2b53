"""The export's rows: one query over the analytics sources, de-identified row by row.

The Safe Harbor shape is applied here and only here: the patient's random UUID (never the
pseudonym), birth year with every age of 90 or more shown as exactly 90, day offsets from
infusion 1 (or enrolment) instead of dates, and no free text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from app.models import Patient, Response, ResponseVersion, Site
from app.schemas.common import ResponseStatus
from app.services.analytics import sources
from app.services.analytics.scope import Scope

BATCH_ROWS = 5_000  # rows fetched per round trip and per Parquet row group slice
SECONDS_PER_DAY = 86_400.0
OLDEST_AGE = 90  # Safe Harbor: ages of 90 and over are one category


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


def query(scope: Scope) -> Select[Any]:
    """Rows of the export, ordered by patient then collection time (a stable order)."""
    coh, inf, v = sources.cohort(scope), sources.infusions(scope), ResponseVersion
    columns = (
        coh.c.id.label("patient_id"), Site.code.label("site"), coh.c.birth_year, coh.c.sex,
        coh.c.conditions, Response.id.label("response_id"), v.version, Response.instrument,
        Response.timepoint, Response.visit, inf.c.number.label("infusion_number"),
        v.collected_at, coh.c.t1, Patient.enrolled_on, v.pain, v.hads_anxiety,
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


def collapse_birth_year(birth_year: int | None, reference_year: int) -> int | None:
    """Anyone 90 or older in `reference_year` is shown as born exactly 90 years before it."""
    if birth_year is None:
        return None
    return max(birth_year, reference_year - OLDEST_AGE)


def _origin(row: Any) -> dt.datetime | None:
    if row.t1 is not None:
        return row.t1  # type: ignore[no-any-return]
    if row.enrolled_on is not None:
        return dt.datetime.combine(row.enrolled_on, dt.time(), dt.UTC)
    return None


def _day(row: Any) -> float | None:
    origin = _origin(row)
    if origin is None:
        return None
    when: dt.datetime = row.collected_at
    if when.tzinfo is None:  # SQLite hands back naive UTC through a raw subquery column
        when = when.replace(tzinfo=dt.UTC)
    if origin.tzinfo is None:
        origin = origin.replace(tzinfo=dt.UTC)
    return (when - origin).total_seconds() / SECONDS_PER_DAY


def deidentify(row: Any, reference_year: int) -> dict[str, Any]:
    """One database row in the export's shape (see app.services.export_columns)."""
    number = row.infusion_number
    return {
        "patient_id": str(row.patient_id),
        "site": row.site,
        "birth_year": collapse_birth_year(row.birth_year, reference_year),
        "sex": row.sex,
        "conditions": sorted(row.conditions or []),
        "response_id": str(row.response_id),
        "version": int(row.version),
        "instrument": row.instrument,
        "timepoint": row.timepoint,
        "visit": row.visit,
        "infusion_number": int(number) if number is not None else None,
        "day": _day(row),
        "pain": row.pain,
        "hads_anxiety": row.hads_anxiety,
        "hads_depression": row.hads_depression,
        "prorated": bool(row.prorated),
    }


async def batches(conn: AsyncConnection, scope: Scope) -> AsyncIterator[list[dict[str, Any]]]:
    """De-identified rows in batches, read through a server-side cursor (constant memory)."""
    reference_year = scope.used_at.year
    result = await conn.stream(query(scope).execution_options(yield_per=BATCH_ROWS))
    async for partition in result.partitions(BATCH_ROWS):
        yield [deidentify(row, reference_year) for row in partition]
