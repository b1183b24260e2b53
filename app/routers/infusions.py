"""Infusions of a patient and their adverse events."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.deps import InfusionDep, PatientDep, RowReader, SessionDep, Writer
from app.idempotent import IdempotencyDep
from app.routers.common import CONFLICT, ERRORS, NOT_FOUND, Cursor, Limit, links
from app.schemas.clinical import AdverseEventCreate, AdverseEventRead, InfusionCreate, InfusionRead
from app.schemas.common import Page
from app.services import audit, infusions

router = APIRouter(tags=["infusions"], responses=ERRORS | NOT_FOUND)


@router.post(
    "/v1/patients/{patient_id}/infusions",
    status_code=201,
    response_model=InfusionRead,
    responses=CONFLICT
    | links(
        201,
        Read="GET /v1/infusions/{infusion_id}",
        AddAdverseEvent="POST /v1/infusions/{infusion_id}/adverse-events",
    ),
)
async def create_infusion(
    patient: PatientDep,
    body: InfusionCreate,
    session: SessionDep,
    caller: Writer,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Record one administration. `number` is assigned by start time; registering an
    earlier infusion late renumbers the later ones."""
    created = await infusions.create(session, caller, patient, body)
    await audit.record(session, audit.event(caller, "create", "infusion", created.id, outcome=201))
    return await idem.respond(created, status=201, location=f"/v1/infusions/{created.id}")


@router.get("/v1/patients/{patient_id}/infusions", response_model=Page[InfusionRead])
async def list_infusions(
    patient: PatientDep,
    session: SessionDep,
    caller: RowReader,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[InfusionRead]:
    """The patient's infusions in order of start time."""
    items, next_cursor = await infusions.list_page(session, patient, limit=limit, cursor=cursor)
    await audit.record(session, audit.event(caller, "list", "infusion", patient.id))
    return Page(items=items, next_cursor=next_cursor)


@router.get("/v1/infusions/{infusion_id}", response_model=InfusionRead)
async def get_infusion(
    infusion: InfusionDep, session: SessionDep, caller: RowReader
) -> InfusionRead:
    """One infusion with its adverse events."""
    await audit.record(session, audit.event(caller, "read", "infusion", infusion.id))
    return await infusions.read(session, infusion)


@router.post(
    "/v1/infusions/{infusion_id}/adverse-events",
    status_code=201,
    response_model=AdverseEventRead,
    responses=CONFLICT,
)
async def create_adverse_event(
    infusion: InfusionDep,
    body: AdverseEventCreate,
    session: SessionDep,
    caller: Writer,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Record a side effect of this infusion."""
    created = await infusions.add_adverse_event(session, caller, infusion, body)
    await audit.record(
        session, audit.event(caller, "create", "adverse_event", created.id, outcome=201)
    )
    return await idem.respond(
        created, status=201, location=f"/v1/infusions/{infusion.id}#adverse-event-{created.id}"
    )
