"""The pure parts behind the guarantees: token buckets, audit naming, log formatting."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from app.logs import JsonFormatter
from app.ratelimit import TokenBuckets
from app.services import audit


def test_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    buckets = TokenBuckets(per_minute=60, burst=3)  # one token per second
    assert [buckets.take("k", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("k", now=100.0) == pytest.approx(1.0)
    assert buckets.take("k", now=100.5) == pytest.approx(0.5)
    assert buckets.take("k", now=101.0) == 0.0
    assert buckets.take("other", now=101.0) == 0.0  # one bucket per key
    assert buckets.take("k", now=1000.0) == 0.0  # never more than the burst is saved up
    assert buckets.take("k", now=1000.0) == 0.0
    assert buckets.take("k", now=1000.0) == 0.0
    assert buckets.take("k", now=1000.0) > 0


@pytest.mark.parametrize(
    ("method", "template", "params", "expected"),
    [
        ("POST", "/v1/patients", {}, ("create", "patient", None)),
        ("PATCH", "/v1/patients/{patient_id}", {"patient_id": "p"}, ("update", "patient", "p")),
        ("POST", "/v1/patients/{patient_id}/infusions", {"patient_id": "p"},
         ("create", "infusion", "p")),
        ("POST", "/v1/infusions/{infusion_id}/adverse-events", {"infusion_id": "i"},
         ("create", "adverse_event", "i")),
        ("POST", "/v1/responses/{response_id}/amend", {"response_id": "r"},
         ("amend", "response", "r")),
        ("POST", "/v1/responses/batch", {}, ("batch", "response", None)),
        ("GET", "/v1/responses/{response_id}", {"response_id": "r"}, ("read", "response", "r")),
        ("GET", "/v1/patients", {}, ("list", "patient", None)),
        ("GET", "/v1/exports/responses.csv", {}, ("export", "response", None)),
        ("GET", "/fhir/QuestionnaireResponse/{response_id}", {"response_id": "r"},
         ("read", "QuestionnaireResponse", "r")),
    ],
)  # fmt: skip
def test_audit_names_derive_from_routes(
    method: str, template: str, params: dict[str, str], expected: tuple[str, str, str | None]
) -> None:
    assert audit.describe(method, template, params) == expected


@pytest.mark.parametrize(
    ("method", "template", "audited"),
    [
        ("POST", "/v1/responses", True),
        ("GET", "/v1/responses/{response_id}", True),
        ("GET", "/v1/exports/responses.csv", True),
        ("GET", "/fhir/QuestionnaireResponse", True),
        ("GET", "/fhir/Questionnaire/{questionnaire_id}", False),
        ("GET", "/v1/analytics/cohort", False),
        ("GET", "/v1/instruments", False),
        ("GET", "/healthz", False),
        ("OPTIONS", "/v1/responses", False),
    ],
)
def test_audit_policy(method: str, template: str, audited: bool) -> None:
    assert audit.is_audited(method, template) is audited


def test_json_formatter_keeps_exception_messages_out() -> None:
    try:
        raise ValueError("pseudonym PAT-0042 answered 7")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    record.request_id = "abc"
    line = json.loads(JsonFormatter().format(record))
    assert line["exception"] == "ValueError"
    assert line["request_id"] == "abc"
    assert line["frames"]
    assert "PAT-0042" not in json.dumps(line)
