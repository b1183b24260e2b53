"""Entry points of the analytics endpoints, one per route."""

import dataclasses

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.services.analytics import refresh
from app.services.analytics.adverse import adverse_events
from app.services.analytics.by_infusion import by_infusion
from app.services.analytics.cohort import cohort
from app.services.analytics.deltas import pain_deltas
from app.services.analytics.mediation import mediation
from app.services.analytics.scope import Filters, Scope, resolve, snapshot
from app.services.analytics.trajectory import trajectory

__all__ = [
    "adverse_events",
    "by_infusion",
    "cohort",
    "mediation",
    "pain_deltas",
    "scope",
    "trajectory",
]


async def scope(session: AsyncSession, caller: Principal, filters: Filters) -> Scope:
    """What an analysis covers; for the current state, with the summary tables brought up to
    date with every write committed so far."""
    resolved = await resolve(session, caller, filters)
    if resolved.as_of is None:
        await refresh.refresh(session)
        resolved = dataclasses.replace(resolved, fresh=True)
    await snapshot(session)
    return resolved
