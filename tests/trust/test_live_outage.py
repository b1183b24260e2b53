"""A database that disappears and comes back: 503 with Retry-After (never 500) on every route
that needs it, /readyz 503 while /healthz stays 200, and recovery without a restart.

PostgreSQL: the test's own database refuses connections (`ALLOW_CONNECTIONS false`) and its
sessions are terminated; the shared server keeps running. SQLite: another process holds the
write lock past the busy timeout, which is how an embedded database becomes unavailable.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support import pg_admin, response_body
from tests.trust.conftest import Live

pytestmark = pytest.mark.slow
PLACEHOLDER = "00000000-0000-4000-8000-000000000000"


@contextmanager
def outage(live: Live) -> Iterator[None]:
    url = make_url(live.database_url)
    if live.backend == "sqlite":
        holder = sqlite3.connect(url.database or "", timeout=30, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    name = url.database
    asyncio.run(pg_admin(
        live.database_url,
        f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        " AND pid <> pg_backend_pid()",
    ))  # fmt: skip
    try:
        yield
    finally:
        asyncio.run(pg_admin(live.database_url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, (r.request.method, r.request.url, r.status_code, r.text)
    assert int(r.headers["Retry-After"]) >= 1
    if r.request.url.path.startswith("/fhir/"):  # FHIR speaks OperationOutcome
        assert r.headers["content-type"].startswith("application/fhir+json")
        assert r.json()["resourceType"] == "OperationOutcome"
        return
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 503


def database_routes(live: Live) -> list[tuple[str, str]]:
    """Every route that reads or writes the database, from the OpenAPI document."""
    with live.server.client() as c:
        paths = c.get("/openapi.json").json()["paths"]
    routes = []
    for path, item in paths.items():
        if path in ("/healthz", "/readyz"):
            continue
        for method in item:
            filled = path
            for name in ("patient_id", "infusion_id", "response_id", "id"):
                filled = filled.replace("{" + name + "}", PLACEHOLDER)
            routes.append((method.upper(), filled))
    return routes


def test_outage_answers_503_and_recovers(live: Live) -> None:
    _site, token = live.new_clinic()
    with live.server.client(token) as c:
        pid = c.post("/v1/patients", json={"pseudonym": "OUT-1"}).json()["id"]
    writes = {"Idempotency-Key": uuid.uuid4().hex}
    with outage(live), live.server.client(token) as c, live.server.client() as anon:
        if live.backend == "postgresql":
            assert_unavailable(anon.get("/readyz"))
            for method, path in database_routes(live):
                # Reads and writes alike: authentication itself needs the database.
                assert_unavailable(c.request(method, path, json={} if method != "GET" else None))
        r = c.post("/v1/responses", json=response_body(pid), headers=writes)
        assert_unavailable(r)
        assert anon.get("/healthz").status_code == 200
    # Back without a restart: the pool's pre-ping replaces dead connections.
    with live.server.client(token) as c, live.server.client() as anon:
        assert anon.get("/readyz").status_code == 200
        r = c.post("/v1/responses", json=response_body(pid), headers=writes)
        assert r.status_code == 201, r.text
        assert "Idempotent-Replayed" not in r.headers  # the 503 stored nothing
        assert c.get(f"/v1/patients/{pid}/responses").json()["items"][0]["id"] == r.json()["id"]
    assert "unhandled error" not in live.server.logs()  # every failure was a clean 503
