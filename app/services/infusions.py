"""Infusions (numbered by start time, derived on read) and their adverse events."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Unprocessable
from app.models import AdverseEvent, Infusion, Patient
from app.schemas.clinical import (
    AdverseEventCreate,
    AdverseEventRead,
    InfusionCreate,
    InfusionRead,
)
from app.services import pagination


def number_column() -> Any:
    """Infusion number: 1, 2, … by start time within the patient (ties by registration)."""
    return (
        func.row_number()
        .over(
            partition_by=Infusion.patient_id,
            order_by=(Infusion.started_at, Infusion.created_at, Infusion.id),
        )
        .label("number")
    )


def _numbered(patient_id: uuid.UUID) -> Any:
    return select(Infusion, number_column()).where(Infusion.patient_id == patient_id).subquery()


async def number_of(session: AsyncSession, infusion: Infusion) -> int:
    sub = _numbered(infusion.patient_id)
    number = await session.scalar(select(sub.c.number).where(sub.c.id == infusion.id))
    assert number is not None
    return int(number)


def to_read(
    infusion: Infusion, number: int, events: Sequence[AdverseEvent] | None = None
) -> InfusionRead:
    data = {c.key: getattr(infusion, c.key) for c in Infusion.__table__.columns}
    data["number"] = number
    if events is not None:
        data["adverse_events"] = [AdverseEventRead.model_validate(e) for e in events]
    return InfusionRead.model_validate(data)


def _derive_doses(data: InfusionCreate) -> tuple[float | None, float | None]:
    """Fill whichever of dose_mg / dose_mg_per_kg is missing when the weight is known."""
    dose_mg, per_kg, weight = data.dose_mg, data.dose_mg_per_kg, data.weight_kg
    if weight is not None:
        if dose_mg is None and per_kg is not None:
            dose_mg = per_kg * weight
        elif per_kg is None and dose_mg is not None:
            per_kg = dose_mg / weight
    return dose_mg, per_kg


async def create(
    session: AsyncSession, caller: Principal, patient: Patient, data: InfusionCreate
) -> InfusionRead:
    dose_mg, per_kg = _derive_doses(data)
    infusion = Infusion(
        id=uuid.uuid4(),
        patient_id=patient.id,
        site_id=patient.site_id,
        started_at=data.started_at,
        duration_min=data.duration_min,
        weight_kg=data.weight_kg,
        dose_mg=dose_mg,
        dose_mg_per_kg=per_kg,
        co_medications=[m.model_dump() for m in data.co_medications],
        created_at=dt.datetime.now(dt.UTC),
        created_by=caller.prefix,
    )
    session.add(infusion)
    await session.flush()
    return to_read(infusion, await number_of(session, infusion))


async def list_page(
    session: AsyncSession, patient: Patient, *, limit: int, cursor: str | None
) -> tuple[list[InfusionRead], str | None]:
    sub = _numbered(patient.id)
    stmt = select(sub)
    rows, next_cursor = await pagination.page(
        session,
        stmt,
        sub.c.started_at,
        sub.c.id,
        limit=limit,
        cursor=cursor,
        key=lambda r: (r.started_at, r.id),
    )
    items = [InfusionRead.model_validate(dict(r._mapping)) for r in rows]
    return items, next_cursor


async def read(session: AsyncSession, infusion: Infusion) -> InfusionRead:
    events = await session.scalars(
        select(AdverseEvent)
        .where(AdverseEvent.infusion_id == infusion.id)
        .order_by(AdverseEvent.created_at, AdverseEvent.id)
    )
    return to_read(infusion, await number_of(session, infusion), events.all())


async def add_adverse_event(
    session: AsyncSession, caller: Principal, infusion: Infusion, data: AdverseEventCreate
) -> AdverseEventRead:
    if data.onset_at is not None and data.onset_at < infusion.started_at:
        raise Unprocessable(
            "An adverse event of an infusion cannot start before the infusion.",
            errors=[{"loc": ["body", "onset_at"], "msg": "before the infusion started"}],
        )
    event = AdverseEvent(
        id=uuid.uuid4(),
        infusion_id=infusion.id,
        site_id=infusion.site_id,
        type=data.type.value,
        severity=data.severity.value,
        onset_at=data.onset_at,
        created_at=dt.datetime.now(dt.UTC),
        created_by=caller.prefix,
    )
    session.add(event)
    await session.flush()
    return AdverseEventRead.model_validate(event)
