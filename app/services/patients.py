"""Patients: registration, versioned edits, listing."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, cast, exists, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Conflict, Unprocessable
from app.models import Patient, PatientVersion, Site
from app.schemas.clinical import PatientCreate, PatientRead, PatientUpdate
from app.services import audit, lookups, pagination, staging
from app.services.lookups import AnySelect

_VERSIONED = ("pseudonym", "birth_year", "sex", "conditions", "enrolled_on")


def to_read(patient: Patient, site_code: str) -> PatientRead:
    return PatientRead.model_validate({**_columns(patient), "site": site_code})


def _columns(patient: Patient) -> dict[str, Any]:
    return {c.key: getattr(patient, c.key) for c in Patient.__table__.columns}


async def _target_site(session: AsyncSession, caller: Principal, code: str | None) -> Site:
    if caller.role == "clinic":
        if code is not None and code != caller.site_code:
            raise Unprocessable(
                "A clinic key can only register patients of its own site.",
                errors=[{"loc": ["body", "site"], "msg": "must be omitted or your own site"}],
            )
        assert caller.site_code is not None
        return await lookups.site_by_code(session, caller, caller.site_code)
    if code is None:
        raise Unprocessable(
            "Admin keys must name the patient's site.",
            errors=[{"loc": ["body", "site"], "msg": "required for admin keys"}],
        )
    try:
        return await lookups.site_by_code(session, caller, code)
    except Exception as exc:
        raise Unprocessable(
            f"No site with code {code}.", errors=[{"loc": ["body", "site"], "msg": "unknown site"}]
        ) from exc


async def _ensure_unique(session: AsyncSession, site_id: uuid.UUID, pseudonym: str) -> None:
    taken = await session.scalar(
        select(exists().where(Patient.site_id == site_id, Patient.pseudonym == pseudonym))
    )
    if taken:
        raise Conflict(f"Pseudonym {pseudonym!r} is already registered at this site.")


async def create(session: AsyncSession, caller: Principal, data: PatientCreate) -> PatientRead:
    site = await _target_site(session, caller, data.site)
    await _ensure_unique(session, site.id, data.pseudonym)
    now = dt.datetime.now(dt.UTC)
    patient = Patient(
        id=uuid.uuid4(),
        site_id=site.id,
        pseudonym=data.pseudonym,
        birth_year=data.birth_year,
        sex=data.sex.value,
        conditions=[c.value for c in data.conditions],
        enrolled_on=data.enrolled_on or now.date(),
        version=1,
        created_at=now,
        updated_at=now,
        created_by=caller.prefix,
    )
    session.add(patient)
    await session.flush()
    await _snapshot(session, patient, caller, now)
    return to_read(patient, site.code)


async def update(
    session: AsyncSession, caller: Principal, patient: Patient, data: PatientUpdate
) -> PatientRead:
    changes = data.model_dump(exclude_unset=True, mode="json")
    if "pseudonym" in changes and changes["pseudonym"] != patient.pseudonym:
        await _ensure_unique(session, patient.site_id, changes["pseudonym"])
    if "enrolled_on" in changes and changes["enrolled_on"] is not None:
        changes["enrolled_on"] = dt.date.fromisoformat(changes["enrolled_on"])
    birth = changes.get("birth_year", patient.birth_year)
    enrolled = changes.get("enrolled_on", patient.enrolled_on)
    if birth is not None and enrolled is not None and birth > enrolled.year:
        raise Unprocessable(
            "birth_year must not be after the enrolment year.",
            errors=[{"loc": ["body", "birth_year"], "msg": "after enrolment year"}],
        )
    now = dt.datetime.now(dt.UTC)
    for key, value in changes.items():
        setattr(patient, key, value)
    patient.version += 1
    patient.updated_at = now
    await session.flush()
    await _snapshot(session, patient, caller, now)
    site = await session.get_one(Site, patient.site_id)
    return to_read(patient, site.code)


async def _snapshot(
    session: AsyncSession, patient: Patient, caller: Principal, now: dt.datetime
) -> None:
    values = {k: getattr(patient, k) for k in _VERSIONED}
    await session.execute(
        insert(PatientVersion).values(
            patient_id=patient.id,
            version=patient.version,
            recorded_at=now,
            recorded_by=caller.prefix,
            **values,
        )
    )


async def history(session: AsyncSession, patient: Patient) -> Sequence[PatientVersion]:
    rows = await session.scalars(
        select(PatientVersion)
        .where(PatientVersion.patient_id == patient.id)
        .order_by(PatientVersion.version)
    )
    return rows.all()


async def list_page(
    session: AsyncSession,
    caller: Principal,
    *,
    site: str | None,
    condition: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[PatientRead], str | None]:
    stmt: AnySelect = select(Patient, Site.code).join(Site, Site.id == Patient.site_id)
    stmt = lookups.scoped(stmt, Patient.site_id, caller)
    if site is not None:
        stmt = stmt.where(Site.code == site)
    if condition is not None:
        stmt = stmt.where(_has_condition(session, condition))
    rows, next_cursor = await pagination.page(
        session,
        stmt,
        Patient.created_at,
        Patient.id,
        limit=limit,
        cursor=cursor,
        key=lambda r: (r[0].created_at, r[0].id),
    )
    return [to_read(p, code) for p, code in rows], next_cursor


def _has_condition(session: AsyncSession, condition: str) -> Any:
    """JSON array membership, spelled per dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return Patient.conditions.op("@>")(func.jsonb_build_array(cast(str(condition), Text)))
    each = func.json_each(Patient.conditions).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == str(condition)))


@dataclass(frozen=True, slots=True)
class NewPatient:
    """A validated registration for `create_many`: its site resolved, its id chosen."""

    site_id: uuid.UUID
    data: PatientCreate
    id: uuid.UUID = field(default_factory=uuid.uuid4)


async def create_many(
    session: AsyncSession, caller: Principal, items: Sequence[NewPatient], action: str = "create"
) -> None:
    """Register many patients as `create` would, staged: heads, first versions and one
    audit event each are written at commit in one statement (nothing to read back).

    For loaders (demo, import) that resolved the sites and checked pseudonyms in bulk
    beforehand; a pseudonym taken anyway fails the commit on the unique constraint.
    """
    now = dt.datetime.now(dt.UTC)
    heads, versions = [], []
    for item in items:
        d = item.data
        values = {
            "pseudonym": d.pseudonym, "birth_year": d.birth_year, "sex": d.sex.value,
            "conditions": [c.value for c in d.conditions],
            "enrolled_on": d.enrolled_on or now.date(),
        }  # fmt: skip
        heads.append({"id": item.id, "site_id": item.site_id, "version": 1, "created_at": now,
                      "updated_at": now, "created_by": caller.prefix, **values})  # fmt: skip
        versions.append({"patient_id": item.id, "version": 1, "recorded_at": now,
                         "recorded_by": caller.prefix, **values})  # fmt: skip
    staging.stage(session, Patient, heads)
    staging.stage(session, PatientVersion, versions)
    await audit.record(
        session, *(audit.event(caller, action, "patient", i.id, outcome=201) for i in items)
    )
