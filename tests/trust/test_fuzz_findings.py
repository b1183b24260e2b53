"""Regressions for what Schemathesis found, reduced to plain requests."""

from __future__ import annotations

from tests.support import Api


def test_null_conditions_are_refused_not_a_server_error(clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    r = clinic.patch(f"/v1/patients/{pid}", {"conditions": None})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert clinic.ok("GET", f"/v1/patients/{pid}")["conditions"] == ["fibromyalgia"]


def test_undecodable_body_is_422_like_malformed_json(clinic: Api) -> None:
    r = clinic.request("POST", "/v1/patients", content=b"\xff\xfe\x00garbage",
                       headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 422
    assert r.json()["errors"][0]["type"] == "json_invalid"


def test_405_lists_every_method_of_the_path(clinic: Api) -> None:
    r = clinic.request("DELETE", "/v1/patients/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 405
    assert set(r.headers["Allow"].split(", ")) >= {"GET", "PATCH"}
    batch = clinic.get("/v1/responses/batch")  # not taken for a response id
    assert batch.status_code == 405
    assert batch.headers["Allow"] == "POST"
    assert clinic.request("DELETE", "/v1/patients/not-a-uuid").headers["Allow"] == "GET, PATCH"
