"""Adverse-event counts per infusion of the cohort, aggregated in SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, case, func, literal, null, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.schemas.common import Severity
from app.services.analytics import sources, summary
from app.services.analytics.scope import Scope

SEVERITIES = tuple(s.value for s in Severity)


@dataclass(slots=True)
class EventCounts:
    """Infusions per number k, and infusions with an event (any, or by type and worst severity)."""

    infusions_by_k: dict[int, int] = field(default_factory=dict)
    with_event_by_k: dict[int, int] = field(default_factory=dict)
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)  # type -> worst -> n

    @property
    def n_infusions(self) -> int:
        return sum(self.infusions_by_k.values())

    @property
    def n_with_event(self) -> int:
        return sum(self.with_event_by_k.values())


def severity_rank(severity: Any) -> Any:
    """0, 1, 2 for mild, moderate, severe: the worst is the maximum."""
    return case(*((severity == s, i) for i, s in enumerate(SEVERITIES)), else_=0)


def _cohort_infusions(scope: Scope) -> Any:
    """id and number of the cohort's infusions (numbered among the visible ones)."""
    inf = sources.infusions(scope)
    stmt = select(inf.c.id, inf.c.number)
    if scope.patient_filters:
        coh = sources.cohort(scope)
        stmt = stmt.join(coh, coh.c.id == inf.c.patient_id)
    return stmt.cte("cinf")


def _statement(scope: Scope) -> Any:
    """Both breakdowns in one statement over the cohort's infusions, computed once.

    Rows: ("k", k, None, None, infusions, with_event) per infusion number, and
    ("type", None, type, worst severity rank, infusions, None) per type and worst severity.
    """
    if scope.summarised:
        return summary.event_counts(scope)
    cinf, ae = _cohort_infusions(scope), sources.adverse_events(scope)
    rank = severity_rank(ae.c.severity)
    worst_q = select(ae.c.infusion_id, ae.c.type, func.max(rank).label("worst")).group_by(
        ae.c.infusion_id, ae.c.type
    )
    if scope.patient_filters:
        # Without them every visible event belongs to a visible infusion of the cohort.
        worst_q = worst_q.where(ae.c.infusion_id.in_(select(cinf.c.id)))
    worst = worst_q.cte("worst")
    hit = select(worst.c.infusion_id).group_by(worst.c.infusion_id).subquery("hit")
    per_k = (
        select(
            literal("k", String).label("kind"),
            cinf.c.number.label("k"),
            null().label("type"),
            null().label("worst"),
            func.count().label("n"),
            func.count(hit.c.infusion_id).label("with_event"),
        )
        .outerjoin(hit, hit.c.infusion_id == cinf.c.id)
        .group_by(cinf.c.number)
    )
    by_type = select(
        literal("type", String),
        null(),
        worst.c.type,
        worst.c.worst,
        func.count(),
        null(),
    ).group_by(worst.c.type, worst.c.worst)
    return per_k.union_all(by_type)


async def count_events(session: AsyncSession, scope: Scope) -> EventCounts:
    """Infusions by number (with and without events) and by type and worst severity."""
    counts = EventCounts()
    for kind, k, type_, worst, n, with_event in await session.execute(_statement(scope)):
        if kind == "k":
            counts.infusions_by_k[int(k)] = int(n)
            counts.with_event_by_k[int(k)] = int(with_event)
        else:
            counts.by_type.setdefault(type_, {})[SEVERITIES[int(worst)]] = int(n)
    return counts
