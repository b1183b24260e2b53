"""Site isolation: every route that takes an id answers another site's id with 404, exactly
like a missing one, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Api, response_body

MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def foreign(other_clinic: Api) -> dict[str, str]:
    """Resources of another site."""
    pid = other_clinic.make_patient()["id"]
    inf = other_clinic.make_infusion(pid)["id"]
    rid = other_clinic.make_response(pid)["id"]
    return {"patient": pid, "infusion": inf, "response": rid}


ROUTES: list[tuple[str, str, str, Any]] = [
    ("GET", "/v1/patients/{patient}", "patient", None),
    ("PATCH", "/v1/patients/{patient}", "patient", {"sex": "male"}),
    ("GET", "/v1/patients/{patient}/infusions", "patient", None),
    ("POST", "/v1/patients/{patient}/infusions", "patient",
     {"started_at": "2024-02-01T09:00:00Z", "dose_mg": 30}),
    ("GET", "/v1/patients/{patient}/responses", "patient", None),
    ("GET", "/v1/infusions/{infusion}", "infusion", None),
    ("POST", "/v1/infusions/{infusion}/adverse-events", "infusion",
     {"type": "nausea", "severity": "mild"}),
    ("GET", "/v1/responses/{response}", "response", None),
    ("POST", "/v1/responses/{response}/amend", "response",
     {"answers": {"score": 1}, "reason": "x"}),
    ("POST", "/v1/responses/{response}/retract", "response", {"reason": "x"}),
]  # fmt: skip


@pytest.mark.parametrize(("method", "template", "kind", "body"), ROUTES)
def test_foreign_ids_look_missing(
    clinic: Api,
    other_clinic: Api,
    foreign: dict[str, str],
    method: str,
    template: str,
    kind: str,
    body: Any,
) -> None:
    before = _snapshot(other_clinic, foreign)
    theirs = clinic.request(method, template.format(**foreign), json=body)
    missing = clinic.request(method, template.format(**dict.fromkeys(foreign, MISSING)), json=body)
    assert theirs.status_code == missing.status_code == 404
    # Indistinguishable: the same body once the id the caller sent is substituted.
    assert theirs.text.replace(foreign[kind], MISSING) == missing.text
    assert _snapshot(other_clinic, foreign) == before


def test_foreign_patient_in_body(clinic: Api, foreign: dict[str, str], other_clinic: Api) -> None:
    before = _snapshot(other_clinic, foreign)
    r = clinic.post("/v1/responses", response_body(foreign["patient"]))
    assert r.status_code == 404
    batch = clinic.ok(
        "POST", "/v1/responses/batch", json={"items": [response_body(foreign["patient"])]}
    )
    assert batch["items"][0]["status"] == 404
    assert _snapshot(other_clinic, foreign) == before


def test_admin_sees_every_site(admin: Api, foreign: dict[str, str]) -> None:
    assert admin.ok("GET", f"/v1/patients/{foreign['patient']}")["id"] == foreign["patient"]


def _snapshot(owner: Api, ids: dict[str, str]) -> Any:
    return (
        owner.ok("GET", f"/v1/patients/{ids['patient']}"),
        owner.ok("GET", f"/v1/patients/{ids['patient']}/infusions"),
        owner.ok("GET", f"/v1/infusions/{ids['infusion']}"),
        owner.ok("GET", f"/v1/responses/{ids['response']}"),
    )
