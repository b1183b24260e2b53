"""Bring the summary tables up to date with every committed write before an analysis reads.

Triggers on patients, infusions and responses append the patients each write touches to
`analytics_stale`, in the writer's own transaction. A refresh takes those rows and recomputes
the summary of exactly those patients with the extraction queries of
app.services.analytics.extract run over the clinical tables, so both paths share one
definition of every value.

Why this is race-free on PostgreSQL: the refresh deletes only the stale rows its snapshot
sees, that is rows of committed writes, and recomputes afterwards, with a newer snapshot that
includes those writes. A write still in flight keeps its stale row for the next refresh.
Refreshes are serialised by an advisory lock, so an older snapshot never overwrites a newer
summary, and each runs in its own short transaction, so a concurrent analysis waits at most
for one refresh, never for another analysis.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Float, cast, delete, func, insert, null, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql import Select

from app.models.summary import MAX_MONTH, InfusionSummary, MonthSummary, PatientSummary, stale
from app.services.analytics import extract, sources, terms
from app.services.analytics.scope import WORK_MEM, Filters, Scope

# Any number identifying "the summary refresh" among this database's advisory locks.
LOCK_KEY = 0x70726F7265  # "prore"
# Patients recomputed per statement: large enough to amortise each statement, small enough
# for the parameter limits (the ids appear four times in a statement on SQLite).
CHUNK = 5000
# Infusion numbers are unbounded; the summary keeps them all.
ALL_K = 1_000_000


async def refresh(session: AsyncSession) -> int:
    """Recompute the summary of every patient written to since the last refresh.

    Returns the number of patients recomputed. On PostgreSQL this runs in a transaction of its
    own (committed before the analysis reads); on SQLite, where writers are serialised anyway,
    inside the request's transaction.
    """
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return await drain(await session.connection())
    engine = session.bind
    assert isinstance(engine, AsyncEngine)
    async with engine.begin() as conn:
        if not (await conn.execute(select(stale.c.patient_id).limit(1))).first():
            return 0
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        await conn.execute(text("SET LOCAL jit = off"))
        await conn.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        return await drain(conn)


async def drain(conn: AsyncConnection) -> int:
    """Take the stale patients and recompute their summary rows, in the caller's transaction."""
    taken = await conn.execute(delete(stale).returning(stale.c.patient_id))
    patients = sorted(set(taken.scalars()))
    for chunk in _chunks(patients):
        scope = Scope(Filters(), None, None, dt.datetime.now(dt.UTC), conn.dialect.name, chunk)
        for table in (PatientSummary, InfusionSummary, MonthSummary):
            column = table.__table__.c.patient_id
            await conn.execute(delete(table).where(sources.among(scope, column, chunk)))
        for table, rows in (
            (PatientSummary, _patients(scope)),
            (InfusionSummary, _infusions(scope)),
            (MonthSummary, _months(scope)),
        ):
            sub = rows.subquery("rows")
            await conn.execute(insert(table).from_select(list(sub.c.keys()), select(sub)))
    return len(patients)


def _chunks(ids: list[uuid.UUID]) -> Iterator[tuple[uuid.UUID, ...]]:
    for start in range(0, len(ids), CHUNK):
        yield tuple(ids[start : start + CHUNK])


def _patients(scope: Scope) -> Select[Any]:
    pp = extract.per_patient(scope).subquery("pp")
    values = (pp.c[f"{s}_{k}"] for s in terms.SCALES for k in terms.KINDS)
    return select(
        pp.c.id.label("patient_id"),
        pp.c.site_id,
        pp.c.birth_year,
        pp.c.sex,
        pp.c.conditions,
        pp.c.n_infusions,
        pp.c.t1,
        pp.c.inf1,
        pp.c.dose_sum,
        pp.c.dose_known,
        *values,
    )


def _infusions(scope: Scope) -> Select[Any]:
    """Every infusion with its number and pre/post per scale (one extraction per scale)."""
    first, *rest = (
        extract.per_infusion(scope, s, ALL_K, with_id=True).subquery(s) for s in terms.SCALES
    )
    stmt = select(first.c.infusion_id, first.c.patient_id, first.c.k)
    for scale, sub in zip(terms.SCALES, (first, *rest), strict=True):
        stmt = stmt.add_columns(sub.c.pre.label(f"{scale}_pre"), sub.c.post.label(f"{scale}_post"))
    for sub in rest:
        stmt = stmt.join(sub, sub.c.infusion_id == first.c.infusion_id)
    return stmt


def _months(scope: Scope) -> Select[Any]:
    """Monthly points of every scale, one row per patient and month."""
    none = cast(null(), Float)
    parts = [
        select(
            mo.c.patient_id,
            mo.c.m,
            *((mo.c.value if other == scale else none).label(other) for other in terms.SCALES),
        )
        for scale in terms.SCALES
        for mo in [extract.monthly(scope, scale, MAX_MONTH).subquery(f"mo_{scale}")]
    ]
    both = parts[0].union_all(*parts[1:]).subquery("points")
    return select(
        both.c.patient_id,
        both.c.m,
        *(func.max(both.c[s]).label(s) for s in terms.SCALES),
    ).group_by(both.c.patient_id, both.c.m)
