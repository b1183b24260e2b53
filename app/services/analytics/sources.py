"""The rows an analysis may see: patients, numbered infusions, responses; now or as of then.

Every builder returns a SQLAlchemy subquery so the extraction queries read the same way
whether they run on the current tables or on the version history.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import String, Uuid, and_, any_, bindparam, exists, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on
from sqlalchemy.sql import Select, Subquery
from sqlalchemy.sql.selectable import CTE

from app.models import AdverseEvent, Infusion, Patient, PatientVersion, Response, ResponseVersion
from app.schemas.common import ResponseStatus
from app.services.analytics.scope import Scope
from app.services.infusions import number_column

RETRACTED = ResponseStatus.entered_in_error.value
S = TypeVar("S", bound=Select[*tuple[Any, ...]])


def among(scope: Scope, column: Any, ids: tuple[uuid.UUID, ...]) -> Any:
    """`column` is one of `ids`: one array parameter on PostgreSQL, a list on SQLite."""
    if scope.dialect == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Uuid)))
    return column.in_(ids)


def _rebuilding(scope: Scope, stmt: S, column: Any) -> S:
    """Only the patients being summarised, when the summary tables are rebuilt."""
    return stmt if scope.rebuild is None else stmt.where(among(scope, column, scope.rebuild))


def has_condition(scope: Scope, column: Any, condition: str) -> Any:
    """JSON array membership, spelled per dialect."""
    if scope.dialect == "postgresql":
        return column.op("@>")(func.jsonb_build_array(literal(condition, String)))
    each = func.json_each(column).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == condition))


def patients(scope: Scope) -> Subquery:
    """Patients with their attributes (as they stood at `as_of`), after the patient filters."""
    if scope.as_of is None:
        attrs: Any = Patient
        stmt = select(
            Patient.id, Patient.site_id, Patient.birth_year, Patient.sex, Patient.conditions
        )
    else:
        latest = (
            select(PatientVersion.patient_id, func.max(PatientVersion.version).label("version"))
            .where(PatientVersion.recorded_at <= scope.as_of)
            .group_by(PatientVersion.patient_id)
            .subquery()
        )
        attrs = PatientVersion
        stmt = (
            select(
                Patient.id,
                Patient.site_id,
                PatientVersion.birth_year,
                PatientVersion.sex,
                PatientVersion.conditions,
            )
            .join(latest, latest.c.patient_id == Patient.id)
            .join(
                PatientVersion,
                and_(
                    PatientVersion.patient_id == Patient.id,
                    PatientVersion.version == latest.c.version,
                ),
            )
            .where(Patient.created_at <= scope.as_of)
        )
    stmt = _rebuilding(scope, stmt, Patient.id)
    if scope.site_id is not None:
        stmt = stmt.where(Patient.site_id == scope.site_id)
    if scope.filters.sex is not None:
        stmt = stmt.where(attrs.sex == scope.filters.sex)
    if scope.filters.condition is not None:
        stmt = stmt.where(has_condition(scope, attrs.conditions, scope.filters.condition))
    return stmt.subquery("pat")


def _visible(scope: Scope, stmt: S) -> S:
    """Infusions of the caller's site that existed at `as_of`."""
    stmt = _rebuilding(scope, stmt, Infusion.patient_id)
    if scope.site_id is not None:
        stmt = stmt.where(Infusion.site_id == scope.site_id)
    if scope.as_of is not None:
        stmt = stmt.where(Infusion.created_at <= scope.as_of)
    return stmt


def infusions(scope: Scope) -> Subquery:
    """Infusions numbered 1, 2, … among those that existed at `as_of`."""
    stmt = select(
        Infusion.id,
        Infusion.patient_id,
        Infusion.started_at,
        Infusion.dose_mg_per_kg,
        number_column(),
    )
    return _visible(scope, stmt).subquery("inf")


def first_infusions(scope: Scope) -> Subquery:
    """Infusion 1 of every patient who has one: patient_id, inf1 (its id), t1 (its start)."""
    if scope.dialect == "postgresql":
        # DISTINCT ON reads ix_infusions_patient_order in order: no sort, no window.
        order = (Infusion.patient_id, Infusion.started_at, Infusion.created_at, Infusion.id)
        stmt = (
            select(
                Infusion.patient_id,
                Infusion.id.label("inf1"),
                Infusion.started_at.label("t1"),
            )
            .ext(distinct_on(Infusion.patient_id))
            .order_by(*order)
        )
        return _visible(scope, stmt).subquery("first")
    inf = infusions(scope)
    return (
        select(inf.c.patient_id, inf.c.id.label("inf1"), inf.c.started_at.label("t1"))
        .where(inf.c.number == 1)
        .subquery("first")
    )


