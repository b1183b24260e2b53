"""Adverse-event counts per infusion of the cohort, aggregated in SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.schemas.common import Severity
from app.services.analytics import sources
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


def _cohort_infusions(scope: Scope) -> Any:
    coh, inf = sources.cohort(scope), sources.infusions(scope)
    return select(inf.c.id, inf.c.number).join(coh, coh.c.id == inf.c.patient_id).subquery("cinf")


async def count_events(session: AsyncSession, scope: Scope) -> EventCounts:
    """Two grouped queries: infusions (with / without events) by number, and by type."""
    cinf, ae = _cohort_infusions(scope), sources.adverse_events(scope)
    per_k = (
        select(
            cinf.c.number, func.count(distinct(cinf.c.id)), func.count(distinct(ae.c.infusion_id))
        )
        .outerjoin(ae, ae.c.infusion_id == cinf.c.id)
        .group_by(cinf.c.number)
    )
    counts = EventCounts()
    for k, n, with_event in await session.execute(per_k):
        counts.infusions_by_k[int(k)] = int(n)
        counts.with_event_by_k[int(k)] = int(with_event)
    rank = case(*((ae.c.severity == s, i) for i, s in enumerate(SEVERITIES)), else_=0)
    worst = (
        select(ae.c.infusion_id, ae.c.type, func.max(rank).label("worst"))
        .join(cinf, cinf.c.id == ae.c.infusion_id)
        .group_by(ae.c.infusion_id, ae.c.type)
        .subquery("worst")
    )
    by_type = select(worst.c.type, worst.c.worst, func.count()).group_by(
        worst.c.type, worst.c.worst
    )
    for kind, rank_value, n in await session.execute(by_type):
        counts.by_type.setdefault(kind, {})[SEVERITIES[int(rank_value)]] = int(n)
    return counts
