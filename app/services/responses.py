"""Reading responses with their history, and amending or retracting them as new versions."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Conflict, NotFound
from app.models import Infusion, Patient, Response, ResponseVersion
from app.schemas.common import ResponseStatus
from app.schemas.responses import ResponseAmend, ResponseRead, ResponseRetract, ResponseVersionRead
from app.services import audit, lookups, pagination
from app.services.intake import check_post_time, score_answers, score_columns

# A response joined with its current version (the one its head points at).
CURRENT_VERSION = and_(
    ResponseVersion.response_id == Response.id, ResponseVersion.version == Response.version
)


def with_current_version() -> Select[Response, ResponseVersion]:
    return select(Response, ResponseVersion).join(ResponseVersion, CURRENT_VERSION)


def to_read(
    head: Response, current: ResponseVersion, history: list[ResponseVersion] | None = None
) -> ResponseRead:
    return ResponseRead(
        id=head.id, patient_id=head.patient_id, infusion_id=head.infusion_id,
        instrument=head.instrument, timepoint=head.timepoint, visit=head.visit,
        collected_at=current.collected_at, answers=current.answers, scores=current.scores,
        scoring_version=current.scoring_version, status=current.status,
        version=current.version, submitted_at=head.created_at, submitted_by=head.created_by,
        updated_at=current.recorded_at,
        history=None if history is None else [_version(v) for v in history],
    )  # fmt: skip


def _version(v: ResponseVersion) -> ResponseVersionRead:
    return ResponseVersionRead.model_validate(
        {k: getattr(v, k) for k in ResponseVersionRead.model_fields}
    )


async def read(session: AsyncSession, head: Response) -> ResponseRead:
    versions = list(
        await session.scalars(
            select(ResponseVersion)
            .where(ResponseVersion.response_id == head.id)
            .order_by(ResponseVersion.version)
        )
    )
    return to_read(head, versions[-1], versions)


async def list_for_patient(
    session: AsyncSession,
    patient: Patient,
    *,
    instrument: str | None,
    timepoint: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[ResponseRead], str | None]:
    stmt = with_current_version().where(Response.patient_id == patient.id)
    if instrument is not None:
        stmt = stmt.where(Response.instrument == instrument)
    if timepoint is not None:
        stmt = stmt.where(Response.timepoint == timepoint)
    rows, next_cursor = await pagination.page(
        session, stmt, Response.created_at, Response.id, limit=limit, cursor=cursor,
        key=lambda r: (r[0].created_at, r[0].id),
    )  # fmt: skip
    return [to_read(h, v) for h, v in rows], next_cursor


async def _lock_current(session: AsyncSession, head: Response) -> ResponseVersion:
    """Lock the response row so concurrent amendments queue instead of racing."""
    await session.execute(select(Response.id).where(Response.id == head.id).with_for_update())
    await session.refresh(head)
    current = await session.get_one(ResponseVersion, (head.id, head.version))
    if current.status == ResponseStatus.entered_in_error:
        raise Conflict("This response was retracted; submit a new one instead.")
    return current


async def append_version(
    session: AsyncSession, caller: Principal, head: Response, values: dict[str, Any], action: str
) -> ResponseRead:
    """Add version n + 1 and point the response at it; the previous versions stay as they are."""
    now = dt.datetime.now(dt.UTC)
    version = head.version + 1
    row = {"response_id": head.id, "version": version, "recorded_at": now,
           "recorded_by": caller.prefix, **values}  # fmt: skip
    await session.execute(insert(ResponseVersion).values(**row))
    head_cols = {k: row[k] for k in ("version", "status", "collected_at", *score_columns({}))}
    await session.execute(update(Response).where(Response.id == head.id).values(**head_cols))
    await audit.record(session, audit.event(caller, action, "response", head.id))
    await session.refresh(head)
    return await read(session, head)


async def amend(
    session: AsyncSession, caller: Principal, head: Response, data: ResponseAmend
) -> ResponseRead:
    current = await _lock_current(session, head)
    answers, scores, scoring_version = score_answers(head.instrument, data.answers)
    collected_at = data.collected_at or current.collected_at
    if head.infusion_id is not None:
        infusion = await session.get_one(Infusion, head.infusion_id)
        check_post_time(head.timepoint, collected_at, infusion.started_at)
    return await append_version(session, caller, head, {
        "status": ResponseStatus.amended.value, "collected_at": collected_at,
        "answers": answers, "scores": scores, "scoring_version": scoring_version,
        "prorated": bool(scores.get("prorated", False)),
        "complete": bool(scores.get("complete", True)), "reason": data.reason,
        **score_columns(scores),
    }, "amend")  # fmt: skip


async def retract(
    session: AsyncSession, caller: Principal, head: Response, data: ResponseRetract
) -> ResponseRead:
    current = await _lock_current(session, head)
    return await append_version(session, caller, head, {
        "status": ResponseStatus.entered_in_error.value, "collected_at": current.collected_at,
        "answers": current.answers, "scores": current.scores,
        "scoring_version": current.scoring_version, "prorated": current.prorated,
        "complete": current.complete, "reason": data.reason,
        **score_columns(current.scores),
    }, "retract")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Correction:
    """One amendment or retraction for `correct_many`."""

    response_id: uuid.UUID
    change: ResponseAmend | ResponseRetract


_IDS_PER_QUERY = 1000
_LOCKED = (
    Response.id, Response.instrument, Response.timepoint, Response.infusion_id,
    ResponseVersion.version, ResponseVersion.status, ResponseVersion.collected_at,
    ResponseVersion.answers, ResponseVersion.scores, ResponseVersion.scoring_version,
    ResponseVersion.prorated, ResponseVersion.complete, Infusion.started_at,
)  # fmt: skip


async def _lock_many(
    session: AsyncSession, caller: Principal, ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Current version (and infusion start) of each response, rows locked as in `amend`."""
    r, v = Response, ResponseVersion
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for start in range(0, len(ids), _IDS_PER_QUERY):
        stmt = (
            select(*_LOCKED)
            .join(v, and_(v.response_id == r.id, v.version == r.version))
            .outerjoin(Infusion, Infusion.id == r.infusion_id)
            .where(r.id.in_(ids[start : start + _IDS_PER_QUERY]))
            .with_for_update(of=r)
        )
        rows = await session.execute(lookups.scoped(stmt, r.site_id, caller))
        found |= {row.id: dict(row._mapping) for row in rows}
    return found


