"""The extraction on SQLite: each pick is the first row of a window ranking.

SQLite has no array comparison, so where PostgreSQL picks a row inside one grouped pass
(app.services.analytics.pick) this path ranks candidate rows with `row_number()` and keeps
rank 1. The order is the same on both paths: (collected_at, created_at, score), so exact ties
go to the lower score for "earliest" and the higher one for "latest".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, String, case, cast, func, literal, select
from sqlalchemy.sql import Select, Subquery

from app.schemas.common import Timepoint
from app.services.analytics import sources, terms
from app.services.analytics.scope import Scope


def _order(collected_at: Any, created_at: Any, value: Any, latest: bool) -> tuple[Any, ...]:
    keys = (collected_at, created_at, value)
    return tuple(k.desc() for k in keys) if latest else keys


def _long(resp: Any, scales: tuple[str, ...]) -> Subquery:
    """One row per (response, scale) with a non-null score."""
    parts = [
        select(
            resp.c.patient_id,
            literal(scale, String).label("scale"),
            resp.c[scale].label("value"),
            resp.c.collected_at,
            resp.c.created_at,
            resp.c.timepoint,
            resp.c.infusion_id,
        ).where(resp.c[scale].is_not(None))
        for scale in scales
    ]
    first, *rest = parts
    return first.union_all(*rest).subquery("long") if rest else first.subquery("long")


def _first_ranked(
    long: Subquery, coh: Subquery, kind: str, where: Any, latest: bool
) -> Select[Any]:
    """The earliest (or latest) score per patient and scale among rows matching `where`."""
    order = _order(long.c.collected_at, long.c.created_at, long.c.value, latest)
    ranked = (
        select(
            long.c.patient_id,
            long.c.scale,
            long.c.value,
            func.row_number()
            .over(partition_by=(long.c.patient_id, long.c.scale), order_by=order)
            .label("rn"),
        )
        .join(coh, coh.c.id == long.c.patient_id)
        .where(where)
        .subquery()
    )
    return select(
        ranked.c.patient_id, ranked.c.scale, literal(kind, String).label("kind"), ranked.c.value
    ).where(ranked.c.rn == 1)


def per_patient(scope: Scope, scales: tuple[str, ...]) -> Select[Any]:
    """See app.services.analytics.extract.per_patient."""
    coh = sources.cohort(scope)
    long = _long(sources.responses(scope), scales)
    base = _first_ranked(long, coh, "baseline", terms.is_baseline(long, coh), latest=False)
    final = _first_ranked(long, coh, "final", terms.is_final(long, coh), latest=True)
    both = base.union_all(final).subquery("both")
    columns = [
        func.max(case((_cell(both, scale, kind), both.c.value))).label(f"{scale}_{kind}")
        for scale in scales
        for kind in terms.KINDS
    ]
    values = select(both.c.patient_id, *columns).group_by(both.c.patient_id).subquery("vals")
    return select(coh, *(values.c[f"{s}_{k}"] for s in scales for k in terms.KINDS)).outerjoin(
        values, values.c.patient_id == coh.c.id
    )


def _cell(both: Subquery, scale: str, kind: str) -> Any:
    return (both.c.scale == scale) & (both.c.kind == kind)


def infusion_values(scope: Scope, scales: tuple[str, ...]) -> Subquery:
    """See app.services.analytics.extract.infusion_values."""
    resp = sources.responses(scope)

    def first(scale: str, timepoint: Timepoint, latest: bool) -> Select[Any]:
        order = _order(resp.c.collected_at, resp.c.created_at, resp.c[scale], latest)
        sub = (
            select(
                resp.c.infusion_id,
                resp.c[scale].label("value"),
                func.row_number().over(partition_by=resp.c.infusion_id, order_by=order).label("rn"),
            )
            .where(resp.c.timepoint == timepoint.value, resp.c[scale].is_not(None))
            .subquery()
        )
        name = literal(f"{scale}_{timepoint.value}", String).label("name")
        return select(sub.c.infusion_id, name, sub.c.value).where(sub.c.rn == 1)

    kinds = (("pre", Timepoint.pre_infusion, True), ("post", Timepoint.post_infusion, False))
    parts = [first(scale, tp, latest) for scale in scales for _, tp, latest in kinds]
    both = parts[0].union_all(*parts[1:]).subquery("both")
    columns = [
        func.max(case((both.c.name == f"{scale}_{tp.value}", both.c.value))).label(
            f"{scale}_{kind}"
        )
        for scale in scales
        for kind, tp, _ in kinds
    ]
    return select(both.c.infusion_id, *columns).group_by(both.c.infusion_id).subquery("vals")


def month_values(scope: Scope, scales: tuple[str, ...], max_month: int) -> Subquery:
    """See app.services.analytics.extract.month_values."""
    first, resp = sources.first_infusions(scope), sources.responses(scope)
    days = terms.days_after(scope, resp.c.collected_at, first.c.t1)
    month = terms.month_of(scope, days)

    def last(scale: str) -> Select[Any]:
        order = _order(resp.c.collected_at, resp.c.created_at, resp.c[scale], latest=True)
        sub = (
            select(
                resp.c.patient_id,
                month.label("m"),
                cast(resp.c[scale], Float).label("value"),
                func.row_number()
                .over(partition_by=(resp.c.patient_id, month), order_by=order)
                .label("rn"),
            )
            .join(first, first.c.patient_id == resp.c.patient_id)
            .where(
                resp.c[scale].is_not(None),
                days >= terms.MONTH_DAYS,
                days < (max_month + 1) * terms.MONTH_DAYS,
            )
            .subquery()
        )
        name = literal(scale, String).label("name")
        return select(sub.c.patient_id, sub.c.m, name, sub.c.value).where(sub.c.rn == 1)

    parts = [last(scale) for scale in scales]
    both = parts[0].union_all(*parts[1:]).subquery("both")
    columns = [func.max(case((both.c.name == s, both.c.value))).label(s) for s in scales]
    return (
        select(both.c.patient_id, both.c.m, *columns)
        .group_by(both.c.patient_id, both.c.m)
        .subquery("points")
    )
