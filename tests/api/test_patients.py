"""Patients: registration rules, versioned edits, listing and pagination."""

from __future__ import annotations

import uuid

import pytest

from tests.support import Api


def test_clinic_registers_in_its_own_site(clinic: Api) -> None:
    r = clinic.post("/v1/patients", {"pseudonym": "A-1", "sex": "male", "conditions": ["crps"]})
    assert r.status_code == 201
    body = r.json()
    assert r.headers["location"] == f"/v1/patients/{body['id']}"
    assert body["site"] == clinic.site
    assert body["version"] == 1
    assert body["enrolled_on"]  # defaulted to today


def test_admin_must_name_an_existing_site(admin: Api, clinic: Api) -> None:
    r = admin.post("/v1/patients", {"pseudonym": "A-2"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "site"]
    assert admin.post("/v1/patients", {"pseudonym": "A-2", "site": "NOPE-1"}).status_code == 422
    ok = admin.post("/v1/patients", {"pseudonym": "A-2", "site": clinic.site})
    assert ok.status_code == 201


def test_clinic_cannot_register_in_another_site(clinic: Api, other_clinic: Api) -> None:
    r = clinic.post("/v1/patients", {"pseudonym": "A-3", "site": other_clinic.site})
    assert r.status_code == 422
    assert other_clinic.ok("GET", "/v1/patients")["items"] == []


def test_pseudonym_unique_per_site_only(clinic: Api, other_clinic: Api) -> None:
    clinic.make_patient(pseudonym="DUP-1")
    r = clinic.post("/v1/patients", {"pseudonym": "DUP-1"})
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    other_clinic.make_patient(pseudonym="DUP-1")


@pytest.mark.parametrize(
    "body",
    [
        {"pseudonym": "Jean Dupont"},  # spaces: names are not pseudonyms
        {"pseudonym": ""},
        {"pseudonym": "X-1", "sex": "f"},
        {"pseudonym": "X-1", "conditions": ["migraine"]},
        {"pseudonym": "X-1", "conditions": ["crps", "crps"]},
        {"pseudonym": "X-1", "birth_year": 1850},
        {"pseudonym": "X-1", "birth_year": "1970"},
        {"pseudonym": "X-1", "enrolled_on": "2999-01-01"},
        {"pseudonym": "X-1", "birth_year": 2020, "enrolled_on": "2019-05-01"},
        {"pseudonym": "X-1", "name": "Jean"},
        {"pseudonym": "X-1", "date_of_birth": "1970-01-01"},
    ],
)
def test_bad_patients_rejected_and_nothing_written(clinic: Api, body: dict[str, object]) -> None:
    r = clinic.post("/v1/patients", body)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert {"type", "title", "status", "detail", "errors"} <= problem.keys()
    assert clinic.ok("GET", "/v1/patients")["items"] == []


def test_patch_keeps_history(clinic: Api) -> None:
    patient = clinic.make_patient(sex="unknown")
    updated = clinic.ok("PATCH", f"/v1/patients/{patient['id']}", json={"sex": "female"})
    assert updated["sex"] == "female"
    assert updated["version"] == 2
    again = clinic.ok("GET", f"/v1/patients/{patient['id']}")
    assert again == updated
    assert clinic.patch(f"/v1/patients/{patient['id']}", {}).status_code == 422
    assert clinic.patch(f"/v1/patients/{patient['id']}", {"site": "X"}).status_code == 422
    assert clinic.patch(f"/v1/patients/{patient['id']}", {"sex": None}).status_code == 422


def test_patch_pseudonym_conflict(clinic: Api) -> None:
    clinic.make_patient(pseudonym="TAKEN-1")
    other = clinic.make_patient()
    r = clinic.patch(f"/v1/patients/{other['id']}", {"pseudonym": "TAKEN-1"})
    assert r.status_code == 409
    assert clinic.ok("GET", f"/v1/patients/{other['id']}")["version"] == 1


def test_pagination_visits_every_patient_once(clinic: Api) -> None:
    made = {clinic.make_patient()["id"] for _ in range(7)}
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = clinic.ok("GET", "/v1/patients", params=params)
        assert len(page["items"]) <= 3
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made)


def test_list_filters(clinic: Api) -> None:
    crps = clinic.make_patient(conditions=["crps", "headache"])
    clinic.make_patient(conditions=["fibromyalgia"])
    page = clinic.ok("GET", "/v1/patients", params={"condition": "crps"})
    assert [p["id"] for p in page["items"]] == [crps["id"]]
    assert clinic.ok("GET", "/v1/patients", params={"site": "OTHER-X"})["items"] == []


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"cursor": "garbage"}])
def test_bad_page_parameters(clinic: Api, params: dict[str, object]) -> None:
    r = clinic.get("/v1/patients", params=params)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"


def test_sites_are_readable_in_scope(admin: Api, clinic: Api, other_clinic: Api) -> None:
    code = f"LOC-{uuid.uuid4().hex[:6].upper()}"
    created = admin.post("/v1/sites", {"code": code, "name": "Located"})
    assert created.status_code == 201
    assert admin.ok("GET", created.headers["location"])["code"] == code
    assert admin.post("/v1/sites", {"code": code, "name": "Again"}).status_code == 409
    assert clinic.ok("GET", f"/v1/sites/{clinic.site}")["code"] == clinic.site
    assert clinic.get(f"/v1/sites/{other_clinic.site}").status_code == 404
    assert [s["code"] for s in clinic.ok("GET", "/v1/sites")["items"]] == [clinic.site]
