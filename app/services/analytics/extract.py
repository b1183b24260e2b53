"""Per-patient and per-infusion values, extracted in SQL with window functions.

The database reduces every response to at most a handful of numbers per patient (baseline,
final, pre_k, post_k, monthly points); only those reach Python.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Integer, String, and_, case, cast, func, literal, or_, select
from sqlalchemy.sql import Select, Subquery

from app.schemas.common import Timepoint
from app.services.analytics import sources
from app.services.analytics.scope import Scope

SCALES = ("pain", "hads_anxiety", "hads_depression")
MONTH_DAYS = 30.4375
KINDS = ("baseline", "final")


def _long(resp: Any, scales: tuple[str, ...]) -> Subquery:
    """One row per (response, scale) with a non-null score."""
    parts = [
        select(
            resp.c.patient_id,
            literal(scale, String).label("scale"),
            resp.c[scale].label("value"),
            resp.c.collected_at,
            resp.c.created_at,
            resp.c.id,
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
    keys = (long.c.collected_at, long.c.created_at, long.c.id)
    order = tuple(k.desc() for k in keys) if latest else keys
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


def per_patient(scope: Scope, scales: tuple[str, ...] = SCALES) -> Select[Any]:
    """The cohort's rows plus `{scale}_baseline` and `{scale}_final` for each scale.

    baseline: earliest score at or before the start of infusion 1 from a `baseline` response
    or the `pre_infusion` of infusion 1 (no infusion: the earliest `baseline`); final: the
    latest score collected after the start of infusion 1.
    """
    coh = sources.cohort(scope)
    long = _long(sources.responses(scope), scales)
    is_baseline = or_(
        and_(coh.c.t1.is_(None), long.c.timepoint == Timepoint.baseline.value),
        and_(
            long.c.collected_at <= coh.c.t1,
            or_(
                long.c.timepoint == Timepoint.baseline.value,
                and_(
                    long.c.timepoint == Timepoint.pre_infusion.value,
                    long.c.infusion_id == coh.c.inf1,
                ),
            ),
        ),
    )
    base = _first_ranked(long, coh, "baseline", is_baseline, latest=False)
    final = _first_ranked(long, coh, "final", long.c.collected_at > coh.c.t1, latest=True)
    both = base.union_all(final).subquery("both")
    columns = [
        func.max(case((and_(both.c.scale == scale, both.c.kind == kind), both.c.value))).label(
            f"{scale}_{kind}"
        )
        for scale in scales
        for kind in KINDS
    ]
    values = select(both.c.patient_id, *columns).group_by(both.c.patient_id).subquery("vals")
    return select(coh, *(values.c[f"{s}_{k}"] for s in scales for k in KINDS)).outerjoin(
        values, values.c.patient_id == coh.c.id
    )


def per_infusion(scope: Scope, scale: str, max_k: int) -> Select[Any]:
    """One row per infusion numbered up to `max_k` in the cohort: patient_id, k, pre, post.

    pre: the latest `pre_infusion` score of that infusion; post: its earliest `post_infusion`
    score (both null when there is none).
    """
    coh, inf, resp = sources.cohort(scope), sources.infusions(scope), sources.responses(scope)
    keys = (resp.c.collected_at, resp.c.created_at, resp.c.id)

    def ranked(timepoint: Timepoint, latest: bool) -> Select[Any]:
        order = tuple(k.desc() for k in keys) if latest else keys
        sub = (
            select(
                resp.c.infusion_id,
                resp.c[scale].label("value"),
                func.row_number().over(partition_by=resp.c.infusion_id, order_by=order).label("rn"),
            )
            .where(resp.c.timepoint == timepoint.value, resp.c[scale].is_not(None))
            .subquery()
        )
        kind = literal(timepoint.value, String).label("kind")
        return select(sub.c.infusion_id, kind, sub.c.value).where(sub.c.rn == 1)

    both = (
        ranked(Timepoint.pre_infusion, True)
        .union_all(ranked(Timepoint.post_infusion, False))
        .subquery("both")
    )
    pick = {
        name: func.max(case((both.c.kind == tp.value, both.c.value))).label(name)
        for name, tp in (("pre", Timepoint.pre_infusion), ("post", Timepoint.post_infusion))
    }
    values = select(both.c.infusion_id, *pick.values()).group_by(both.c.infusion_id).subquery()
    return (
        select(inf.c.patient_id, inf.c.number.label("k"), values.c.pre, values.c.post)
        .join(coh, coh.c.id == inf.c.patient_id)
        .outerjoin(values, values.c.infusion_id == inf.c.id)
        .where(inf.c.number <= max_k)
    )


def _days_after(scope: Scope, later: Any, earlier: Any) -> Any:
    if scope.dialect == "postgresql":
        return func.extract("epoch", later - earlier) / 86400.0
    return func.julianday(later) - func.julianday(earlier)


def _month_of(scope: Scope, days: Any) -> Any:
    ratio = days / MONTH_DAYS
    # Only positive day counts reach here, where truncation (SQLite's CAST) equals floor.
    whole = func.floor(ratio) if scope.dialect == "postgresql" else ratio
    return cast(whole, Integer)


def monthly(scope: Scope, scale: str, max_month: int) -> Select[Any]:
    """patient_id, m, value: each patient's last score in [m, m+1) months after infusion 1."""
    coh, resp = sources.cohort(scope), sources.responses(scope)
    days = _days_after(scope, resp.c.collected_at, coh.c.t1)
    month = _month_of(scope, days)
    keys = (resp.c.collected_at.desc(), resp.c.created_at.desc(), resp.c.id.desc())
    ranked = (
        select(
            resp.c.patient_id,
            month.label("m"),
            cast(resp.c[scale], Float).label("value"),
            func.row_number()
            .over(partition_by=(resp.c.patient_id, month), order_by=keys)
            .label("rn"),
        )
        .join(coh, coh.c.id == resp.c.patient_id)
        .where(resp.c[scale].is_not(None), days >= MONTH_DAYS, days < (max_month + 1) * MONTH_DAYS)
        .subquery()
    )
    return select(ranked.c.patient_id, ranked.c.m, ranked.c.value).where(ranked.c.rn == 1)
