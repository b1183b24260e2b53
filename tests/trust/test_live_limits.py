"""Limits and hygiene against a live server: 413 (also chunked), 429 with Retry-After, CORS
closed unless configured, security headers, and JSON logs with nothing sensitive in them."""

from __future__ import annotations

import json
import select
import socket
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support import response_body
from tests.trust.conftest import Live, start_live
from tests.trust.live import BACKENDS, dispose_database

pytestmark = pytest.mark.slow
LIMIT = 1024 * 1024
ORIGIN = "https://forms.clinic.example"


@pytest.fixture(scope="module", params=BACKENDS)
def strict(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """A server with a tight rate limit and one allowed CORS origin."""
    running = start_live(
        request.param, tmp_path_factory.mktemp("strict"),
        PROREG_RATE_LIMIT_PER_MINUTE="1", PROREG_RATE_LIMIT_BURST="3",
        PROREG_CORS_ORIGINS=json.dumps([ORIGIN]),
    )  # fmt: skip
    try:
        yield running
    finally:
        running.server.stop()
        dispose_database(running.database_url)


def assert_problem(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == status


def test_body_over_the_limit_by_content_length(live: Live) -> None:
    with live.server.client(live.clinic) as c:
        r = c.post("/v1/responses/batch", content=b"x" * (LIMIT + 1),
                   headers={"Content-Type": "application/json"})  # fmt: skip
    assert_problem(r, 413)


def test_chunked_body_over_the_limit_is_refused_while_streaming(live: Live) -> None:
    sock = socket.create_connection(("127.0.0.1", live.server.port), timeout=30)
    sock.sendall(
        b"POST /v1/responses/batch HTTP/1.1\r\nHost: localhost\r\n"
        + f"Authorization: Bearer {live.clinic}\r\n".encode()
        + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 65536
    sent = 0
    while sent < 8 * LIMIT and not select.select([sock], [], [], 0)[0]:
        try:
            sock.sendall(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        except OSError:
            break  # the server answered and closed while we were still sending
        sent += len(chunk)
    answer = sock.recv(65536)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/problem+json" in answer
    assert sent < 8 * LIMIT  # refused mid-stream, not after reading everything


def test_rate_limit_answers_429_with_retry_after(strict: Live) -> None:
    _, other = strict.new_clinic()
    with strict.server.client(strict.clinic) as c:
        answers = [c.get("/v1/instruments") for _ in range(6)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429, 429, 429]
    for r in answers[3:]:
        assert_problem(r, 429)
        assert int(r.headers["Retry-After"]) >= 1
    with strict.server.client(other) as c:  # another key has its own bucket
        assert c.get("/v1/instruments").status_code == 200
    with strict.server.client() as anon:  # probes are never limited
        assert all(anon.get("/healthz").status_code == 200 for _ in range(6))


PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip


def test_cors_is_closed_by_default(live: Live) -> None:
    with live.server.client() as c:
        assert (
            "access-control-allow-origin"
            not in c.options("/v1/responses", headers=PREFLIGHT).headers
        )
        assert (
            "access-control-allow-origin"
            not in c.get("/healthz", headers={"Origin": ORIGIN}).headers
        )


def test_cors_opens_only_to_configured_origins(strict: Live) -> None:
    with strict.server.client() as c:
        r = c.options("/v1/responses", headers=PREFLIGHT)
        assert r.headers["access-control-allow-origin"] == ORIGIN
        evil = {**PREFLIGHT, "Origin": "https://evil.example"}
        assert "access-control-allow-origin" not in c.options("/v1/responses", headers=evil).headers


def test_security_headers_and_request_ids(live: Live) -> None:
    with live.server.client() as c:
        for r in (c.get("/healthz"), c.get("/v1/patients"), c.get("/v1/nothing")):
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["cache-control"] == "no-store"
            assert len(r.headers["x-request-id"]) == 32
        echoed = c.get("/healthz", headers={"X-Request-ID": "trace-42"})
        assert echoed.headers["x-request-id"] == "trace-42"


def test_logs_are_json_lines_without_secrets(live: Live) -> None:
    pseudonym = f"CANARY-{uuid.uuid4().hex[:8]}"
    with live.server.client(live.clinic) as c:
        pid = c.post("/v1/patients", json={"pseudonym": pseudonym}).json()["id"]
        c.post("/v1/responses", json=response_body(pid, visit="M7", answers={"score": 9}))
        c.get("/v1/patients", params={"condition": "crps", "limit": 7})
        c.post("/v1/patients", json={"pseudonym": pseudonym})  # 409: a failure is logged too
    with live.server.client(live.clinic + "x") as bad:
        bad.get("/v1/patients")
    lines = [json.loads(line) for line in live.server.logs().splitlines() if line.strip()]
    access = [e for e in lines if e["logger"] == "proreg.access"]
    mine = [e for e in access if e["key_prefix"] == live.clinic[:12]]
    assert {(e["method"], e["path"], e["status"]) for e in mine} >= {
        ("POST", "/v1/patients", 201), ("POST", "/v1/responses", 201),
        ("GET", "/v1/patients", 200), ("POST", "/v1/patients", 409),
        ("GET", "/v1/patients", 401),
    }  # fmt: skip
    for e in mine:
        assert {"time", "level", "request_id", "duration_ms", "role"} <= e.keys()
        assert e["request_id"]
    text = live.server.logs()
    for secret in (live.clinic, pseudonym, "crps", "score"):
        assert secret not in text
