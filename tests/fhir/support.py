"""FHIR test helpers: R4B validation of everything served, and independently built resources."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import (
    QuestionnaireResponse,
    QuestionnaireResponseItem,
    QuestionnaireResponseItemAnswer,
)
from fhir.resources.R4B.reference import Reference

from tests.support import Api

FHIR_JSON = "application/fhir+json"
BASE = "https://pro-registry.org/fhir"
HADS_URL = f"{BASE}/Questionnaire/hads"
NRS_URL = f"{BASE}/Questionnaire/nrs-pain"
EXT = f"{BASE}/StructureDefinition"
MODELS: dict[str, Any] = {
    "Bundle": Bundle,
    "CapabilityStatement": CapabilityStatement,
    "OperationOutcome": OperationOutcome,
    "Questionnaire": Questionnaire,
    "QuestionnaireResponse": QuestionnaireResponse,
}


def _no_empty(value: Any, path: str = "$") -> None:
    """FHIR JSON never carries null, empty strings, arrays or objects."""
    assert value is not None, f"null at {path}"
    assert value not in ("", [], {}), f"empty value at {path}"
    if isinstance(value, dict):
        for key, item in value.items():
            _no_empty(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _no_empty(item, f"{path}[{i}]")


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    """Validate with the R4B models (the R4 structures; the defaults are R5) and return it."""
    _no_empty(resource)
    MODELS[resource["resourceType"]].model_validate(resource)
    if resource["resourceType"] == "Bundle":
        for entry in resource.get("entry", []):
            valid(entry["resource"])
    return resource


def fhir_body(response: httpx.Response, status: int) -> dict[str, Any]:
    """The validated resource of a FHIR answer with the expected status."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(FHIR_JSON)
    return valid(response.json())


def outcome(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    body = fhir_body(response, status)
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"]  # type: ignore[no-any-return]


def build_qr(
    patient_id: str,
    answers: dict[str, Any],
    *,
    questionnaire: str = HADS_URL,
    timepoint: str = "baseline",
    infusion_id: str | None = None,
    visit: str | None = None,
    authored: str = "2024-01-15T10:00:00+01:00",
) -> dict[str, Any]:
    """A QuestionnaireResponse built with fhir.resources, as an integrator's form would send."""
    extensions = [Extension(url=f"{EXT}/timepoint", valueCode=timepoint)]
    if infusion_id is not None:
        extensions.append(Extension(url=f"{EXT}/infusion", valueId=infusion_id))
    if visit is not None:
        extensions.append(Extension(url=f"{EXT}/visit", valueString=visit))
    items = [_item(key, value) for key, value in answers.items()]
    qr = QuestionnaireResponse(
        status="completed",
        questionnaire=questionnaire,
        subject=Reference(reference=f"Patient/{patient_id}"),
        authored=authored,
        extension=extensions,
        item=items or None,
    )
    return qr.model_dump(mode="json")  # type: ignore[no-any-return]


def _item(key: str, value: Any) -> QuestionnaireResponseItem:
    if value is None:
        return QuestionnaireResponseItem(linkId=key)
    if isinstance(value, str):
        system = f"{BASE}/CodeSystem/nrs-pain-{key}"
        answer = QuestionnaireResponseItemAnswer(valueCoding={"system": system, "code": value})
    else:
        answer = QuestionnaireResponseItemAnswer(valueInteger=value)
    return QuestionnaireResponseItem(linkId=key, answer=[answer])


def post_qr(api: Api, resource: Any, **headers: str) -> httpx.Response:
    return api.post(
        "/fhir/QuestionnaireResponse",
        json=resource,
        headers={"Content-Type": FHIR_JSON, **headers},
    )


def scores_of(resource: dict[str, Any]) -> dict[str, Any]:
    """The scores extension back as a {key: value} dict."""
    (ext,) = [e for e in resource["extension"] if e["url"] == f"{EXT}/scores"]
    out = {}
    for sub in ext["extension"]:
        (value,) = [v for k, v in sub.items() if k.startswith("value")]
        out[sub["url"]] = value
    return out


def aware(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def new_key() -> str:
    return uuid.uuid4().hex
