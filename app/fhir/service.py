"""FHIR doors onto the native paths: intake, scoped reads, and the site-scoped search."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import AppError, NotFound
from app.fhir.inbound import QR, parse, parse_id, translate
from app.fhir.outbound import questionnaire_response
from app.services import audit, intake, lookups
from app.services import responses as native


async def create(
    session: AsyncSession, caller: Principal, body: Any, request_id: str | None
) -> dict[str, Any]:
    """Validate, score and store exactly as `POST /v1/responses` does; returns the resource."""
    parsed = parse(body)
    try:
        created = await intake.create_one(session, caller, parsed.data, request_id)
    except AppError as exc:
        raise _located(exc, parsed.links) from exc
    return questionnaire_response(created)


def _located(exc: AppError, links: dict[str, int]) -> AppError:
    """The same error, its locations rewritten as FHIRPath into the submitted resource."""
    if isinstance(exc, NotFound):
        errors = [{"loc": [QR, "subject"], "msg": exc.detail, "code": "not-found"}]
    else:
        errors = [
            {"loc": translate(list(e.get("loc", [])), links), "msg": e.get("msg", "")}
            for e in exc.errors or []
        ]
    return type(exc)(exc.detail, errors=errors, headers=exc.headers)


async def read(
    session: AsyncSession, caller: Principal, resource_id: str, version: int | None = None
) -> dict[str, Any]:
    """One response (current or past version) in the caller's scope; 404 otherwise."""
    id_ = parse_id(resource_id)
    if id_ is None:
        raise NotFound(f"No {QR} with id {resource_id}.")
    head = await lookups.response(session, caller, id_)
    await audit.record(session, audit.event(caller, "read", "response", head.id))
    return questionnaire_response(await native.read(session, head), version)


def patient_ref(value: str) -> uuid.UUID | None:
    """`Patient/{id}` or a bare id, as FHIR reference search parameters allow."""
    return parse_id(value.rsplit("Patient/", 1)[-1])
