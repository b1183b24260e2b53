"""Infusions (numbered by start time, derived on read) and their adverse events."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
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
from app.services import audit, pagination, staging


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


def _onset_after_start(onset_at: dt.datetime | None, started_at: dt.datetime) -> None:
    if onset_at is not None and onset_at < started_at:
        raise Unprocessable(
            "An adverse event of an infusion cannot start before the infusion.",
            errors=[{"loc": ["body", "onset_at"], "msg": "before the infusion started"}],
        )


async def add_adverse_event(
    session: AsyncSession, caller: Principal, infusion: Infusion, data: AdverseEventCreate
) -> AdverseEventRead:
    _onset_after_start(data.onset_at, infusion.started_at)
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


@dataclass(frozen=True, slots=True)
class NewInfusion:
    """A validated infusion for `create_many`, with the adverse events it came with."""

    patient_id: uuid.UUID
    site_id: uuid.UUID
    data: InfusionCreate
    events: Sequence[AdverseEventCreate] = ()
    id: uuid.UUID = field(default_factory=uuid.uuid4)


def _event_row(
    caller: Principal, item: NewInfusion, event: AdverseEventCreate, now: dt.datetime
) -> dict[str, Any]:
    _onset_after_start(event.onset_at, item.data.started_at)
    return {
        "id": uuid.uuid4(), "infusion_id": item.id, "site_id": item.site_id,
        "type": event.type.value, "severity": event.severity.value, "onset_at": event.onset_at,
        "created_at": now, "created_by": caller.prefix,
    }  # fmt: skip


async def create_many(
    session: AsyncSession, caller: Principal, items: Sequence[NewInfusion], action: str = "create"
) -> None:
    """Register many infusions and their adverse events as `create` and
    `add_adverse_event` would, staged with one audit event each (written at commit).

    For loaders whose patients exist or are staged before; doses are derived the same way
    and an adverse event starting before its infusion raises Unprocessable, as one by one.
    """
    now = dt.datetime.now(dt.UTC)
    rows, events = [], []
    for item in items:
        d = item.data
        dose_mg, per_kg = _derive_doses(d)
        rows.append({
            "id": item.id, "patient_id": item.patient_id, "site_id": item.site_id,
            "started_at": d.started_at, "duration_min": d.duration_min, "weight_kg": d.weight_kg,
            "dose_mg": dose_mg, "dose_mg_per_kg": per_kg,
            "co_medications": [m.model_dump() for m in d.co_medications],
            "created_at": now, "created_by": caller.prefix,
        })  # fmt: skip
        events += [_event_row(caller, item, e, now) for e in item.events]
    staging.stage(session, Infusion, rows)
    staging.stage(session, AdverseEvent, events)
    await audit.record(session, *(
        audit.event(caller, action, resource, row["id"], outcome=201)
        for resource, rows_of in (("infusion", rows), ("adverse_event", events))
        for row in rows_of
    ))  # fmt: skip
