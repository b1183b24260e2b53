"""The SPEC §7 definitions both extraction paths share, as SQL expressions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Integer, and_, cast, func, or_

from app.schemas.common import Timepoint
from app.services.analytics.scope import Scope

SCALES = ("pain", "hads_anxiety", "hads_depression")
KINDS = ("baseline", "final")
MONTH_DAYS = 30.4375


def is_baseline(resp: Any, first: Any) -> Any:
    """A baseline candidate: at or before the start of infusion 1, from a `baseline` response
    or the `pre_infusion` of infusion 1 (no infusion: any `baseline` response)."""
    return or_(
        and_(first.c.t1.is_(None), resp.c.timepoint == Timepoint.baseline.value),
        and_(
            resp.c.collected_at <= first.c.t1,
            or_(
                resp.c.timepoint == Timepoint.baseline.value,
                and_(
                    resp.c.timepoint == Timepoint.pre_infusion.value,
                    resp.c.infusion_id == first.c.inf1,
                ),
            ),
        ),
    )


def is_final(resp: Any, first: Any) -> Any:
    """A final candidate: collected after the start of infusion 1."""
    return resp.c.collected_at > first.c.t1


def days_after(scope: Scope, later: Any, earlier: Any) -> Any:
    if scope.dialect == "postgresql":
        return func.date_part("epoch", later - earlier, type_=Float) / 86400.0
    return func.julianday(later) - func.julianday(earlier)


def month_of(scope: Scope, days: Any) -> Any:
    ratio = days / MONTH_DAYS
    # Only positive day counts reach here, where truncation (SQLite's CAST) equals floor.
    whole = func.floor(ratio) if scope.dialect == "postgresql" else ratio
    return cast(whole, Integer)


def year_of(scope: Scope, instant: Any) -> Any:
    """The calendar year of an instant, in UTC."""
    if scope.dialect == "postgresql":
        return func.date_part("year", func.timezone("UTC", instant), type_=Float)
    return cast(func.strftime("%Y", instant), Integer)
