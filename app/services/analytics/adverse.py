"""GET /v1/analytics/adverse-events: infusions with each type of event, by worst severity."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.schemas.common import AdverseEventType
from app.services.analytics import disclosure, events
from app.services.analytics.scope import Scope, envelope
from app.stats import proportion


async def adverse_events(session: AsyncSession, scope: Scope) -> dict[str, Any]:
    counts = await events.count_events(session, scope)
    total = counts.n_infusions
    body: dict[str, Any] = {**envelope(scope, ()), "n_infusions": total}
    types: dict[str, Any] = {}
    for kind in (t.value for t in AdverseEventType):
        worst = counts.by_type.get(kind, {})
        n = sum(worst.values())
        types[kind] = {
            **proportion(n, total),
            "by_severity": {s: worst.get(s, 0) for s in events.SEVERITIES},
        }
        disclosure.partition(body, [("types", kind)], residual=total - n, total=("n_infusions",))
        disclosure.partition(
            body,
            [("types", kind, "by_severity", s) for s in events.SEVERITIES],
            total=("types", kind),
        )
    body["types"] = types
    rows = []
    for i, k in enumerate(sorted(counts.infusions_by_k)):
        n_k, with_event = counts.infusions_by_k[k], counts.with_event_by_k[k]
        rows.append({"k": k, "n": n_k, "with_event": proportion(with_event, n_k)})
        disclosure.partition(
            body,
            [("by_infusion", i, "with_event")],
            residual=n_k - with_event,
            total=("by_infusion", i),
        )
    body["by_infusion"] = rows
    disclosure.partition(
        body, [("by_infusion", i) for i in range(len(rows))], total=("n_infusions",)
    )
    return body
