"""Idempotency-Key under real concurrency, against a live server: whatever the race, one row."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.support import response_body
from tests.trust.conftest import Live
from tests.trust.live import make_key

pytestmark = pytest.mark.slow
LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=64)


def new_patient(live: Live, token: str) -> str:
    with live.server.client(token) as c:
        r = c.post("/v1/patients", json={"pseudonym": f"P-{uuid.uuid4().hex[:8]}"})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def response_ids(live: Live, token: str, patient_id: str) -> list[str]:
    with live.server.client(token) as c:
        page = c.get(f"/v1/patients/{patient_id}/responses", params={"limit": 500}).json()
    return [item["id"] for item in page["items"]]


async def storm(live: Live, token: str, n: int, method: str, path: str, **kw: Any) -> list[Any]:
    async with live.server.async_client(token, limits=LIMITS) as c:
        return await asyncio.gather(*(c.request(method, path, **kw) for _ in range(n)))


def test_forty_simultaneous_retries_store_one_row(live: Live) -> None:
    _site, token = live.new_clinic()
    pid = new_patient(live, token)
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    body = response_body(pid, answers={"score": 4})
    answers = asyncio.run(storm(live, token, 40, "POST", "/v1/responses", json=body,
                                headers=headers))  # fmt: skip
    first = [r for r in answers if r.status_code == 201 and "Idempotent-Replayed" not in r.headers]
    replays = [r for r in answers if r.headers.get("Idempotent-Replayed") == "true"]
    in_flight = [r for r in answers if r.status_code == 409]
    assert len(first) == 1, [(r.status_code, r.text) for r in answers]
    assert len(first) + len(replays) + len(in_flight) == 40
    assert all(r.status_code == 201 for r in replays)
    assert {r.json()["id"] for r in first + replays} == {first[0].json()["id"]}
    assert all(r.headers["content-type"] == "application/problem+json" for r in in_flight)
    assert response_ids(live, token, pid) == [first[0].json()["id"]]
    # Once the dust settles, every retry replays the one stored outcome.
    with live.server.client(token) as c:
        again = c.post("/v1/responses", json=body, headers=headers)
    assert (again.status_code, again.json()["id"]) == (201, first[0].json()["id"])
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first[0].headers["Location"]


def test_same_key_other_body_is_422(live: Live) -> None:
    _, token = live.new_clinic()
    pid = new_patient(live, token)
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    with live.server.client(token) as c:
        assert c.post("/v1/responses", json=response_body(pid), headers=headers).status_code == 201
        other = c.post("/v1/responses", json=response_body(pid, answers={"score": 9}),
                       headers=headers)  # fmt: skip
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert len(response_ids(live, token, pid)) == 1


def test_keys_are_scoped_to_the_api_key(live: Live) -> None:
    site, token = live.new_clinic()
    colleague = make_key(live.database_url, "clinic", site)
    pid = new_patient(live, token)
    headers = {"Idempotency-Key": "shared-key"}
    ids = set()
    for t in (token, colleague):
        with live.server.client(t) as c:
            r = c.post("/v1/responses", json=response_body(pid), headers=headers)
        assert r.status_code == 201
        assert "Idempotent-Replayed" not in r.headers
        ids.add(r.json()["id"])
    assert len(ids) == 2
    assert sorted(response_ids(live, token, pid)) == sorted(ids)


def test_concurrent_batch_retries_store_each_item_once(live: Live) -> None:
    _, token = live.new_clinic()
    pid = new_patient(live, token)
    tag = uuid.uuid4().hex[:8]
    items = [{**response_body(pid, answers={"score": i % 11}), "idempotency_key": f"{tag}-{i}"}
             for i in range(20)]  # fmt: skip
    answers = asyncio.run(storm(live, token, 12, "POST", "/v1/responses/batch",
                                json={"items": items}))  # fmt: skip
    for r in answers:
        assert r.status_code in (200, 409), r.text
        if r.status_code == 200:
            assert {i["status"] for i in r.json()["items"]} <= {201, 409}
    created = [i for r in answers if r.status_code == 200 for i in r.json()["items"]
               if i["status"] == 201]  # fmt: skip
    assert sum(not i["replayed"] for i in created) == 20
    # A final retry after the storm settles replays all twenty.
    with live.server.client(token) as c:
        final = c.post("/v1/responses/batch", json={"items": items}).json()
    assert (final["created"], final["replayed"]) == (0, 20)
    stored = response_ids(live, token, pid)
    assert len(stored) == 20
    assert sorted(stored) == sorted(i["id"] for i in final["items"])
