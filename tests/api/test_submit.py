"""`POST /v1/responses` with an Idempotency-Key: on PostgreSQL the common case skips the
session and the dependencies (app/submit.py), and must answer exactly as the general path
does — which error comes first, what is stored, what is audited. Both dialects run every
case, SQLite as the reference of the general path."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from app.models import ApiKey, Site
from app.services import idempotency, keys
from tests.support import Api, Registry, hads, response_body, run_db

POST = "/v1/responses"


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    return body


def prime(api: Api, pid: str, primed: bool) -> None:
    """After a first submission the process knows the key, and the common case on
    PostgreSQL checks and writes in one statement; before it, it looks up first."""
    if primed:
        assert api.post(POST, response_body(pid), headers=key()).status_code == 201


def key_id(database_url: str, api: Api) -> uuid.UUID:
    async def work(session: Any) -> uuid.UUID:
        found = await session.scalar(select(ApiKey.id).where(ApiKey.prefix == api.token[:12]))
        assert isinstance(found, uuid.UUID)
        return found

    result: uuid.UUID = run_db(database_url, work)
    return result


def test_created_answer_record_and_audit(admin: Api, clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    body = response_body(pid, instrument="hads", answers=hads(2), visit="M1")
    headers = {**key(), "X-Request-ID": f"req-{uuid.uuid4().hex[:8]}"}
    r = clinic.post(POST, body, headers=headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["location"] == f"/v1/responses/{created['id']}"
    assert created["scores"]["hads_anxiety"] == 14
    assert (created["version"], created["status"], created["visit"]) == (1, "completed", "M1")
    assert created["submitted_by"] == clinic.token[:12]
    assert clinic.ok("GET", f"/v1/responses/{created['id']}")["scores"] == created["scores"]
    events = admin.ok("GET", "/v1/audit", params={"resource_id": created["id"]})["items"]
    create = [e for e in events if e["action"] == "create"]
    assert len(create) == 1  # audited once, in the write's own statement
    assert create[0]["outcome"] == 201
    assert create[0]["request_id"] == headers["X-Request-ID"]
    assert (create[0]["role"], create[0]["site_code"]) == ("clinic", clinic.site)
    replay = clinic.post(POST, body, headers=headers)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == created
    assert replay.headers["location"] == r.headers["location"]


def test_errors_come_in_the_same_order(registry: Registry, clinic: Api, other_clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    good = response_body(pid)
    bad = {**good, "surprise": 1}
    unknown = Api(clinic.client, "prg_" + "x" * 40, "clinic")
    analyst = registry.analyst
    assert problem(unknown.post(POST, bad, headers=key()), 401)["status"] == 401
    problem(unknown.post(POST, good, headers=key()), 401)
    problem(unknown.post(POST, good), 401)
    basic = clinic.post(POST, good, headers={**key(), "Authorization": "Basic abc"})
    problem(basic, 401)
    problem(analyst.post(POST, bad, headers=key()), 403)
    problem(analyst.post(POST, good, headers=key()), 403)
    loc = problem(clinic.post(POST, bad, headers=key()), 422)["errors"][0]["loc"]
    assert loc == ["body", "surprise"]
    long = problem(clinic.post(POST, bad, headers={"Idempotency-Key": "k" * 256}), 422)
    assert ["header", "Idempotency-Key"] in [e["loc"] for e in long["errors"]]
    empty = problem(clinic.post(POST, good, headers={"Idempotency-Key": ""}), 422)
    assert empty["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    answers = problem(clinic.post(POST, {**good, "answers": {"score": 20}}, headers=key()), 422)
    assert answers["errors"][0]["loc"] == ["body", "answers", "score"]
    pre = {**good, "timepoint": "pre_infusion"}
    assert problem(clinic.post(POST, pre, headers=key()), 422)["errors"][0]["loc"] == [
        "body",
        "infusion_id",
    ]
    for content_type, content in (("text/plain", b"{}"), ("application/json", b"{no")):
        sent = {**key(), "Content-Type": content_type}
        problem(clinic.request("POST", POST, content=content, headers=sent), 422)
    foreign = other_clinic.make_patient()["id"]
    problem(clinic.post(POST, response_body(foreign), headers=key()), 404)


def test_infusion_checks(clinic: Api) -> None:
    pid, other = clinic.make_patient()["id"], clinic.make_patient()["id"]
    infusion = clinic.make_infusion(pid, started_at="2024-02-01T09:00:00Z")["id"]
    post = {"timepoint": "post_infusion", "infusion_id": infusion}
    early = response_body(pid, collected_at="2024-02-01T08:00:00Z", **post)
    assert problem(clinic.post(POST, early, headers=key()), 422)["errors"][0]["loc"] == [
        "body",
        "collected_at",
    ]
    mismatch = response_body(other, collected_at="2024-02-01T10:00:00Z", **post)
    assert problem(clinic.post(POST, mismatch, headers=key()), 422)["errors"][0]["loc"] == [
        "body",
        "infusion_id",
    ]
    fits = response_body(pid, collected_at="2024-02-01T10:00:00Z", **post)
    r = clinic.post(POST, fits, headers=key())
    assert r.status_code == 201, r.text
    assert r.json()["infusion_id"] == infusion


def test_a_failed_request_keeps_no_key(clinic: Api, other_clinic: Api) -> None:
    """A refused request stores no outcome: the same key then serves another body."""
    pid = clinic.make_patient()["id"]
    headers = key()
    foreign = other_clinic.make_patient()["id"]
    problem(clinic.post(POST, response_body(foreign), headers=headers), 404)
    problem(clinic.post(POST, response_body(pid, answers={"score": 99}), headers=headers), 422)
    assert clinic.post(POST, response_body(pid), headers=headers).status_code == 201
    reuse = problem(clinic.post(POST, response_body(pid, visit="M2"), headers=headers), 422)
    assert reuse["errors"][0]["loc"] == ["header", "Idempotency-Key"]


def test_admin_writes_for_any_site(admin: Api, clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    r = admin.post(POST, response_body(pid), headers=key())
    assert r.status_code == 201, r.text
    assert r.json()["submitted_by"] == admin.token[:12]


@pytest.mark.parametrize("primed", [False, True], ids=["first-use", "known-key"])
def test_key_in_flight_in_this_process_is_409(
    database_url: str, clinic: Api, admin: Api, primed: bool
) -> None:
    pid = clinic.make_patient()["id"]
    prime(clinic, pid, primed)
    headers = key()
    held = (str(key_id(database_url, clinic)), headers["Idempotency-Key"])
    idempotency.in_flight.add(held)
    try:
        busy = problem(clinic.post(POST, response_body(pid), headers=headers), 409)
        assert busy["detail"] == idempotency.IN_FLIGHT
    finally:
        idempotency.in_flight.discard(held)
    events = admin.ok("GET", "/v1/audit", params={"key_prefix": clinic.token[:12]})["items"]
    assert events[0]["outcome"] == 409  # audited as a failure, by its principal
    assert events[0]["role"] == "clinic"
    assert clinic.post(POST, response_body(pid), headers=headers).status_code == 201


def test_last_use_of_a_key_is_recorded(registry: Registry, database_url: str) -> None:
    writer = registry.new_clinic()
    pid = writer.make_patient()["id"]

    async def last_used(session: Any) -> Any:
        return await session.scalar(
            select(ApiKey.last_used_at).where(ApiKey.prefix == writer.token[:12])
        )

    assert writer.post(POST, response_body(pid), headers=key()).status_code == 201
    assert run_db(database_url, last_used) is not None


async def _pg(database_url: str) -> asyncpg.Connection:
    u = make_url(database_url)
    conn: asyncpg.Connection = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, database=u.database
    )
    return conn


@pytest.mark.parametrize("primed", [False, True], ids=["first-use", "known-key"])
def test_key_locked_by_another_process_is_409(database_url: str, clinic: Api, primed: bool) -> None:
    """Another process (or a batch in its transaction) holds the key's advisory lock."""
    if not database_url.startswith("postgresql"):
        pytest.skip("advisory locks are PostgreSQL's; SQLite has one process per database")
    pid = clinic.make_patient()["id"]
    prime(clinic, pid, primed)
    headers = key()
    lock = f"{key_id(database_url, clinic)}:{headers['Idempotency-Key']}"

    async def holding() -> httpx.Response:
        conn = await _pg(database_url)
        try:
            await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", lock)
            return await asyncio.to_thread(clinic.post, POST, response_body(pid), headers=headers)
        finally:
            await conn.close()

    busy = problem(asyncio.run(holding()), 409)
    assert busy["detail"] == idempotency.IN_FLIGHT
    assert clinic.post(POST, response_body(pid), headers=headers).status_code == 201


