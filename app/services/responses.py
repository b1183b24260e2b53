"""Reading responses with their history, and amending or retracting them as new versions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Conflict
from app.models import Infusion, Patient, Response, ResponseVersion
from app.schemas.common import ResponseStatus
from app.schemas.responses import ResponseAmend, ResponseRead, ResponseRetract, ResponseVersionRead
from app.services import audit, pagination
from app.services.intake import check_post_time, score_answers, score_columns


def _read(
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
    return _read(head, versions[-1], versions)


async def list_for_patient(
    session: AsyncSession,
    patient: Patient,
    *,
    instrument: str | None,
    timepoint: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[ResponseRead], str | None]:
    stmt = (
        select(Response, ResponseVersion)
        .join(
            ResponseVersion,
            and_(
                ResponseVersion.response_id == Response.id,
                ResponseVersion.version == Response.version,
            ),
        )
        .where(Response.patient_id == patient.id)
    )
    if instrument is not None:
        stmt = stmt.where(Response.instrument == instrument)
    if timepoint is not None:
        stmt = stmt.where(Response.timepoint == timepoint)
    rows, next_cursor = await pagination.page(
        session, stmt, Response.created_at, Response.id, limit=limit, cursor=cursor,
        key=lambda r: (r[0].created_at, r[0].id),
    )  # fmt: skip
    return [_read(h, v) for h, v in rows], next_cursor


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
