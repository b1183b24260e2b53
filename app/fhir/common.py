"""FHIR constants shared by the mappings: canonical base, extension URLs, media type, instants."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.responses import JSONResponse

from app.errors import AppError

FHIR_VERSION = "4.0.1"
FHIR_JSON = "application/fhir+json"
# Canonical URLs name the definitions, not the host serving them: every deployment serves the
# same Questionnaire under the same `url`, so responses stay comparable across sites.
CANONICAL = "https://pro-registry.org/fhir"
EXT_TIMEPOINT = f"{CANONICAL}/StructureDefinition/timepoint"
EXT_INFUSION = f"{CANONICAL}/StructureDefinition/infusion"
EXT_VISIT = f"{CANONICAL}/StructureDefinition/visit"
EXT_SCORES = f"{CANONICAL}/StructureDefinition/scores"
EXT_ANSWER_LIST = f"{CANONICAL}/StructureDefinition/answer-list"
EXT_MIN = "http://hl7.org/fhir/StructureDefinition/minValue"
EXT_MAX = "http://hl7.org/fhir/StructureDefinition/maxValue"
RESPONSE_TYPE = "QuestionnaireResponse"


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


class UnsupportedMediaType(AppError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


def instant(value: dt.datetime) -> str:
    """A FHIR instant/dateTime in UTC with a `Z` suffix."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def etag(version: int | str) -> str:
    return f'W/"{version}"'


def response_headers(resource: dict[str, Any], *, location: bool = False) -> dict[str, str]:
    """ETag (and Location for creates) of a stored QuestionnaireResponse."""
    meta = resource.get("meta", {})
    headers = {"ETag": etag(meta.get("versionId", "1"))}
    if "lastUpdated" in meta:
        stamp = dt.datetime.fromisoformat(meta["lastUpdated"])
        headers["Last-Modified"] = stamp.strftime("%a, %d %b %Y %H:%M:%S GMT")
    if location:
        headers["Location"] = (
            f"/fhir/{RESPONSE_TYPE}/{resource['id']}/_history/{meta.get('versionId', '1')}"
        )
    return headers


def canonical(instrument_id: str) -> str:
    return f"{CANONICAL}/Questionnaire/{instrument_id}"


def choice_system(instrument_id: str, key: str) -> str:
    """CodeSystem of a choice item's codes, e.g. the NRS recall period."""
    return f"{CANONICAL}/CodeSystem/{instrument_id}-{key}"
