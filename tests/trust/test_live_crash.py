"""Crash safety against a live server: kill -9 under load loses nothing acknowledged and,
with retries, duplicates nothing; SIGTERM lets an in-flight request finish."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
import uuid

import httpx
import pytest

from tests.support import response_body
from tests.trust.conftest import Live

pytestmark = pytest.mark.slow
WORKERS = 16
KILL_AFTER = 150  # acknowledged submissions before the kill


async def load_until_killed(live: Live, token: str, pid: str) -> tuple[dict[str, str], set[str]]:
    """Submit from many clients; SIGKILL the server mid-load. Returns the acknowledged
    (Idempotency-Key → id) and every key that was sent."""
    acked: dict[str, str] = {}
    sent: set[str] = set()
    limits = httpx.Limits(max_connections=WORKERS)

    async def worker(c: httpx.AsyncClient, n: int) -> None:
        for i in range(10_000):
            key = f"w{n}-{i}-{uuid.uuid4().hex[:6]}"
            sent.add(key)
            body = response_body(pid, answers={"score": i % 11})
            try:
                r = await c.post("/v1/responses", json=body, headers={"Idempotency-Key": key})
            except httpx.TransportError:
                return  # the server is gone
            if r.status_code == 201:
                acked[key] = r.json()["id"]
            if len(acked) >= KILL_AFTER and live.server.proc is not None:
                live.server.proc.kill()

    async with live.server.async_client(token, limits=limits) as c:
        await asyncio.gather(*(worker(c, n) for n in range(WORKERS)))
    return acked, sent


def test_kill_9_under_load_loses_nothing_acknowledged(live: Live) -> None:
    _, token = live.new_clinic()
    with live.server.client(token) as c:
        pid = c.post("/v1/patients", json={"pseudonym": "CRASH-1"}).json()["id"]
    acked, sent = asyncio.run(load_until_killed(live, token, pid))
    assert live.server.proc is not None
    assert live.server.proc.wait(timeout=30) == -signal.SIGKILL
    assert len(acked) >= KILL_AFTER
    live.server.proc = None
    live.server.start()
    with live.server.client(token) as c:
        for key, rid in acked.items():
            r = c.get(f"/v1/responses/{rid}")
            assert r.status_code == 200, (key, rid, r.text)
        # Clients retry what was never answered: each key ends up with exactly one row.
        for key in sorted(sent - acked.keys()):
            idx = int(key.split("-")[1])
            body = response_body(pid, answers={"score": idx % 11})
            r = c.post("/v1/responses", json=body, headers={"Idempotency-Key": key})
            assert r.status_code == 201, r.text
        stored = c.get(f"/v1/patients/{pid}/responses", params={"limit": 500}).json()
        ids = [item["id"] for item in stored["items"]]
        while stored["next_cursor"]:
            params = {"limit": 500, "cursor": stored["next_cursor"]}
            stored = c.get(f"/v1/patients/{pid}/responses", params=params).json()
            ids += [item["id"] for item in stored["items"]]
    assert len(ids) == len(set(ids)) == len(sent)
    assert set(acked.values()) <= set(ids)


def _raw_request_head(live: Live, token: str, body: bytes) -> socket.socket:
    """Open a connection and send a POST's head with `Expect: 100-continue`; return once the
    server has started handling it (it asks for the body)."""
    sock = socket.create_connection(("127.0.0.1", live.server.port), timeout=30)
    head = (
        "POST /v1/responses HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    )
    sock.sendall(head.encode())
    assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
    return sock


def _wait_refusing(port: int) -> None:
    """Return once the server stopped accepting connections (its shutdown has begun)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return
        time.sleep(0.05)
    raise AssertionError("the server kept accepting connections after SIGTERM")


def test_sigterm_drains_in_flight_requests(live: Live) -> None:
    _, token = live.new_clinic()
    with live.server.client(token) as c:
        pid = c.post("/v1/patients", json={"pseudonym": "DRAIN-1"}).json()["id"]
    body = json.dumps(response_body(pid, answers={"score": 3})).encode()
    sock = _raw_request_head(live, token, body)
    assert live.server.proc is not None
    live.server.proc.send_signal(signal.SIGTERM)
    _wait_refusing(live.server.port)
    sock.sendall(body)
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    sock.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 201"), answer
    created = json.loads(rest.partition(b"\r\n\r\n")[2])
    # uvicorn re-raises SIGTERM once its graceful shutdown is complete.
    assert live.server.proc.wait(timeout=60) in (0, -signal.SIGTERM)
    live.server.proc = None
    assert "Application shutdown complete" in live.server.log_path.read_text()
    live.server.start()
    with live.server.client(token) as c:
        assert c.get(f"/v1/responses/{created['id']}").json()["answers"]["score"] == 3