@pytest.mark.parametrize("primed", [False, True], ids=["first-use", "known-key"])
def test_key_stored_concurrently_at_write_is_409(
    database_url: str, clinic: Api, primed: bool
) -> None:
    """The key is free when the request looks, and taken by a transaction that commits
    while the request's write waits on it: the unique key refuses the second row, 409."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers: the race needs concurrent transactions")
    pid = clinic.make_patient()["id"]
    prime(clinic, pid, primed)
    headers = key()
    kid = key_id(database_url, clinic)

    async def race() -> httpx.Response:
        conn = await _pg(database_url)
        try:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO idempotency_keys (api_key_id, key, fingerprint, status_code,"
                    " body, location, created_at) VALUES ($1, $2, 'other', 201, '{}', NULL, now())",
                    kid,
                    headers["Idempotency-Key"],
                )
                done = threading.Event()

                def post() -> httpx.Response:
                    try:
                        return clinic.post(POST, response_body(pid), headers=headers)
                    finally:
                        done.set()

                request = asyncio.create_task(asyncio.to_thread(post))
                while not done.is_set():  # until the request's write waits on our row
                    waiting = await conn.fetchval(
                        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a"
                        " ON a.pid = l.pid WHERE NOT l.granted AND a.datname = current_database()"
                    )
                    if waiting:
                        break
                    await asyncio.sleep(0.01)
            return await request
        finally:
            await conn.close()

    conflict = problem(asyncio.run(race()), 409)
    assert conflict["detail"].startswith("The request conflicts with a concurrent change")
    reuse = problem(clinic.post(POST, response_body(pid), headers=headers), 422)
    assert reuse["errors"][0]["loc"] == ["header", "Idempotency-Key"]


def test_a_key_changed_since_its_last_submission(
    registry: Registry, database_url: str, admin: Api
) -> None:
    """The one-statement write is built for the key as this process last saw it; when the
    key changed since, nothing is written on that guess and the request is judged afresh."""
    writer = registry.new_clinic()
    pid = writer.make_patient()["id"]
    assert writer.post(POST, response_body(pid), headers=key()).status_code == 201
    renamed = f"R-{uuid.uuid4().hex[:8].upper()}"

    async def rename(session: Any) -> None:
        await session.execute(update(Site).where(Site.code == writer.site).values(code=renamed))

    run_db(database_url, rename)
    r = writer.post(POST, response_body(pid), headers=key())
    assert r.status_code == 201, r.text
    events = admin.ok("GET", "/v1/audit", params={"resource_id": r.json()["id"]})["items"]
    assert [e["site_code"] for e in events if e["action"] == "create"] == [renamed]

    async def revoke(session: Any) -> None:
        await keys.revoke_key(session, writer.token[:12])

    run_db(database_url, revoke)
    problem(writer.post(POST, response_body(pid), headers=key()), 401)
    problem(writer.post(POST, response_body(pid)), 401)


def test_answer_bytes_are_what_the_json_module_writes(clinic: Api) -> None:
    """Prorated HADS scores are unrounded floats; the answer spells them as the general
    path's JSONResponse (the json module) does, and replays give the same body."""
    pid = clinic.make_patient()["id"]
    answers = hads(1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, None, None)
    headers, body = key(), response_body(pid, instrument="hads", answers=answers)
    r = clinic.post(POST, body, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["scores"]["prorated"] is True
    assert any(isinstance(v, float) for v in r.json()["scores"].values())
    assert r.content == json.dumps(r.json(), ensure_ascii=False, separators=(",", ":")).encode()
    replay = clinic.post(POST, body, headers=headers)
    assert replay.json() == r.json()


BODIES: list[dict[str, Any]] = [
    {},
    {"answers": {"score": 123456789012345678901234567890}},
    {"answers": {"score": 6.0}},
    {"answers": {"score": 6.5}},
    {"answers": {"score": "6"}},
    {"answers": {"score": True}},
    {"answers": {"score": 18446744073709551615}},
    {"answers": {}},
    {"instrument": "hads", "answers": hads(1, None, 2, None, 3, 1, 0, 2, 1, 1, 2, 0, 3, 1)},
    {"instrument": "nope"},
    {"timepoint": "whenever"},
    {"visit": ""},
    {"collected_at": "2024-01-15T10:00:00"},
    {"collected_at": 1705312800},
    {"collected_at": "2999-01-01T00:00:00Z"},
]


@pytest.mark.parametrize("overrides", BODIES)
def test_same_answer_as_the_general_path(clinic: Api, overrides: dict[str, Any]) -> None:
    """The same request through the common case (`application/json`) and through the
    declared dependencies (`application/json; charset=utf-8` is not the common case)."""
    pid = clinic.make_patient()["id"]
    content = json.dumps(response_body(pid, **overrides)).encode()
    answers = []
    for content_type in ("application/json", "application/json; charset=utf-8"):
        sent = {**key(), "Content-Type": content_type}
        answers.append(clinic.request("POST", POST, content=content, headers=sent))
    fast, general = answers
    assert fast.status_code == general.status_code, (fast.text, general.text)
    if fast.status_code == 201:
        moving = ("id", "submitted_at", "updated_at")
        assert {k: v for k, v in fast.json().items() if k not in moving} == {
            k: v for k, v in general.json().items() if k not in moving
        }
    else:
        assert fast.json() == general.json()
