"""Patients of a site: registration, edits with history, listing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from app.deps import PatientDep, RowReader, SessionDep, Writer
from app.idempotent import IdempotencyDep
from app.routers.common import CONFLICT, ERRORS, NOT_FOUND, Cursor, Limit, links
from app.schemas.clinical import PatientCreate, PatientRead, PatientUpdate
from app.schemas.common import Condition, Page, SiteCode
from app.services import audit, lookups, patients

router = APIRouter(prefix="/v1/patients", tags=["patients"], responses=ERRORS)


PATIENT_LINKS = links(
    201,
    Read="GET /v1/patients/{patient_id}",
    Update="PATCH /v1/patients/{patient_id}",
    AddInfusion="POST /v1/patients/{patient_id}/infusions",
    Infusions="GET /v1/patients/{patient_id}/infusions",
    Responses="GET /v1/patients/{patient_id}/responses",
)


@router.post(
    "",
    status_code=201,
    response_model=PatientRead,
    responses=CONFLICT | NOT_FOUND | PATIENT_LINKS,
)
async def create_patient(
    body: PatientCreate, session: SessionDep, caller: Writer, idem: IdempotencyDep
) -> JSONResponse:
    """Register a patient under the clinic's pseudonym (unique per site; never a name)."""
    created = await patients.create(session, caller, body)
    await audit.record(session, audit.event(caller, "create", "patient", created.id, outcome=201))
    return await idem.respond(created, status=201, location=f"/v1/patients/{created.id}")


@router.get("", response_model=Page[PatientRead])
async def list_patients(
    session: SessionDep,
    caller: RowReader,
    site: Annotated[SiteCode | None, Query()] = None,
    condition: Annotated[Condition | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[PatientRead]:
    """Patients in the key's scope, oldest registration first."""
    items, next_cursor = await patients.list_page(
        session, caller, site=site, condition=condition, limit=limit, cursor=cursor
    )
    await audit.record(session, audit.event(caller, "list", "patient", None))
    return Page(items=items, next_cursor=next_cursor)


@router.get("/{patient_id}", response_model=PatientRead, responses=NOT_FOUND)
async def get_patient(patient: PatientDep, session: SessionDep, caller: RowReader) -> PatientRead:
    """One patient (404 when missing or another site's)."""
    codes = await lookups.site_codes(session, {patient.site_id})
    await audit.record(session, audit.event(caller, "read", "patient", patient.id))
    return patients.to_read(patient, codes[patient.site_id])


@router.patch("/{patient_id}", response_model=PatientRead, responses=NOT_FOUND | CONFLICT)
async def update_patient(
    patient: PatientDep, body: PatientUpdate, session: SessionDep, caller: Writer
) -> PatientRead:
    """Change some fields; the version increases and the previous state is kept."""
    updated = await patients.update(session, caller, patient, body)
    await audit.record(session, audit.event(caller, "update", "patient", patient.id))
    return updated
