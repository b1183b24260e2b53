"""Every error is RFC 9457 problem+json, with no stack trace or SQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support import Api


def _is_problem(r: object, status: int) -> None:
    import httpx

    assert isinstance(r, httpx.Response)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert "Traceback" not in r.text
    assert "SELECT" not in r.text


def test_missing_and_bad_tokens(client: TestClient) -> None:
    _is_problem(client.get("/v1/patients"), 401)
    _is_problem(client.get("/v1/patients", headers={"Authorization": "Bearer nope"}), 401)
    _is_problem(client.get("/v1/patients", headers={"Authorization": "Basic abc"}), 401)


def test_unknown_route_and_method(clinic: Api) -> None:
    _is_problem(clinic.get("/v1/nothing-here"), 404)
    _is_problem(clinic.request("DELETE", "/v1/patients"), 405)


def test_malformed_json(clinic: Api) -> None:
    r = clinic.request("POST", "/v1/patients", content=b"{not json",
                       headers={"Content-Type": "application/json"})  # fmt: skip
    _is_problem(r, 422)


def test_unknown_ids_are_404(clinic: Api) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for path in (f"/v1/patients/{missing}", f"/v1/infusions/{missing}", f"/v1/responses/{missing}"):
        _is_problem(clinic.get(path), 404)
    _is_problem(clinic.get("/v1/patients/not-a-uuid"), 422)


@pytest.mark.parametrize("path", ["/v1/patients", "/v1/sites"])
def test_analyst_cannot_write(analyst: Api, path: str) -> None:
    _is_problem(analyst.post(path, {"pseudonym": "X-1", "code": "AB", "name": "x"}), 403)


def test_analyst_sees_no_row_level_data(analyst: Api) -> None:
    _is_problem(analyst.get("/v1/patients"), 403)
