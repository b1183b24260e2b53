"""The CapabilityStatement served at GET /fhir/metadata."""

from __future__ import annotations

from typing import Any

from app import __version__
from app.fhir.common import FHIR_JSON, FHIR_VERSION
from app.fhir.questionnaire import all_questionnaires

# When the capabilities last changed; bump with any change to this statement.
RELEASED = "2026-11-25"
SP = "http://hl7.org/fhir/SearchParameter"
SEARCH_PARAMS = [
    ("subject", "reference", "QuestionnaireResponse-subject", "`Patient/{id}` (or the bare id)"),
    ("patient", "reference", "clinical-patient", "`Patient/{id}` (or the bare id)"),
    ("questionnaire", "reference", "QuestionnaireResponse-questionnaire",
     "The Questionnaire `url`, optionally `|version`"),
    ("authored", "date", "QuestionnaireResponse-authored",
     "`ge`/`le`/`gt`/`lt`/`eq`/`ne` + date or dateTime (UTC when no zone); repeat to AND"),
    ("status", "token", "QuestionnaireResponse-status",
     "`completed`, `amended`, `entered-in-error`; comma-separated for OR"),
]  # fmt: skip


def capability_statement(base: str) -> dict[str, Any]:
    urls = [q["url"] for q in all_questionnaires()]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": RELEASED,
        "publisher": "pro-registry",
        "kind": "instance",
        "software": {"name": "pro-registry", "version": __version__},
        "implementation": {"description": "pro-registry FHIR R4 endpoint", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [{
            "mode": "server",
            "security": {"description": "Send `Authorization: Bearer <API key>`. Clinic keys "
                         "see their own site only; other sites' resources answer 404."},
            "resource": [_questionnaire(), _questionnaire_response(urls)],
        }],
    }  # fmt: skip


def _questionnaire() -> dict[str, Any]:
    return {
        "type": "Questionnaire",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [{"name": "url", "definition": f"{SP}/Questionnaire-url", "type": "uri"}],
    }


def _questionnaire_response(urls: list[str]) -> dict[str, Any]:
    return {
        "type": "QuestionnaireResponse",
        "documentation": "Accepted for: " + ", ".join(urls) + ". Creates honour `Idempotency-Key`.",
        "interaction": [{"code": c} for c in ("read", "vread", "create", "search-type")],
        "versioning": "versioned",
        "readHistory": True,
        "updateCreate": False,
        "searchParam": [
            {"name": name, "definition": f"{SP}/{sp}", "type": kind, "documentation": doc}
            for name, kind, sp, doc in SEARCH_PARAMS
        ],
    }
