"""Per-patient and per-infusion values, extracted in SQL.

The database reduces every response to at most a handful of numbers per patient (baseline,
final, pre_k, post_k, monthly points); only those reach Python. On PostgreSQL each
extraction is one grouped pass over the responses (app.services.analytics.pick); on SQLite
the same values come from window rankings (app.services.analytics.ranked).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, String, case, cast, func, select, true
from sqlalchemy.sql import Select

from app.schemas.common import Timepoint
from app.services.analytics import pick, ranked, sources, summary, terms
from app.services.analytics.scope import Scope

SCALES = terms.SCALES
KINDS = terms.KINDS


def _value_at(resp: Any, scale: str, where: Any, *, latest: bool) -> Any:
    column = resp.c[scale]
    return pick.value_at(column, resp.c.collected_at, resp.c.created_at, where, latest=latest)


def per_patient(scope: Scope, scales: tuple[str, ...] = SCALES) -> Select[Any]:
    """The cohort's rows plus `{scale}_baseline` and `{scale}_final` for each scale.

    baseline: earliest score at or before the start of infusion 1 from a `baseline` response
    or the `pre_infusion` of infusion 1 (no infusion: the earliest `baseline`); final: the
    latest score collected after the start of infusion 1.
    """
    if scope.summarised:
        return summary.per_patient(scope, scales)
    if scope.dialect != "postgresql":
        return ranked.per_patient(scope, scales)
    coh, first, resp = (
        sources.cohort(scope),
        sources.first_infusions(scope),
        sources.responses(scope),
    )
    base, final = terms.is_baseline(resp, first), terms.is_final(resp, first)
    picks = [
        _value_at(resp, scale, where, latest=kind == "final").label(f"{scale}_{kind}")
        for scale in scales
        for kind, where in zip(KINDS, (base, final), strict=True)
    ]
    # Grouped over every visible response; the cohort's filters apply in the outer join.
    values = (
        select(resp.c.patient_id, *picks)
        .outerjoin(first, first.c.patient_id == resp.c.patient_id)
        .group_by(resp.c.patient_id)
        .subquery("vals")
    )
    return select(coh, *(values.c[f"{s}_{k}"] for s in scales for k in KINDS)).outerjoin(
        values, values.c.patient_id == coh.c.id
    )


def patient_columns(scope: Scope, scales: tuple[str, ...] = SCALES) -> Select[Any]:
    """What the statistics read per patient, ready to use: id and site_id (as text), sex,
    conditions (JSON text), n_infusions, age at infusion 1, the cumulative per-kg dose (null
    unless every infusion has one) and `{scale}_{baseline|final}`."""
    pp = per_patient(scope, scales).subquery("pp")
    dose = case(
        (
            (pp.c.n_infusions > 0) & (pp.c.dose_known == pp.c.n_infusions),
            cast(pp.c.dose_sum, Float),
        )
    )
    return select(
        cast(pp.c.id, String).label("id"),
        cast(pp.c.site_id, String).label("site_id"),
        pp.c.sex,
        cast(pp.c.conditions, String).label("conditions"),
        pp.c.n_infusions,
        cast(terms.year_of(scope, pp.c.t1) - pp.c.birth_year, Float).label("age"),
        dose.label("dose"),
        *(cast(pp.c[f"{s}_{k}"], Float).label(f"{s}_{k}") for s in scales for k in KINDS),
    )


def as_arrays(stmt: Select[Any]) -> Select[*tuple[Any, ...]]:
    """One row of arrays, one per column (PostgreSQL): a 100,000-row result crosses the
    driver as a dozen arrays decoded in C instead of 100,000 rows built one by one."""
    sub = stmt.subquery("cols")
    return select(*(func.array_agg(c).label(c.key) for c in sub.c))


def per_infusion(scope: Scope, scale: str, max_k: int, *, with_id: bool = False) -> Select[Any]:
    """One row per infusion numbered up to `max_k` in the cohort: patient_id, k, pre, post
    (and infusion_id when asked: the summary tables are keyed by it).

    pre: the latest `pre_infusion` score of that infusion; post: its earliest `post_infusion`
    score (both null when there is none).
    """
    if scope.summarised:
        return summary.per_infusion(scope, scale, max_k)
    if scope.dialect != "postgresql":
        return ranked.per_infusion(scope, scale, max_k, with_id=with_id)
    coh, inf, resp = sources.cohort(scope), sources.infusions(scope), sources.responses(scope)
    pre, post = Timepoint.pre_infusion.value, Timepoint.post_infusion.value
    values = (
        select(
            resp.c.infusion_id,
            _value_at(resp, scale, resp.c.timepoint == pre, latest=True).label("pre"),
            _value_at(resp, scale, resp.c.timepoint == post, latest=False).label("post"),
        )
        .where(resp.c.infusion_id.is_not(None), resp.c.timepoint.in_((pre, post)))
        .group_by(resp.c.infusion_id)
        .subquery("vals")
    )
    return ranked.numbered_values(inf, coh, values, max_k, with_id=with_id)


def monthly(scope: Scope, scale: str, max_month: int) -> Select[Any]:
    """patient_id, m, value: each patient's last score in [m, m+1) months after infusion 1."""
    if scope.summarised:
        return summary.monthly(scope, scale, max_month)
    if scope.dialect != "postgresql":
        return ranked.monthly(scope, scale, max_month)
    coh, resp = sources.cohort(scope), sources.responses(scope)
    days = terms.days_after(scope, resp.c.collected_at, coh.c.t1)
    month = terms.month_of(scope, days)
    return (
        select(
            resp.c.patient_id,
            month.label("m"),
            cast(_value_at(resp, scale, true(), latest=True), Float).label("value"),
        )
        .join(coh, coh.c.id == resp.c.patient_id)
        .where(
            resp.c[scale].is_not(None),
            days >= terms.MONTH_DAYS,
            days < (max_month + 1) * terms.MONTH_DAYS,
        )
        .group_by(resp.c.patient_id, month)
    )
