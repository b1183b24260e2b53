"""Authorization, driven by the OpenAPI document so that new routes are covered at once.

Function level: every route × {admin, analyst, clinic, no key, revoked key, expired key}
answers as the table below says. Object level: every route that takes an id, given another
site's id, answers 404 exactly like a missing one and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.services import keys
from tests.support import Api, Registry, response_body, run_db

ALL = frozenset({"admin", "analyst", "clinic"})
ROWS = frozenset({"admin", "clinic"})
DEIDENTIFIED = frozenset({"admin", "analyst"})
ADMIN = frozenset({"admin"})
PUBLIC = None  # no key needed

# Who may call what. A route missing here fails the test: decide its roles, then add it.
EXPECTED: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("POST", "/v1/sites"): ADMIN,
    ("GET", "/v1/sites"): ALL,
    ("GET", "/v1/sites/{code}"): ALL,
    ("POST", "/v1/patients"): ROWS,
    ("GET", "/v1/patients"): ROWS,
    ("GET", "/v1/patients/{patient_id}"): ROWS,
    ("PATCH", "/v1/patients/{patient_id}"): ROWS,
    ("POST", "/v1/patients/{patient_id}/infusions"): ROWS,
    ("GET", "/v1/patients/{patient_id}/infusions"): ROWS,
    ("GET", "/v1/patients/{patient_id}/responses"): ROWS,
    ("GET", "/v1/infusions/{infusion_id}"): ROWS,
    ("POST", "/v1/infusions/{infusion_id}/adverse-events"): ROWS,
    ("POST", "/v1/responses"): ROWS,
    ("POST", "/v1/responses/batch"): ROWS,
    ("GET", "/v1/responses/{response_id}"): ROWS,
    ("POST", "/v1/responses/{response_id}/amend"): ROWS,
    ("POST", "/v1/responses/{response_id}/retract"): ROWS,
    ("GET", "/v1/instruments"): ALL,
    ("GET", "/v1/instruments/{instrument_id}"): ALL,
    ("GET", "/v1/analytics/cohort"): ALL,
    ("GET", "/v1/analytics/pain-deltas"): ALL,
    ("GET", "/v1/analytics/by-infusion"): ALL,
    ("GET", "/v1/analytics/trajectory"): ALL,
    ("GET", "/v1/analytics/adverse-events"): ALL,
    ("GET", "/v1/analytics/mediation"): ALL,
    ("GET", "/v1/reports/table1"): ALL,
    ("GET", "/v1/exports/responses.csv"): DEIDENTIFIED,
    ("GET", "/v1/exports/responses.parquet"): DEIDENTIFIED,
    ("GET", "/v1/exports/dictionary"): DEIDENTIFIED,
    ("GET", "/v1/audit"): ADMIN,
    ("GET", "/fhir/metadata"): ALL,
    ("GET", "/fhir/Questionnaire"): ALL,
    ("GET", "/fhir/Questionnaire/{questionnaire_id}"): ALL,
    ("POST", "/fhir/QuestionnaireResponse"): ROWS,
    ("GET", "/fhir/QuestionnaireResponse"): ROWS,
    ("GET", "/fhir/QuestionnaireResponse/{response_id}"): ROWS,
    ("GET", "/fhir/QuestionnaireResponse/{response_id}/_history/{version_id}"): ROWS,
}

# A valid body for every write that takes an id, so that only ownership can make it fail.
WRITE_BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/v1/patients/{patient_id}"): {"sex": "male"},
    ("POST", "/v1/patients/{patient_id}/infusions"):
        {"started_at": "2024-03-01T09:00:00Z", "dose_mg": 30},
    ("POST", "/v1/infusions/{infusion_id}/adverse-events"): {"type": "nausea", "severity": "mild"},
    ("POST", "/v1/responses/{response_id}/amend"): {"answers": {"score": 2}, "reason": "typo"},
    ("POST", "/v1/responses/{response_id}/retract"): {"reason": "wrong patient"},
}  # fmt: skip
MISSING = "00000000-0000-4000-8000-000000000000"


def routes(client: TestClient) -> list[tuple[str, str]]:
    paths = client.get("/openapi.json").json()["paths"]
    return [(m.upper(), p) for p, item in paths.items() for m in item]


def test_every_route_has_an_expectation(client: TestClient) -> None:
    unknown = [r for r in routes(client) if r not in EXPECTED]
    assert not unknown, f"new routes: decide who may call them and add them to EXPECTED: {unknown}"


@dataclass
class World:
    """One clinic's data, and callers of every kind."""

    ids: dict[str, str]
    callers: dict[str, Api | None]  # None = no key at all


