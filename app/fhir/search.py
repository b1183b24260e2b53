"""QuestionnaireResponse search: FHIR parameters → one scoped, keyset-paged query → Bundle."""

from __future__ import annotations

import calendar
import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Unprocessable
from app.fhir.outbound import questionnaire_response
from app.fhir.questionnaire import resolve
from app.fhir.service import patient_ref
from app.models import Response, ResponseVersion
from app.services import lookups, pagination
from app.services.responses import CURRENT_VERSION, to_read

_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le")


@dataclass
class Search:
    """The supported search parameters, as received (repeated ones AND-ed)."""

    subject: list[str] = field(default_factory=list)
    questionnaire: list[str] = field(default_factory=list)
    authored: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)


def _bounds(value: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a FHIR date or dateTime at its own precision; no zone means UTC."""
    if m := _PARTIAL.match(value):
        year, month, day = int(m[1]), int(m[2] or 1), int(m[3] or 1)
        start = dt.datetime(year, month, day, tzinfo=dt.UTC)
        if m[3]:
            return start, start + dt.timedelta(days=1)
        if m[2]:
            return start, start + dt.timedelta(days=calendar.monthrange(year, month)[1])
        return start, start.replace(year=year + 1)
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    step = dt.timedelta(microseconds=1) if moment.microsecond else dt.timedelta(seconds=1)
    return moment, moment + step


def _authored(value: str) -> ColumnElement[bool]:
    prefix = value[:2] if value[:2] in _PREFIXES else "eq"
    raw = value[2:] if value[:2] in _PREFIXES else value
    try:
        lo, hi = _bounds(raw)
    except ValueError as exc:
        raise Unprocessable(
            "`authored` must be a FHIR date or dateTime, optionally prefixed (ge, le, …).",
            errors=[{"loc": ["query", "authored"], "msg": f"invalid date {value!r}"}],
        ) from exc
    col = Response.collected_at
    return {
        "eq": and_(col >= lo, col < hi), "ne": or_(col < lo, col >= hi), "gt": col >= hi,
        "lt": col < lo, "ge": col >= lo, "le": col < hi,
    }[prefix]  # fmt: skip


def _questionnaire(value: str) -> ColumnElement[bool]:
    found = resolve(value)
    if found is None:
        return false()
    instrument, version = found
    clause = Response.instrument == instrument.id
    return and_(clause, ResponseVersion.scoring_version == version) if version else clause


def clauses(params: Search) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    for ref in params.subject:
        patient = patient_ref(ref)
        out.append(Response.patient_id == patient if patient else false())
    out += [_questionnaire(v) for v in params.questionnaire]
    out += [_authored(v) for v in params.authored]
    out += [Response.status.in_(v.split(",")) for v in params.status]
    return out


async def search(
    session: AsyncSession, caller: Principal, params: Search, *, count: int, cursor: str | None
) -> tuple[int, list[dict[str, Any]], str | None]:
    """(total, resources of this page, cursor of the next page) within the caller's site."""
    where = clauses(params)
    total_stmt = lookups.scoped(
        select(func.count())
        .select_from(Response)
        .join(ResponseVersion, CURRENT_VERSION)
        .where(*where),
        Response.site_id,
        caller,
    )
    total = int((await session.execute(total_stmt)).scalar_one())
    if count == 0:
        return total, [], None
    stmt = lookups.scoped(
        select(Response, ResponseVersion).join(ResponseVersion, CURRENT_VERSION).where(*where),
        Response.site_id,
        caller,
    )
    rows, next_cursor = await pagination.page(
        session, stmt, Response.created_at, Response.id, limit=count, cursor=cursor,
        key=lambda r: (r[0].created_at, r[0].id),
    )  # fmt: skip
    return total, [questionnaire_response(to_read(h, v)) for h, v in rows], next_cursor


def bundle(
    base: str, self_url: str, next_url: str | None, total: int, resources: list[dict[str, Any]]
) -> dict[str, Any]:
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    out: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": total,
                           "link": links}  # fmt: skip
    if resources:  # FHIR JSON never carries empty arrays
        out["entry"] = [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
             "search": {"mode": "match"}}
            for r in resources
        ]  # fmt: skip
    return out


def subject_id(params: Search) -> uuid.UUID | None:
    """The patient a search is about, for the audit trail."""
    return next((p for p in map(patient_ref, params.subject) if p is not None), None)
