"""Analytics (SPEC §7): cohort, pain deltas, per-infusion effects, trajectories, adverse
events and mediation, with the common filters and small-cell suppression."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BeforeValidator

from app.deps import Analyst, SessionDep
from app.routers.common import ERRORS, NOT_FOUND
from app.schemas.common import Condition, Instant, Sex, SiteCode
from app.services import audit
from app.services.analytics import disclosure
from app.services.analytics import service as analytics
from app.services.analytics.scope import Filters, Scope

router = APIRouter(prefix="/v1/analytics", tags=["analytics"], responses=ERRORS | NOT_FOUND)

Threshold = Annotated[
    int, Query(ge=1, le=21, description="Baseline HADS-D at or above which a patient is depressed.")
]
Scale = Literal["pain", "hads_anxiety", "hads_depression"]
Bands = Annotated[
    bool, Query(description="Stratify by HADS-D band (normal, borderline, abnormal) instead.")
]
Window = Annotated[
    Literal["overall", "first_infusion"],
    Query(description="`overall`: baseline → final; `first_infusion`: pre_1 → post_1."),
]
StrataThreshold = Annotated[
    int | None, Query(ge=1, le=21, description="Also stratify each row by baseline HADS-D.")
]


Site = Annotated[SiteCode | None, Query(description="Only this site (clinic keys: their own).")]
MinInfusions = Annotated[
    int | None, Query(ge=0, le=1000, description="At least this many infusions (the study: 2).")
]


def _iso_date(value: Any) -> Any:
    # Lax validation would take `to=0` for 1970-01-01; the documented form is YYYY-MM-DD.
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


def _iso_instant(value: Any) -> Any:
    if isinstance(value, str) and not re.match(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}", value):
        raise ValueError("must be an RFC 3339 date-time with a zone")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
From = Annotated[
    IsoDate | None, Query(alias="from", description="Infusion 1 on or after this date (UTC).")
]
To = Annotated[
    IsoDate | None, Query(alias="to", description="Infusion 1 on or before this date (UTC).")
]
AsOf = Annotated[
    Annotated[Instant, BeforeValidator(_iso_instant)] | None,
    Query(description="Analyse the data exactly as it stood at this past instant (with zone)."),
]


def _filters(
    site: Site = None,
    condition: Annotated[Condition | None, Query(description="Patients with it.")] = None,
    sex: Annotated[Sex | None, Query()] = None,
    min_infusions: MinInfusions = None,
    first_from: From = None,
    first_to: To = None,
    as_of: AsOf = None,
) -> Filters:
    return Filters(
        site,
        condition.value if condition else None,
        sex.value if sex else None,
        min_infusions,
        first_from,
        first_to,
        as_of,
    )


FiltersDep = Annotated[Filters, Depends(_filters)]


async def _scope(session: SessionDep, caller: Analyst, filters: FiltersDep) -> Scope:
    return await analytics.scope(session, caller, filters)


ScopeDep = Annotated[Scope, Depends(_scope)]


async def _out(
    request: Request, session: SessionDep, caller: Analyst, name: str, body: dict[str, Any]
) -> dict[str, Any]:
    await audit.record(session, audit.event(caller, "analytics", name, None))
    return disclosure.protect(body, request.app.state.settings.min_cell)


@router.get("/cohort")
async def get_cohort(
    request: Request,
    session: SessionDep,
    caller: Analyst,
    scope: ScopeDep,
    threshold: Threshold = 8,
) -> dict[str, Any]:
    """Table 1 of the selected cohort: patients, sites, infusions, age, sex, conditions, each
    scale's baseline, final value and change (with paired tests), the share depressed at
    baseline, and the share of infusions with an adverse event. Counts from 1 to
    `PROREG_MIN_CELL − 1` are hidden with the statistics computed from them."""
    body = await analytics.cohort(session, scope, threshold=threshold)
    return await _out(request, session, caller, "cohort", body)


@router.get("/pain-deltas")
async def get_pain_deltas(
    request: Request,
    session: SessionDep,
    caller: Analyst,
    scope: ScopeDep,
    threshold: Threshold = 8,
    bands: Bands = False,
    window: Window = "overall",
) -> dict[str, Any]:
    """Pain change per stratum of baseline depression: baseline, final and delta stats,
    responders (≥ 30 % and ≥ 50 % relative reduction, ≥ 2 points), paired t and Wilcoxon
    tests, Cohen's dz; with two strata, the difference (depressed − not_depressed: Welch,
    Mann–Whitney, Hedges' g). Patients lacking a value are counted in `n_missing`."""
    body = await analytics.pain_deltas(
        session, scope, threshold=threshold, bands=bands, window=window
    )
    return await _out(request, session, caller, "pain-deltas", body)


@router.get("/by-infusion")
async def get_by_infusion(
    request: Request,
    session: SessionDep,
    caller: Analyst,
    scope: ScopeDep,
    scale: Scale = "pain",
    max_k: Annotated[int, Query(ge=1, le=50, description="Last infusion number reported.")] = 5,
    threshold: StrataThreshold = None,
) -> dict[str, Any]:
    """One row per infusion number k: pre_k (latest pre-infusion score; the baseline for
    k = 1 when there is none), post_k (earliest post-infusion score), the paired delta with
    its tests, and the cumulative change post_k − baseline."""
    body = await analytics.by_infusion(
        session, scope, scale=scale, max_k=max_k, threshold=threshold
    )
    return await _out(request, session, caller, "by-infusion", body)


@router.get("/trajectory")
async def get_trajectory(
    request: Request,
    session: SessionDep,
    caller: Analyst,
    scope: ScopeDep,
    scale: Scale = "pain",
    threshold: Threshold = 8,
    max_month: Annotated[int, Query(ge=1, le=60)] = 12,
) -> dict[str, Any]:
    """Monthly values after infusion 1 (month 0 is the baseline; month m is each patient's
    last score in [m, m + 1) × 30.4375 days), overall and by baseline depression, and the
    linear mixed model `value ~ month * depressed + (1 | patient)` fitted by REML."""
    body = await analytics.trajectory(
        session, scope, scale=scale, threshold=threshold, max_month=max_month
    )
    return await _out(request, session, caller, "trajectory", body)


@router.get("/adverse-events")
async def get_adverse_events(
    request: Request, session: SessionDep, caller: Analyst, scope: ScopeDep
) -> dict[str, Any]:
    """Infusions with at least one adverse event of each type (by the worst severity of
    that type on the infusion), and per infusion number the infusions with any event."""
    body = await analytics.adverse_events(session, scope)
    return await _out(request, session, caller, "adverse-events", body)


@router.get("/mediation")
async def get_mediation(
    request: Request,
    session: SessionDep,
    caller: Analyst,
    scope: ScopeDep,
    exposure: Literal["cumulative_dose", "depressed"] = "cumulative_dose",
    threshold: Threshold = 8,
    n_boot: Annotated[int, Query(ge=0, le=20000, description="Bootstrap resamples.")] = 2000,
    seed: Annotated[int, Query(ge=0, le=2**32 - 1, description="Same seed, same CI.")] = 0,
) -> dict[str, Any]:
    """Single-mediator analysis per patient: X = cumulative dose (mg/kg) or baseline
    depression, M = change in HADS-D, Y = change in pain, adjusted for age and female sex.
    OLS paths a, b, c, c'; indirect effect a·b with a percentile bootstrap 95 % CI."""
    body = await analytics.mediation(
        session, scope, exposure=exposure, threshold=threshold, n_boot=n_boot, seed=seed
    )
    return await _out(request, session, caller, "mediation", body)
