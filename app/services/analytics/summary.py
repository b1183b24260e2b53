"""The extractions of app.services.analytics.extract, read from the summary tables.

Each function returns the same columns as its counterpart over the clinical tables, so the
endpoints cannot tell the two apart; only the cost differs: one row per patient (or per
infusion, or per patient and month) instead of every response. The tables are brought up to
date by app.services.analytics.refresh before an analysis reads them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    String,
    case,
    cast,
    func,
    literal,
    null,
    select,
    type_coerce,
)
from sqlalchemy.sql import CompoundSelect, Select, Subquery

from app.models.summary import EventSummary, InfusionSummary, MonthSummary, PatientSummary
from app.services.analytics import sources, terms
from app.services.analytics.scope import Scope


def cohort(scope: Scope) -> Subquery:
    """The patients of the analysis with their values: the columns of sources.cohort plus
    `{scale}_{baseline|final}` for every scale."""
    ps = PatientSummary
    stmt = select(
        ps.patient_id.label("id"),
        ps.site_id,
        ps.birth_year,
        ps.sex,
        ps.conditions,
        ps.n_infusions,
        ps.t1,
        ps.inf1,
        ps.dose_sum,
        ps.dose_known,
        *(getattr(ps, f"{s}_{k}") for s in terms.SCALES for k in terms.KINDS),
    )
    if scope.dialect == "postgresql":
        # Each patient's rank in the cohort: the other per-patient reads of this analysis
        # (same snapshot, same cohort) name patients by it instead of by id as text.
        # Typed as an integer so that it crosses the driver as a binary array (frames).
        rank = type_coerce(func.row_number().over(order_by=ps.patient_id) - 1, BigInteger)
        stmt = stmt.add_columns(rank.label("pos"))
    f = scope.filters
    if scope.site_id is not None:
        stmt = stmt.where(ps.site_id == scope.site_id)
    if f.sex is not None:
        stmt = stmt.where(ps.sex == f.sex)
    if f.condition is not None:
        stmt = stmt.where(sources.has_condition(scope, ps.conditions, f.condition))
    if f.min_infusions:
        stmt = stmt.where(ps.n_infusions >= f.min_infusions)
    if scope.first_after is not None:
        stmt = stmt.where(ps.t1 >= scope.first_after)
    if scope.first_before is not None:
        stmt = stmt.where(ps.t1 < scope.first_before)
    return stmt.subquery("coh")


def per_patient(scope: Scope, scales: tuple[str, ...]) -> Select[Any]:
    """See app.services.analytics.extract.per_patient."""
    coh = cohort(scope)
    kept = {f"{s}_{k}" for s in scales for k in terms.KINDS}
    dropped = {f"{s}_{k}" for s in terms.SCALES for k in terms.KINDS} - kept
    return select(*(c for c in coh.c if c.key not in dropped))


def _patient(coh: Subquery, patient_id: Any) -> Any:
    """How a row names its patient: the cohort rank on PostgreSQL, else the id."""
    return coh.c.pos if "pos" in coh.c else patient_id


def per_infusion(scope: Scope, scale: str, max_k: int) -> Select[Any]:
    """See app.services.analytics.extract.per_infusion."""
    coh, inf = cohort(scope), InfusionSummary
    return (
        select(
            _patient(coh, inf.patient_id),
            inf.k,
            getattr(inf, f"{scale}_pre").label("pre"),
            getattr(inf, f"{scale}_post").label("post"),
        )
        .join(coh, coh.c.id == inf.patient_id)
        .where(inf.k <= max_k)
    )


def monthly(scope: Scope, scale: str, max_month: int) -> Select[Any]:
    """See app.services.analytics.extract.monthly."""
    coh, value = cohort(scope), getattr(MonthSummary, scale)
    return (
        select(
            _patient(coh, MonthSummary.patient_id),
            MonthSummary.m,
            cast(value, Float).label("value"),
        )
        .join(coh, coh.c.id == MonthSummary.patient_id)
        .where(value.is_not(None), MonthSummary.m <= max_month)
    )


def event_counts(scope: Scope) -> CompoundSelect[*tuple[Any, ...]]:
    """See app.services.analytics.events: infusions per number k (all, and with an event),
    and infusions per type and worst severity of that type, over the cohort."""
    coh, inf, ev = cohort(scope), InfusionSummary, EventSummary
    per_k = (
        select(
            literal("k", String).label("kind"),
            inf.k,
            null().label("type"),
            null().label("worst"),
            func.count().label("n"),
            func.sum(case((inf.n_events > 0, 1), else_=0)).label("with_event"),
        )
        .join(coh, coh.c.id == inf.patient_id)
        .group_by(inf.k)
    )
    by_type = (
        select(literal("type", String), null(), ev.type, ev.worst, func.count(), null())
        .join(coh, coh.c.id == ev.patient_id)
        .group_by(ev.type, ev.worst)
    )
    return per_k.union_all(by_type)
