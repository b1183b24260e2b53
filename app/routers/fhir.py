"""HL7 FHIR R4 endpoints: metadata, Questionnaires, QuestionnaireResponse create/read/search."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import StringConstraints

from app.deps import AnyRole, RowReader, SessionDep, Writer, writes_staged_only
from app.errors import NotFound
from app.fhir import search as fhir_search
from app.fhir import service
from app.fhir.capability import capability_statement
from app.fhir.common import (
    EXT_TIMEPOINT,
    FHIR_JSON,
    FhirResponse,
    UnsupportedMediaType,
    etag,
    response_headers,
)
from app.fhir.questionnaire import all_questionnaires, questionnaire
from app.idempotent import IdempotencyDep
from app.instruments import get_instrument
from app.services import audit, idempotency


def _outcomes(*entries: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": text + " (OperationOutcome)", "content": {FHIR_JSON: {}}}
        for status, text in entries
    }


FHIR_ERRORS = _outcomes(
    (401, "Missing or invalid API key"),
    (403, "The key's role may not do this"),
    (404, "Unknown, or another site's, resource"),
    (422, "Invalid resource or parameter; one issue per problem, with its FHIRPath"),
)
CREATE_ERRORS = _outcomes(
    (409, "A request with this Idempotency-Key is still in flight"),
    (415, "Not sent as application/fhir+json or application/json"),
)
EXAMPLE = {
    "resourceType": "QuestionnaireResponse",
    "questionnaire": "https://pro-registry.org/fhir/Questionnaire/nrs-pain",
    "status": "completed",
    "subject": {"reference": "Patient/5f0c6c1e-3b8e-4f7a-9a43-0d3c2b1a9e77"},
    "authored": "2024-01-15T10:00:00+01:00",
    "extension": [{"url": EXT_TIMEPOINT, "valueCode": "baseline"}],
    "item": [
        {"linkId": "score", "answer": [{"valueInteger": 6}]},
        {"linkId": "recall", "answer": [{"valueString": "24h"}]},
    ],
}
router = APIRouter(
    prefix="/fhir", tags=["fhir"], responses=FHIR_ERRORS, default_response_class=FhirResponse
)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


async def _fhir_json(request: Request) -> None:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in (FHIR_JSON, "application/json"):
        raise UnsupportedMediaType(f"Send the resource as {FHIR_JSON} (or application/json).")


@router.get("/metadata")
async def get_metadata(request: Request, _caller: AnyRole) -> FhirResponse:
    """The server's CapabilityStatement (FHIR 4.0.1): resources, interactions, search parameters."""
    return FhirResponse(capability_statement(_base(request)))


@router.get("/Questionnaire")
async def search_questionnaires(
    request: Request, _caller: AnyRole, url: Annotated[str | None, Query()] = None
) -> FhirResponse:
    """Every Questionnaire this server scores (optionally the one with canonical `url`)."""
    found = [q for q in all_questionnaires() if url is None or q["url"] == url.split("|")[0]]
    body = fhir_search.bundle(_base(request), str(request.url), None, len(found), found)
    return FhirResponse(body)


@router.get("/Questionnaire/{questionnaire_id}")
async def read_questionnaire(questionnaire_id: str, _caller: AnyRole) -> FhirResponse:
    """`nrs-pain` (LOINC 72514-3, answer list LL2335-9) or `hads` (SNOMED CT 273524006).
    Item `linkId`s are the native answer keys; HADS items carry neutral labels only."""
    instrument = get_instrument(questionnaire_id)
    if instrument is None:
        raise NotFound(f"No Questionnaire {questionnaire_id!r}.")
    return FhirResponse(
        questionnaire(instrument), headers={"ETag": etag(instrument.scoring_version)}
    )


