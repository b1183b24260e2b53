"""Every pooled connection busy: a request that waits `PROREG_POOL_TIMEOUT` for one answers
503 with Retry-After, like a database it cannot reach, and the busy requests still finish."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.support import Api, table_locked


def test_a_request_waiting_past_the_pool_timeout_answers_503(
    database_url: str, clinic: Api
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the pool is sized from the settings on PostgreSQL; SQLite keeps its own")
    patient = clinic.make_patient()
    response = clinic.make_response(patient["id"])
    settings = Settings(database_url=database_url, rate_limit_per_minute=0, pool_size=1,
                        pool_max_overflow=0, pool_timeout=0.5)  # fmt: skip
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        api = Api(client, clinic.token, "clinic", clinic.site)
        assert api.get(f"/v1/patients/{patient['id']}").status_code == 200
        answers: dict[str, int] = {}
        # This request takes the only connection, then waits for the lock.
        busy = threading.Thread(
            target=lambda: answers.update(
                busy=api.get(f"/v1/responses/{response['id']}").status_code
            )
        )
        with table_locked(database_url, "response_versions", 2.0):
            busy.start()
            try:
                threading.Event().wait(0.3)  # the busy request has its connection by now
                r = api.get(f"/v1/patients/{patient['id']}")
                assert r.status_code == 503, r.text
                assert r.headers["content-type"] == "application/problem+json"
                assert int(r.headers["retry-after"]) > 0
            finally:
                busy.join()
        assert answers == {"busy": 200}
        assert api.get(f"/v1/patients/{patient['id']}").status_code == 200
