"""The service starts, answers its probes and publishes its OpenAPI document."""

from fastapi.testclient import TestClient

from tests.support import Api


def test_probes(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_openapi_lists_core_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/patients", "/v1/responses", "/v1/responses/batch", "/v1/instruments"):
        assert path in paths


def test_clinic_round_trip(clinic: Api) -> None:
    patient = clinic.make_patient()
    assert patient["site"] == clinic.site
    created = clinic.make_response(patient["id"])
    assert created["scores"] == {"pain": 6}
    read = clinic.ok("GET", f"/v1/responses/{created['id']}")
    assert read["history"][0]["version"] == 1