@router.post(
    "/QuestionnaireResponse",
    status_code=201,
    dependencies=[Depends(_fhir_json)],
    responses=CREATE_ERRORS,
)
@writes_staged_only
async def create_questionnaire_response(
    request: Request,
    session: SessionDep,
    caller: Writer,
    idem: IdempotencyDep,
    body: Annotated[
        dict[str, Any],
        Body(media_type=FHIR_JSON, openapi_examples={"nrs-pain": {"value": EXAMPLE}}),
    ],
) -> FhirResponse:
    """Submit a completed QuestionnaireResponse; it is validated, scored and stored exactly
    like `POST /v1/responses`. `subject` = `Patient/{id}`, `questionnaire` = the served
    Questionnaire's `url` (optionally `|version`), `authored` = when it was collected (with a
    zone), item `linkId`s = answer keys (`valueInteger`; the NRS `recall` as `valueCoding` or
    `valueString`), and the timepoint (plus infusion and visit) in extensions. Answers 201 with
    the stored resource, its scores in an extension, `Location` and `ETag`."""
    resource = await service.create(
        session, caller, body, getattr(request.state, "request_id", None)
    )
    headers = response_headers(resource, location=True)
    if idem.key is not None:
        stored = idempotency.Stored(201, resource, headers["Location"])
        idempotency.remember(session, caller, [(idem.key, idem.fp, stored)])
    return FhirResponse(resource, status_code=201, headers=headers)


_UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
# A malformed reference is a client error (422), not a search that matches nothing.
SubjectRef = Annotated[str, StringConstraints(pattern=rf"^Patient/{_UUID}$")]
PatientRef = Annotated[str, StringConstraints(pattern=rf"^(Patient/)?{_UUID}$")]


@router.get("/QuestionnaireResponse")
async def search_questionnaire_responses(
    request: Request,
    session: SessionDep,
    caller: RowReader,
    subject: Annotated[list[SubjectRef] | None, Query(description="`Patient/{id}`")] = None,
    patient: Annotated[list[PatientRef] | None, Query(description="`Patient/{id}` or id")] = None,
    questionnaire: Annotated[list[str] | None, Query(description="canonical url")] = None,
    authored: Annotated[list[str] | None, Query(description="e.g. ge2024-01-01")] = None,
    status: Annotated[list[str] | None, Query(description="comma-separated codes")] = None,
    count: Annotated[int, Query(alias="_count", ge=0, le=500)] = 50,
    cursor: Annotated[str | None, Query(alias="_cursor", max_length=512)] = None,
) -> FhirResponse:
    """Search the caller's responses; a `searchset` Bundle with `total` and a `next` link
    while more pages remain. Parameters repeat to AND; unknown parameters are ignored."""
    params = fhir_search.Search(
        [*(subject or []), *(patient or [])], questionnaire or [], authored or [], status or []
    )
    total, resources, next_cursor = await fhir_search.search(
        session, caller, params, count=count, cursor=cursor
    )
    next_url = str(request.url.include_query_params(_cursor=next_cursor)) if next_cursor else None
    await audit.record(
        session, audit.event(caller, "list", "response", fhir_search.subject_id(params))
    )
    return FhirResponse(
        fhir_search.bundle(_base(request), str(request.url), next_url, total, resources)
    )


@router.get("/QuestionnaireResponse/{response_id}")
async def read_questionnaire_response(
    response_id: str, session: SessionDep, caller: RowReader
) -> FhirResponse:
    """The current version; `status` is `amended` after an amendment and `entered-in-error`
    after a retraction. Another site's response answers 404."""
    resource = await service.read(session, caller, response_id)
    return FhirResponse(resource, headers=response_headers(resource))


@router.get("/QuestionnaireResponse/{response_id}/_history/{version_id}")
async def vread_questionnaire_response(
    response_id: str, version_id: str, session: SessionDep, caller: RowReader
) -> FhirResponse:
    """One past (or the current) version, as it was stored."""
    if not version_id.isdigit():
        raise NotFound(f"No version {version_id!r}.")
    resource = await service.read(session, caller, response_id, int(version_id))
    return FhirResponse(resource, headers=response_headers(resource))