def cohort(scope: Scope) -> Subquery:
    """One row per patient in the analysis, with infusion 1 and the infusion totals.

    Columns: id, site_id, birth_year, sex, conditions, n_infusions, t1 (start of infusion 1),
    inf1 (its id), dose_sum and dose_known (infusions with a per-kg dose). `min_infusions`
    and `from`/`to` (on the date of infusion 1, UTC) are applied here.
    """
    pat, first = patients(scope), first_infusions(scope)
    totals = select(
        Infusion.patient_id,
        func.count().label("n_infusions"),
        func.sum(Infusion.dose_mg_per_kg).label("dose_sum"),
        func.count(Infusion.dose_mg_per_kg).label("dose_known"),
    ).group_by(Infusion.patient_id)
    agg = _visible(scope, totals).subquery("agg")
    n_infusions = func.coalesce(agg.c.n_infusions, 0)
    stmt = (
        select(
            pat,
            n_infusions.label("n_infusions"),
            first.c.t1,
            first.c.inf1,
            agg.c.dose_sum,
            func.coalesce(agg.c.dose_known, 0).label("dose_known"),
        )
        .outerjoin(first, first.c.patient_id == pat.c.id)
        .outerjoin(agg, agg.c.patient_id == pat.c.id)
    )
    if scope.filters.min_infusions:
        stmt = stmt.where(n_infusions >= scope.filters.min_infusions)
    if scope.first_after is not None:
        stmt = stmt.where(first.c.t1 >= scope.first_after)
    if scope.first_before is not None:
        stmt = stmt.where(first.c.t1 < scope.first_before)
    return stmt.subquery("coh")


def responses(scope: Scope) -> CTE:
    """Current (or as-of) versions of responses, retracted ones left out.

    Columns: id, patient_id, infusion_id, timepoint, collected_at, created_at, pain,
    hads_anxiety, hads_depression.
    """
    if scope.as_of is None:
        stmt = select(
            Response.id,
            Response.patient_id,
            Response.infusion_id,
            Response.timepoint,
            Response.collected_at,
            Response.created_at,
            Response.pain,
            Response.hads_anxiety,
            Response.hads_depression,
        ).where(Response.status != RETRACTED)
        stmt = _rebuilding(scope, stmt, Response.patient_id)
    else:
        v = ResponseVersion
        # The latest version recorded by then: one sort of the history, whatever its size.
        ranked = (
            select(
                v.response_id,
                v.status,
                v.collected_at,
                v.pain,
                v.hads_anxiety,
                v.hads_depression,
                func.row_number()
                .over(partition_by=v.response_id, order_by=v.version.desc())
                .label("rn"),
            )
            .where(v.recorded_at <= scope.as_of)
            .subquery("ranked")
        )
        stmt = (
            select(
                Response.id,
                Response.patient_id,
                Response.infusion_id,
                Response.timepoint,
                ranked.c.collected_at,
                Response.created_at,
                ranked.c.pain,
                ranked.c.hads_anxiety,
                ranked.c.hads_depression,
            )
            .join(ranked, ranked.c.response_id == Response.id)
            .where(ranked.c.rn == 1, ranked.c.status != RETRACTED)
            .where(Response.created_at <= scope.as_of)
        )
    if scope.site_id is not None:
        stmt = stmt.where(Response.site_id == scope.site_id)
    # A CTE: the unpivot by scale reads it three times, the database computes it once.
    # Unnamed, so that one statement may hold several (the summary rebuild does).
    return stmt.cte()


def adverse_events(scope: Scope) -> Subquery:
    """Adverse events recorded by `as_of`: infusion_id, type, severity."""
    stmt = select(AdverseEvent.infusion_id, AdverseEvent.type, AdverseEvent.severity)
    if scope.rebuild is not None:
        of_patients = select(Infusion.id).where(among(scope, Infusion.patient_id, scope.rebuild))
        stmt = stmt.where(AdverseEvent.infusion_id.in_(of_patients))
    if scope.site_id is not None:
        stmt = stmt.where(AdverseEvent.site_id == scope.site_id)
    if scope.as_of is not None:
        stmt = stmt.where(AdverseEvent.created_at <= scope.as_of)
    return stmt.subquery("ae")
