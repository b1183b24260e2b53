"""The audit trail, for administrators."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BeforeValidator

from app.deps import Admin, SessionDep
from app.routers.common import ERRORS
from app.schemas.audit import AuditEventRead
from app.schemas.common import Page
from app.services import audit

router = APIRouter(tags=["audit"], responses=ERRORS)

Text = Annotated[str | None, Query(min_length=1, max_length=64)]


def _iso(value: object) -> object:
    # Pydantic would also read "0.5" as a Unix time; the contract is ISO 8601.
    if isinstance(value, str) and not re.match(r"^\d{4}-\d{2}-\d{2}[T ]", value):
        raise ValueError("must be an ISO 8601 date-time with a time zone")
    return value


When = Annotated[AwareDatetime, BeforeValidator(_iso)]


@router.get("/v1/audit", response_model=Page[AuditEventRead])
async def list_audit_events(
    session: SessionDep,
    caller: Admin,
    key_prefix: Text = None,
    action: Text = None,
    resource: Text = None,
    resource_id: Text = None,
    since: Annotated[When | None, Query(description="Events at or after this instant.")] = None,
    until: Annotated[When | None, Query(description="Events before this instant.")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size (at most 500).")] = 100,
    cursor: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{1,18}$", description="`next_cursor` of the previous page."),
    ] = None,
) -> Page[AuditEventRead]:
    """Who did what to which resource, when, and the status it got — newest first
    (admin only). Every write, failed ones included, and every row-level read or export
    is here; request bodies and answers never are."""
    filters = audit.Filters(key_prefix, action, resource, resource_id, since, until)
    before = int(cursor) if cursor else None
    rows, next_id = await audit.search(session, filters, limit=limit, before_id=before)
    await audit.record(session, audit.event(caller, "list", "audit_event"))
    items = [AuditEventRead.model_validate(r) for r in rows]
    return Page(items=items, next_cursor=str(next_id) if next_id is not None else None)
