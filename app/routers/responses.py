"""Questionnaire responses: submit (single or batch), read with history, amend, retract."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from app.deps import PatientDep, ResponseDep, RowReader, SessionDep, Writer, writes_staged_only
from app.idempotent import IdempotencyDep
from app.routers.common import (
    CONFLICT,
    ERRORS,
    NOT_FOUND,
    Cursor,
    FastJSONRoute,
    Limit,
    links,
)
from app.schemas.common import Page, Timepoint
from app.schemas.responses import (
    BatchRequest,
    BatchResult,
    ResponseAmend,
    ResponseCreate,
    ResponseRead,
    ResponseRetract,
)
from app.services import audit, batch, intake
from app.services import responses as service
from app.submit import SubmitRoute

router = APIRouter(tags=["responses"], responses=ERRORS)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


RESPONSE_LINKS = links(
    201,
    Read="GET /v1/responses/{response_id}",
    Amend="POST /v1/responses/{response_id}/amend",
    Retract="POST /v1/responses/{response_id}/retract",
)


@writes_staged_only
async def create_response(
    body: ResponseCreate,
    request: Request,
    session: SessionDep,
    caller: Writer,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Submit one questionnaire. Scores are computed and returned; send an
    `Idempotency-Key` so that a retry after a dropped connection cannot store it twice."""
    created = await intake.create_one(session, caller, body, _request_id(request))
    return await idem.respond(created, status=201, location=f"/v1/responses/{created.id}")


# `SubmitRoute`: on PostgreSQL the common case skips the session and the dependencies above
# (app/submit.py); everything else, and SQLite, goes through them.
router.add_api_route(
    "/v1/responses",
    create_response,
    methods=["POST"],
    status_code=201,
    response_model=ResponseRead,
    responses=NOT_FOUND | CONFLICT | RESPONSE_LINKS,
    route_class_override=SubmitRoute,
)


async def create_responses_batch(
    body: BatchRequest, request: Request, session: SessionDep, caller: Writer
) -> Response:
    """Submit up to 1,000 questionnaires. Each item is judged on its own and reported by
    index (201 stored, or its problem+json); a bad item never blocks the others. Items may
    carry their own `idempotency_key`."""
    # The service renders the BatchResult itself (response_model below documents it).
    rendered = await batch.ingest(session, caller, body.items, _request_id(request))
    return Response(rendered, media_type="application/json")


# Not `writes_staged_only`: a batch's rows go out by COPY, several statements that must
# commit together, so it runs in a transaction (which also holds its idempotency locks).
router.add_api_route(
    "/v1/responses/batch",
    create_responses_batch,
    methods=["POST"],
    response_model=BatchResult,
    route_class_override=FastJSONRoute,
)


# `:uuid` keeps `GET /v1/responses/batch` a 405 rather than a malformed-id 422.
@router.get("/v1/responses/{response_id:uuid}", response_model=ResponseRead, responses=NOT_FOUND)
async def get_response(
    response: ResponseDep, session: SessionDep, caller: RowReader
) -> ResponseRead:
    """The current version of a response and its full `history`, oldest first."""
    await audit.record(session, audit.event(caller, "read", "response", response.id))
    return await service.read(session, response)


@router.post(
    "/v1/responses/{response_id}/amend",
    response_model=ResponseRead,
    responses=NOT_FOUND | CONFLICT,
)
async def amend_response(
    response: ResponseDep,
    body: ResponseAmend,
    session: SessionDep,
    caller: Writer,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Correct the answers (and optionally `collected_at`) with a reason. Creates version
    n + 1 with status `amended`; earlier versions stay readable in `history`."""
    amended = await service.amend(session, caller, response, body)
    return await idem.respond(amended)


@router.post(
    "/v1/responses/{response_id}/retract",
    response_model=ResponseRead,
    responses=NOT_FOUND | CONFLICT,
)
async def retract_response(
    response: ResponseDep,
    body: ResponseRetract,
    session: SessionDep,
    caller: Writer,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Mark a response `entered-in-error` with a reason. It stops counting in analytics
    but stays readable, with its history."""
    retracted = await service.retract(session, caller, response, body)
    return await idem.respond(retracted)


@router.get(
    "/v1/patients/{patient_id}/responses",
    response_model=Page[ResponseRead],
    responses=NOT_FOUND,
)
async def list_patient_responses(
    patient: PatientDep,
    session: SessionDep,
    caller: RowReader,
    instrument: Annotated[str | None, Query(max_length=32)] = None,
    timepoint: Annotated[Timepoint | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ResponseRead]:
    """Current versions of the patient's responses (retracted ones included, by status)."""
    items, next_cursor = await service.list_for_patient(
        session, patient, instrument=instrument, timepoint=timepoint, limit=limit, cursor=cursor
    )
    await audit.record(session, audit.event(caller, "list", "response", patient.id))
    return Page(items=items, next_cursor=next_cursor)
