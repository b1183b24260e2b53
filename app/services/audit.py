"""Audit trail: who did what to which resource, when, and how it ended — never the content."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.models import AuditEvent
from app.services import staging

# GET routes under these prefixes serve catalogues or aggregates, not rows about patients.
# ("/fhir/Questionnaire" matches itself and what is below it, not QuestionnaireResponse.)
UNAUDITED_READS = (
    "/v1/analytics",
    "/v1/reports",
    "/v1/exports/dictionary",
    "/v1/instruments",
    "/v1/sites",
    "/fhir/metadata",
    "/fhir/Questionnaire",
)
VERBS = frozenset({"amend", "retract", "batch"})
_ACTIONS = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


def event(
    caller: Principal | None,
    action: str,
    resource: str,
    resource_id: Any = None,
    *,
    outcome: int = 200,
    request_id: str | None = None,
    key_prefix: str | None = None,
) -> dict[str, Any]:
    return {
        "at": dt.datetime.now(dt.UTC),
        "key_prefix": caller.prefix if caller else key_prefix,
        "role": caller.role if caller else None,
        "site_code": caller.site_code if caller else None,
        "action": action[:40],
        "resource": resource[:40],
        "resource_id": str(resource_id)[:64] if resource_id is not None else None,
        "outcome": outcome,
        "request_id": request_id,
    }


async def record(session: AsyncSession, *events: dict[str, Any]) -> None:
    """Append audit rows inside the caller's transaction: they commit with the change.

    The session remembers that it audited, so the request is not recorded a second time
    once it commits; the request id is filled in from the session when the caller has none.
    """
    if not events:
        return
    request_id = session.info.get("request_id")
    rows = [{**e, "request_id": e.get("request_id") or request_id} for e in events]
    staging.stage(session, AuditEvent, rows)  # written with the change, in one round trip
    session.info["audited"] = True


async def record_each(
    session: AsyncSession, template: dict[str, Any], resource_ids: list[str]
) -> None:
    """`record` of one event per resource id, otherwise alike (a batch's creations), staged
    column by column rather than as a thousand copies of the template."""
    if not resource_ids:
        return
    shared = {k: v for k, v in template.items() if k != "resource_id"}
    shared["request_id"] = template.get("request_id") or session.info.get("request_id")
    ids = [rid[:64] for rid in resource_ids]
    staging.stage(session, AuditEvent, staging.Columns({"resource_id": ids}, shared))
    session.info["audited"] = True


def is_audited(method: str, template: str) -> bool:
    """Writes and row-level reads are audited; catalogue and aggregate reads are not."""
    if not template.startswith(("/v1/", "/fhir/")):
        return False
    if method != "GET":
        return method in _ACTIONS
    return not any(template == p or template.startswith(p + "/") for p in UNAUDITED_READS)


def describe(method: str, template: str, params: dict[str, Any]) -> tuple[str, str, Any]:
    """(action, resource, resource id) of a request, derived from its route template.

    `POST /v1/patients/{patient_id}/infusions` → ("create", "infusion", <patient id>);
    `POST /v1/responses/{response_id}/amend` → ("amend", "response", <response id>).
    """
    parts = [p for p in template.split("/") if p][1:]
    literals = [p for p in parts if not p.startswith("{")]
    names = [p.strip("{}").split(":")[0] for p in parts if p.startswith("{")]
    resource_id = params.get(names[-1]) if names else None
    if literals and literals[-1] in VERBS:
        action, literals = literals[-1], literals[:-1]
    elif literals and literals[0] == "exports":
        action = "export"
    elif method == "GET":
        action = "read" if parts and parts[-1].startswith("{") else "list"
    else:
        action = _ACTIONS.get(method, method.lower())
    noun = (literals[-1] if literals else "root").split(".")[0]  # responses.csv → responses
    if noun.endswith("s") and not noun.endswith("ss"):
        noun = noun[:-1]
    return action, noun.replace("-", "_"), resource_id


@dataclass(frozen=True, slots=True)
class Filters:
    key_prefix: str | None = None
    action: str | None = None
    resource: str | None = None
    resource_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


async def search(
    session: AsyncSession, filters: Filters, *, limit: int, before_id: int | None = None
) -> tuple[Sequence[AuditEvent], int | None]:
    """Newest events first; returns a page and the id to continue before (None at the end)."""
    stmt = select(AuditEvent)
    for column, value in (
        (AuditEvent.key_prefix, filters.key_prefix),
        (AuditEvent.action, filters.action),
        (AuditEvent.resource, filters.resource),
        (AuditEvent.resource_id, filters.resource_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if filters.since is not None:
        stmt = stmt.where(AuditEvent.at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(AuditEvent.at < filters.until)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    rows = (await session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit + 1))).all()
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], rows[limit - 1].id
