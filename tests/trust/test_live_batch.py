"""Batches racing on overlapping idempotency keys across two server processes sharing one
database (PostgreSQL, or one SQLite file): each key stores one response, whatever the
interleaving, and nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import hads, response_body
from tests.trust.conftest import Live
from tests.trust.live import Server
from tests.trust.test_live_idempotency import LIMITS, new_patient, response_ids

pytestmark = pytest.mark.slow
KEYS = 30


def _item(pid: str, tag: str, k: int) -> dict[str, Any]:
    body = response_body(pid, instrument="hads", timepoint="follow_up",
                         answers=hads(*[(k + i) % 4 for i in range(14)]))  # fmt: skip
    return {**body, "idempotency_key": f"{tag}-{k}"}


def test_overlapping_batches_on_two_processes_store_each_key_once(
    live: Live, tmp_path: Path
) -> None:
    _, token = live.new_clinic()
    pid = new_patient(live, token)
    tag = uuid.uuid4().hex[:8]
    # Batch j holds keys 3j .. 3j+9 (mod 30): each key is in three or four batches.
    batches = [[_item(pid, tag, (3 * j + i) % KEYS) for i in range(10)] for j in range(10)]
    second = Server(live.database_url, tmp_path).start()
    try:

        async def storm() -> list[httpx.Response]:
            headers = {"Authorization": f"Bearer {token}"}
            async with (
                httpx.AsyncClient(base_url=live.server.base_url, headers=headers, timeout=60,
                                  limits=LIMITS) as a,
                httpx.AsyncClient(base_url=second.base_url, headers=headers, timeout=60,
                                  limits=LIMITS) as b,
            ):  # fmt: skip
                return await asyncio.gather(*(
                    (a if n % 2 else b).post("/v1/responses/batch", json={"items": items})
                    for n, items in enumerate(batches * 2)
                ))  # fmt: skip

        answers = asyncio.run(storm())
    finally:
        second.stop()
    created: dict[str, list[str]] = {}  # key -> ids answered 201 without replay
    for sent, r in zip(batches * 2, answers, strict=True):
        if r.status_code == 409:
            assert r.headers["content-type"] == "application/problem+json"
            continue
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["created"] + result["replayed"] + result["failed"] == 10
        for item, answer in zip(sent, result["items"], strict=True):
            assert answer["status"] in (201, 409), answer
            if answer["status"] == 201 and not answer["replayed"]:
                created.setdefault(item["idempotency_key"], []).append(answer["id"])
    assert all(len(ids) == 1 for ids in created.values()), created
    everything = [_item(pid, tag, k) for k in range(KEYS)]
    with live.server.client(token) as c:
        final = c.post("/v1/responses/batch", json={"items": everything}).json()
    assert [i["status"] for i in final["items"]] == [201] * KEYS
    final_ids = [i["id"] for i in final["items"]]
    assert len(set(final_ids)) == KEYS
    # Every acknowledged creation is the one stored for its key, and replayed from now on.
    for item, answer in zip(everything, final["items"], strict=True):
        if item["idempotency_key"] in created:
            assert created[item["idempotency_key"]] == [answer["id"]]
            assert answer["replayed"] is True
    assert sorted(response_ids(live, token, pid)) == sorted(final_ids)
