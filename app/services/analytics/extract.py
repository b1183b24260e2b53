"""Per-patient and per-infusion values, extracted in SQL.

The database reduces every response to at most a handful of numbers per patient (baseline,
final, pre_k, post_k, monthly points); only those reach Python. On PostgreSQL each
extraction is one grouped pass over the responses (app.services.analytics.pick); on SQLite
the same values come from window rankings (app.services.analytics.ranked).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Float, String, case, cast, or_, select, true
from sqlalchemy.sql import Select, Subquery

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


# What an analysis may read per patient besides its values (see patient_columns).
ATTRIBUTES = ("site_id", "sex", "conditions", "n_infusions", "age", "dose")


def patient_columns(
    scope: Scope, scales: tuple[str, ...] = SCALES, attributes: Collection[str] = ATTRIBUTES
) -> Select[Any]:
    """What the statistics read per patient, ready to use: `{scale}_{baseline|final}`, and
    the patient's id (as text) or, where there is one, its cohort rank `pos`; plus the
    `attributes` asked for: site_id (as text), sex, conditions (JSON text), n_infusions, age
    at infusion 1 and the cumulative per-kg dose (null unless every infusion has one).

    Only what is asked for is read: the ids and site ids as text are a third of the transfer
    at 100,000 patients, and most analyses need neither.
    """
    unknown = set(attributes) - set(ATTRIBUTES)
    if unknown:
        raise ValueError(f"unknown patient attributes: {sorted(unknown)}")
    pp = per_patient(scope, scales).subquery("pp")
    dose = case(
        (
            (pp.c.n_infusions > 0) & (pp.c.dose_known == pp.c.n_infusions),
            cast(pp.c.dose_sum, Float),
        )
    )
    described = {
        "site_id": cast(pp.c.site_id, String),
        "sex": pp.c.sex,
        "conditions": cast(pp.c.conditions, String),
        "n_infusions": pp.c.n_infusions,
        "age": cast(terms.year_of(scope, pp.c.t1) - pp.c.birth_year, Float),
        "dose": dose,
    }
    # Other reads of the same analysis name patients by `pos` when there is one (see
    # summary.cohort), else by id.
    named_by = [pp.c.pos] if "pos" in pp.c else [cast(pp.c.id, String).label("id")]
    return select(
        *named_by,
        *(described[name].label(name) for name in ATTRIBUTES if name in attributes),
        *(cast(pp.c[f"{s}_{k}"], Float).label(f"{s}_{k}") for s in scales for k in KINDS),
    )


def per_infusion(scope: Scope, scale: str, max_k: int) -> Select[Any]:
    """One row per infusion numbered up to `max_k` in the cohort: patient_id, k, pre, post.

    pre: the latest `pre_infusion` score of that infusion; post: its earliest `post_infusion`
    score (both null when there is none).
    """
    if scope.summarised:
        return summary.per_infusion(scope, scale, max_k)
    values = infusion_values(scope, (scale,))
    pre, post = values.c[f"{scale}_pre"], values.c[f"{scale}_post"]
    return numbered(scope, values, max_k).add_columns(pre.label("pre"), post.label("post"))


def numbered(scope: Scope, values: Subquery, max_k: int) -> Select[Any]:
    """patient_id and k of the cohort's infusions up to `max_k`, joined to their `values`."""
    coh, inf = sources.cohort(scope), sources.infusions(scope)
    return (
        select(inf.c.patient_id, inf.c.number.label("k"))
        .join(coh, coh.c.id == inf.c.patient_id)
        .outerjoin(values, values.c.infusion_id == inf.c.id)
        .where(inf.c.number <= max_k)
    )


def infusion_values(scope: Scope, scales: tuple[str, ...]) -> Subquery:
    """infusion_id and `{scale}_pre`, `{scale}_post` for every infusion with such a score."""
    if scope.dialect != "postgresql":
        return ranked.infusion_values(scope, scales)
    resp = sources.responses(scope)
    pre, post = Timepoint.pre_infusion.value, Timepoint.post_infusion.value
    picks = [
        _value_at(resp, scale, resp.c.timepoint == when, latest=when == pre).label(
            f"{scale}_{name}"
        )
        for scale in scales
        for name, when in (("pre", pre), ("post", post))
    ]
    return (
        select(resp.c.infusion_id, *picks)
        .where(resp.c.infusion_id.is_not(None), resp.c.timepoint.in_((pre, post)))
        .group_by(resp.c.infusion_id)
        .subquery("vals")
    )


def monthly(scope: Scope, scale: str, max_month: int) -> Select[Any]:
    """patient_id, m, value: each patient's last score in [m, m+1) months after infusion 1."""
    if scope.summarised:
        return summary.monthly(scope, scale, max_month)
    coh, points = sources.cohort(scope), month_values(scope, (scale,), max_month)
    return (
        select(points.c.patient_id, points.c.m, points.c[scale].label("value"))
        .join(coh, coh.c.id == points.c.patient_id)
        .where(points.c[scale].is_not(None))
    )


def month_values(scope: Scope, scales: tuple[str, ...], max_month: int) -> Subquery:
    """patient_id, m and the last score of each scale in month m = 1 … max_month after the
    start of infusion 1 (null when the patient has none that month), in one grouped pass."""
    if scope.dialect != "postgresql":
        return ranked.month_values(scope, scales, max_month)
    first, resp = sources.first_infusions(scope), sources.responses(scope)
    days = terms.days_after(scope, resp.c.collected_at, first.c.t1)
    month = terms.month_of(scope, days)
    picks = [cast(_value_at(resp, s, true(), latest=True), Float).label(s) for s in scales]
    return (
        select(resp.c.patient_id, month.label("m"), *picks)
        .join(first, first.c.patient_id == resp.c.patient_id)
        .where(
            or_(*(resp.c[s].is_not(None) for s in scales)),
            days >= terms.MONTH_DAYS,
            days < (max_month + 1) * terms.MONTH_DAYS,
        )
        .group_by(resp.c.patient_id, month)
        .subquery("points")
    )