@pytest.fixture(scope="module")
def world(registry: Registry) -> World:
    owner = registry.new_clinic()
    pid = owner.make_patient()["id"]
    ids = {
        "patient_id": pid,
        "infusion_id": owner.make_infusion(pid)["id"],
        "response_id": owner.make_response(pid)["id"],
        "instrument_id": "nrs-pain",
        "questionnaire_id": "nrs-pain",
        "version_id": "1",
        "code": str(owner.site),
    }
    revoked = registry.key("admin")
    run_db(registry.database_url, lambda s: keys.revoke_key(s, revoked.token[:12]))
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    token, _ = run_db(registry.database_url,
                      lambda s: keys.create_key(s, role="admin", expires_at=past))  # fmt: skip
    callers: dict[str, Api | None] = {
        "admin": registry.admin, "analyst": registry.analyst, "clinic": owner,
        "no key": None, "revoked": revoked, "expired": Api(registry.client, token, "admin"),
    }  # fmt: skip
    return World(ids, callers)


def call(
    client: TestClient, caller: Api | None, method: str, path: str, body: Any
) -> httpx.Response:
    headers = caller.headers if caller else {}
    return client.request(method, path, headers=headers, json=body)


def fill(template: str, ids: dict[str, str]) -> str:
    names = re.findall(r"{(\w+)}", template)
    unknown = [n for n in names if n not in ids]
    assert not unknown, f"{template}: no test value for path parameter(s) {unknown}"
    return template.format(**{n: ids[n] for n in names})


@pytest.mark.parametrize("who", ["admin", "analyst", "clinic", "no key", "revoked", "expired"])
def test_function_level_authorization(client: TestClient, world: World, who: str) -> None:
    caller = world.callers[who]
    wrong = []
    for method, template in routes(client):
        allowed = EXPECTED.get((method, template), frozenset())
        body = {} if method in ("POST", "PATCH") else None  # invalid on purpose: nothing stored
        r = call(client, caller, method, fill(template, world.ids), body)
        if allowed is PUBLIC:
            ok = r.status_code == 200
        elif who in ("no key", "revoked", "expired"):
            ok = r.status_code == 401
        elif who in allowed:
            ok = r.status_code not in (401, 403)
        else:
            ok = r.status_code == 403
        if not ok:
            wrong.append((method, template, r.status_code))
    assert not wrong, f"{who}: {wrong}"


@pytest.fixture(scope="module")
def foreign(registry: Registry) -> tuple[Api, Api, dict[str, str]]:
    """(intruder, owner, the owner's ids)."""
    owner, intruder = registry.new_clinic(), registry.new_clinic()
    pid = owner.make_patient()["id"]
    ids = {
        "patient_id": pid,
        "infusion_id": owner.make_infusion(pid)["id"],
        "response_id": owner.make_response(pid)["id"],
        "version_id": "1",
        "code": str(owner.site),
    }
    return intruder, owner, ids


def snapshot(owner: Api, ids: dict[str, str]) -> Any:
    return [owner.ok("GET", path.format(**ids)) for path in (
        "/v1/patients/{patient_id}", "/v1/patients/{patient_id}/infusions",
        "/v1/patients/{patient_id}/responses", "/v1/infusions/{infusion_id}",
        "/v1/responses/{response_id}",
    )]  # fmt: skip


def test_object_level_authorization(
    client: TestClient, foreign: tuple[Api, Api, dict[str, str]]
) -> None:
    intruder, owner, ids = foreign
    before = snapshot(owner, ids)
    with_ids = [(m, t) for m, t in routes(client) if "{" in t]
    id_routes = [(m, t) for m, t in with_ids if set(re.findall(r"{(\w+)}", t)) <= ids.keys()]
    catalogue = {(m, t) for m, t in with_ids if (m, t) not in id_routes}
    assert catalogue <= {("GET", "/v1/instruments/{instrument_id}"),
                         ("GET", "/fhir/Questionnaire/{questionnaire_id}")}  # fmt: skip
    for method, template in id_routes:
        assert method == "GET" or (method, template) in WRITE_BODIES, f"add a body: {template}"
        body = WRITE_BODIES.get((method, template))
        theirs = intruder.request(method, fill(template, ids), json=body)
        absent = dict.fromkeys(ids, MISSING) | {"version_id": "1", "code": "NO-SUCH-SITE"}
        missing = intruder.request(method, fill(template, absent), json=body)
        assert theirs.status_code == missing.status_code == 404, (template, theirs.text)
        leaked = theirs.text
        for name, value in ids.items():
            if name != "version_id":
                leaked = leaked.replace(value, absent[name])
        assert leaked == missing.text, template  # indistinguishable from a missing id
    assert snapshot(owner, ids) == before


def test_foreign_ids_in_bodies_and_filters(foreign: tuple[Api, Api, dict[str, str]]) -> None:
    intruder, owner, ids = foreign
    before = snapshot(owner, ids)
    assert intruder.post("/v1/responses", response_body(ids["patient_id"])).status_code == 404
    batch = intruder.ok("POST", "/v1/responses/batch",
                        json={"items": [response_body(ids["patient_id"])]})  # fmt: skip
    assert batch["items"][0]["status"] == 404
    search = intruder.get("/fhir/QuestionnaireResponse",
                          params={"subject": f"Patient/{ids['patient_id']}"})  # fmt: skip
    assert search.status_code in (200, 404)
    assert ids["response_id"] not in search.text
    listing = intruder.get("/v1/patients", params={"site": owner.site, "limit": 500})
    assert ids["patient_id"] not in listing.text
    assert snapshot(owner, ids) == before
