"""Analyses racing writes on a live server: the summary tables end equal to the clinical ones.

Every analysis of the current state first recomputes the patients written to since the last
one. Here clinics write (responses, amendments, retractions, infusions) while analysts read,
concurrently; once the writes stop, the next analysis must see every acknowledged write, and
equal the same analysis computed from the version history (`as_of` = now).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from typing import Any

import httpx
import pytest

from tests.analytics.check import assert_same_body
from tests.support import response_body
from tests.trust.conftest import Live

pytestmark = pytest.mark.slow
LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=32)
QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("cohort", {}),
    ("by-infusion", {"max_k": 3}),
    ("trajectory", {"max_month": 2}),
    ("pain-deltas", {"window": "first_infusion"}),
]


async def _patient(c: httpx.AsyncClient, rng: random.Random) -> str:
    r = await c.post("/v1/patients", json={"pseudonym": f"P-{uuid.uuid4().hex[:8]}",
                                           "sex": rng.choice(["female", "male"])})  # fmt: skip
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _infusion(c: httpx.AsyncClient, pid: str, day: int) -> str:
    started = dt.datetime(2024, 3, 1, 9, tzinfo=dt.UTC) + dt.timedelta(days=day)
    body = {"started_at": started.isoformat(), "weight_kg": 70, "dose_mg_per_kg": 0.5}
    r = await c.post(f"/v1/patients/{pid}/infusions", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _respond(c: httpx.AsyncClient, pid: str, day: int, score: int, **extra: Any) -> str:
    when = dt.datetime(2024, 3, 1, 8, tzinfo=dt.UTC) + dt.timedelta(days=day)
    body = response_body(pid, answers={"score": score}, collected_at=when.isoformat(), **extra)
    r = await c.post("/v1/responses", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _clinic_work(c: httpx.AsyncClient, pid: str, rng: random.Random) -> None:
    """One patient's history, written in the order a clinic might send it."""
    await _respond(c, pid, 0, rng.randint(4, 10), timepoint="baseline")
    for k, day in enumerate((rng.randint(5, 20), rng.randint(25, 40))):
        inf = await _infusion(c, pid, day)
        await _respond(c, pid, day, rng.randint(3, 9), timepoint="pre_infusion", infusion_id=inf)
        if k == 0:
            await _respond(c, pid, day + 1, rng.randint(0, 6), timepoint="post_infusion",
                           infusion_id=inf)  # fmt: skip
    late = await _respond(c, pid, rng.randint(35, 80), rng.randint(0, 10), timepoint="follow_up")
    action = rng.choice(["amend", "retract", "keep"])
    if action != "keep":
        body = {"reason": "checked"} | ({"answers": {"score": 0}} if action == "amend" else {})
        r = await c.post(f"/v1/responses/{late}/{action}", json=body)
        assert r.status_code == 200, r.text


async def _analyse(c: httpx.AsyncClient, until: asyncio.Event) -> int:
    reads = 0
    while not until.is_set():
        for path, params in QUERIES:
            r = await c.get(f"/v1/analytics/{path}", params=params)
            assert r.status_code == 200, r.text
            reads += 1
    return reads


async def _race(live: Live, token: str, n_patients: int) -> int:
    rng = random.Random(7)
    done = asyncio.Event()
    async with (
        live.server.async_client(token, limits=LIMITS) as clinic,
        live.server.async_client(live.analyst, limits=LIMITS) as analyst,
    ):
        patients = [await _patient(clinic, rng) for _ in range(n_patients)]
        readers = [asyncio.create_task(_analyse(analyst, done)) for _ in range(2)]
        try:
            await asyncio.gather(*(_clinic_work(clinic, p, random.Random(p)) for p in patients))
        finally:
            done.set()
        return sum(await asyncio.gather(*readers))


def test_analyses_racing_writes_end_equal_to_the_version_history(live: Live) -> None:
    site, token = live.new_clinic()
    reads = asyncio.run(_race(live, token, n_patients=16))
    assert reads >= len(QUERIES)
    now = dt.datetime.now(dt.UTC).isoformat()
    with live.server.client(live.analyst) as c:
        for path, params in QUERIES:
            scoped = {**params, "site": site}
            summary = c.get(f"/v1/analytics/{path}", params=scoped).json()
            history = c.get(f"/v1/analytics/{path}", params={**scoped, "as_of": now}).json()
            summary.pop("as_of"), history.pop("as_of")
            assert_same_body(summary, history, path)
            if path == "cohort":
                assert summary["n_patients"] == 16
                assert summary["n_infusions"] == 32