def _next_version(
    current: dict[str, Any], change: ResponseAmend | ResponseRetract
) -> dict[str, Any]:
    """The values of the version a correction appends, checked as `amend`/`retract` do."""
    if current["status"] == ResponseStatus.entered_in_error:
        raise Conflict("This response was retracted; submit a new one instead.")
    if isinstance(change, ResponseRetract):
        keep = ("collected_at", "answers", "scores", "scoring_version", "prorated", "complete")
        values = {k: current[k] for k in keep}
        return {**values, "status": ResponseStatus.entered_in_error.value,
                "reason": change.reason, **score_columns(current["scores"])}  # fmt: skip
    answers, scores, scoring_version = score_answers(current["instrument"], change.answers)
    collected_at = change.collected_at or current["collected_at"]
    if current["started_at"] is not None:
        check_post_time(current["timepoint"], collected_at, current["started_at"])
    return {
        "status": ResponseStatus.amended.value, "collected_at": collected_at,
        "answers": answers, "scores": scores, "scoring_version": scoring_version,
        "prorated": bool(scores.get("prorated", False)),
        "complete": bool(scores.get("complete", True)), "reason": change.reason,
        **score_columns(scores),
    }  # fmt: skip


async def correct_many(
    session: AsyncSession, caller: Principal, corrections: Sequence[Correction]
) -> None:
    """Amend or retract many responses in order, each as `amend` or `retract` would: a new
    version (earlier ones untouched), the response's current columns pointed at it and an
    audit event; a few statements for the lot. The first correction that would fail on its
    own raises that error (the caller's transaction then writes nothing)."""
    state = await _lock_many(session, caller, list({c.response_id for c in corrections}))
    now = dt.datetime.now(dt.UTC)
    versions, events = [], []
    for c in corrections:
        current = state.get(c.response_id)
        if current is None:
            raise NotFound(f"No response with id {c.response_id}.")
        row = {"response_id": c.response_id, "version": current["version"] + 1,
               "recorded_at": now, "recorded_by": caller.prefix,
               **_next_version(current, c.change)}  # fmt: skip
        versions.append(row)
        state[c.response_id] = {**current, **row}
        action = "retract" if isinstance(c.change, ResponseRetract) else "amend"
        events.append(audit.event(caller, action, "response", c.response_id))
    if not versions:
        return
    await session.execute(insert(ResponseVersion), versions)
    head_keys = ("version", "status", "collected_at", *score_columns({}))
    latest = {row["response_id"]: row for row in versions}
    await session.execute(
        update(Response),
        [{"id": rid, **{k: row[k] for k in head_keys}} for rid, row in latest.items()],
    )
    await audit.record(session, *events)
