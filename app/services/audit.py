"""Audit trail: who did what to which resource, when, and how it ended — never the content."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.models import AuditEvent


def event(
    caller: Principal | None,
    action: str,
    resource: str,
    resource_id: Any = None,
    *,
    outcome: int = 200,
    request_id: str | None = None,
) -> dict[str, Any]:
    return {
        "at": dt.datetime.now(dt.UTC),
        "key_prefix": caller.prefix if caller else None,
        "role": caller.role if caller else None,
        "site_code": caller.site_code if caller else None,
        "action": action,
        "resource": resource,
        "resource_id": str(resource_id) if resource_id is not None else None,
        "outcome": outcome,
        "request_id": request_id,
    }


async def record(session: AsyncSession, *events: dict[str, Any]) -> None:
    """Append audit rows inside the caller's transaction: they commit with the change."""
    if events:
        await session.execute(insert(AuditEvent), list(events))
