"""Batch ingest: per-item answers on the fast paths (one validation for the whole list, COPY on
PostgreSQL, orjson parsing) are the answers each item would get alone."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import os
import uuid
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    insert,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from app.auth import Principal
from app.db import JSONType, UTCDateTime, make_engine, make_sessionmaker
from app.models import Response, Site
from app.schemas.responses import BatchResult, ResponseCreate
from app.services import batch, idempotency, intake, keys, staging
from tests.support import Api, Registry, hads, response_body, run_db


def _count(api: Api, patient_id: str) -> int:
    page = api.ok("GET", f"/v1/patients/{patient_id}/responses", params={"limit": 500})
    return len(page["items"])


def _hads_item(pid: str, key: str | None, seed: int = 0) -> dict[str, Any]:
    item = response_body(pid, instrument="hads", answers=hads((seed + 1) % 4))
    return item if key is None else {**item, "idempotency_key": key}


def test_duplicates_replays_and_mismatches_in_an_all_valid_batch(clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    tag = uuid.uuid4().hex[:8]
    first = [_hads_item(pid, f"{tag}-a"), _hads_item(pid, f"{tag}-a"),
             _hads_item(pid, f"{tag}-b", 1), _hads_item(pid, None, 2)]  # fmt: skip
    result = clinic.ok("POST", "/v1/responses/batch", json={"items": first})
    assert [i["status"] for i in result["items"]] == [201, 409, 201, 201]
    assert (result["created"], result["replayed"], result["failed"]) == (3, 0, 1)
    assert result["items"][1]["error"]["status"] == 409
    again = [_hads_item(pid, f"{tag}-a"), _hads_item(pid, f"{tag}-b", 2)]
    second = clinic.ok("POST", "/v1/responses/batch", json={"items": again})
    assert second["items"][0] == {**second["items"][0], "status": 201, "replayed": True,
                                  "id": result["items"][0]["id"]}  # fmt: skip
    assert second["items"][1]["status"] == 422
    assert second["items"][1]["error"]["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert (second["created"], second["replayed"], second["failed"]) == (0, 1, 1)
    assert _count(clinic, pid) == 3


def test_bodies_only_the_json_module_reads_are_answered_as_before(clinic: Api) -> None:
    """orjson refuses NaN and a byte order mark; the json module reads them, as it always
    did, so a NaN answer is that item's 422 and the other item is stored."""
    pid = clinic.make_patient()["id"]
    good = json.dumps(response_body(pid, answers={"score": 3}))
    bad = json.dumps(response_body(pid)).replace('"score": 6', '"score": NaN')
    body = f'{{"items": [{good}, {bad}]}}'.encode()
    for content in (body, b"\xef\xbb\xbf" + body):
        r = clinic.request("POST", "/v1/responses/batch", content=content,
                           headers={"Content-Type": "application/json"})  # fmt: skip
        assert r.status_code == 200, r.text
        assert [i["status"] for i in r.json()["items"]] == [201, 422]
    assert _count(clinic, pid) == 2
    broken = clinic.request("POST", "/v1/responses/batch", content=b'{"items": [',
                            headers={"Content-Type": "application/json"})  # fmt: skip
    assert broken.status_code == 422
    assert broken.headers["content-type"] == "application/problem+json"


def test_an_integer_beyond_64_bits_is_judged_as_a_single_post_judges_it(clinic: Api) -> None:
    """orjson would read 10**30 as a float; the batch reads it as the json module does, so
    the item's problem is word for word the one a single POST of that body gets."""
    pid = clinic.make_patient()["id"]
    item = json.dumps(response_body(pid)).replace('"score": 6', f'"score": {10**30}')
    single = clinic.request("POST", "/v1/responses", content=item.encode(),
                            headers={"Content-Type": "application/json"})  # fmt: skip
    assert single.status_code == 422, single.text
    r = clinic.request("POST", "/v1/responses/batch", content=f'{{"items": [{item}]}}'.encode(),
                       headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 200, r.text
    (answer,) = r.json()["items"]
    problem = {k: v for k, v in single.json().items() if k != "instance"}
    assert answer["status"] == 422
    assert {k: v for k, v in answer["error"].items() if k != "instance"} == problem
    assert _count(clinic, pid) == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=6))
def test_item_fingerprint_is_the_idempotency_fingerprint(body: dict[str, Any]) -> None:
    assert batch._fingerprint(body) == idempotency.fingerprint("POST", batch.ITEM_PATH, body)


def test_item_fingerprint_of_a_usual_item() -> None:
    body = _hads_item(str(uuid.uuid4()), None)
    body["visit"] = "M\x7f"  # DEL: json escapes it, orjson does not
    for b in (body, {**body, "visit": "M3"}, {**body, "collected_at": 1.7e9}):
        assert batch._fingerprint(b) == idempotency.fingerprint("POST", batch.ITEM_PATH, b)


# PostgreSQL: rows go out by COPY inside the request's transaction.


@pytest.fixture
def pg_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("COPY is the PostgreSQL path; SQLite writes staged rows at commit")
    return database_url


async def _connect(url: str) -> asyncpg.Connection:
    u = make_url(url)
    return await asyncpg.connect(host=u.host, port=u.port or 5432, user=u.username,
                                 password=u.password, database=u.database)  # fmt: skip


def test_key_committed_by_a_racing_request_at_copy_time_is_409_and_stores_nothing(
    registry: Registry, pg_url: str
) -> None:
    """A concurrent request stores the same key after this batch looked it up: the COPY
    meets the unique key, the whole batch answers 409 with nothing stored, and the retry
    replays the winner and stores the rest."""
    site = registry.new_site()
    token, key = run_db(pg_url, lambda s: keys.create_key(s, role="clinic", site_code=site,
                                                          label="race"))  # fmt: skip
    clinic = Api(registry.client, token, "clinic", site)
    pid = clinic.make_patient()["id"]
    items = [_hads_item(pid, "race-1"), _hads_item(pid, "race-2", 1)]
    winner = {k: v for k, v in items[0].items() if k != "idempotency_key"}
    winner_id = str(uuid.uuid4())

    async def race() -> Any:
        holder, watcher = await _connect(pg_url), await _connect(pg_url)
        try:
            tx = holder.transaction()
            await tx.start()
            await holder.execute(
                "INSERT INTO idempotency_keys (api_key_id, key, fingerprint, status_code, body,"
                " location, created_at) VALUES ($1, $2, $3, 201, $4::jsonb, NULL, now())",
                key.id,
                "race-1",
                idempotency.fingerprint("POST", batch.ITEM_PATH, winner),
                json.dumps({"status": 201, "id": winner_id}),
            )
            loop = asyncio.get_running_loop()
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                answer = loop.run_in_executor(
                    pool, lambda: clinic.post("/v1/responses/batch", {"items": items})
                )
                # The batch's COPY waits on the uncommitted duplicate key.
                while not await watcher.fetchval(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                    " WHERE NOT l.granted AND a.datname = current_database()"
                ):
                    assert not answer.done(), answer.result().text
                    await asyncio.sleep(0.05)
                await tx.commit()
                return await answer
        finally:
            await holder.close()
            await watcher.close()

    r = asyncio.run(race())
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert _count(clinic, pid) == 0
    retry = clinic.ok("POST", "/v1/responses/batch", json={"items": items})
    assert [(i["status"], i["replayed"]) for i in retry["items"]] == [(201, True), (201, False)]
    assert retry["items"][0]["id"] == winner_id
    assert _count(clinic, pid) == 1


def test_copy_raises_integrity_errors_like_the_commit(pg_url: str) -> None:
    async def duplicate_site(session: Any) -> None:
        site = (await session.execute(select(Site).limit(1))).scalar_one()
        again = {"id": site.id, "code": f"X-{uuid.uuid4().hex[:8]}", "name": "again",
                 "created_at": site.created_at}  # fmt: skip
        staging.stage(session, Site, [again])
        await staging.copy(session)

    async def orphan_response(session: Any) -> None:
        site = (await session.execute(select(Site).limit(1))).scalar_one()
        staging.stage(session, Response, [{
            "id": uuid.uuid4(), "site_id": site.id, "patient_id": uuid.uuid4(),
            "infusion_id": None, "instrument": "nrs-pain", "timepoint": "baseline",
            "visit": None, "created_at": dt.datetime.now(dt.UTC), "created_by": "test",
            "version": 1, "status": "completed", "collected_at": dt.datetime.now(dt.UTC),
            "pain": 3, "hads_anxiety": None, "hads_depression": None,
        }])  # fmt: skip
        await staging.copy(session)

    for work in (duplicate_site, orphan_response):
        with pytest.raises(IntegrityError):
            run_db(pg_url, work)


def test_copy_refuses_an_autocommit_session(pg_url: str) -> None:
    async def main() -> None:
        engine = make_engine(pg_url, pool_size=1, max_overflow=0)
        try:
            async with make_sessionmaker(engine)() as session:
                await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
                await session.execute(text("SELECT 1"))
                row = {"id": uuid.uuid4(), "code": "NEVER-STORED", "name": "x",
                       "created_at": dt.datetime.now(dt.UTC)}  # fmt: skip
                staging.stage(session, Site, [row])
                with pytest.raises(RuntimeError, match="transaction"):
                    await staging.copy(session)
                assert await session.scalar(select(Site).where(Site.code == "NEVER-STORED")) is None
        finally:
            await engine.dispose()

    asyncio.run(main())


_TYPES = MetaData()
_EVERY_TYPE = Table(
    "copy_every_type", _TYPES,
    Column("n", Integer, primary_key=True), Column("u", Uuid), Column("big", BigInteger),
    Column("f", Float), Column("b", Boolean), Column("at", UTCDateTime(timezone=True)),
    Column("on", Date), Column("s", String(64)), Column("j", JSONType),
    prefixes=["TEMPORARY"],
)  # fmt: skip
_ELSEWHERE = dt.timezone(dt.timedelta(hours=1, minutes=30))


def _every_type_rows(first: int) -> list[dict[str, Any]]:
    shared = uuid.uuid4()
    return [
        {"n": first, "u": shared, "big": 2**62 + 1, "f": 9, "b": True,
         "at": dt.datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=_ELSEWHERE),
         "on": dt.date(1999, 12, 31), "s": "Zoë-€ ✓", "j": {"a": [1, 2.5, None, True, "é"]}},
        {"n": first + 1, "u": shared, "big": -1, "f": 7.25, "b": False,
         "at": dt.datetime(1970, 1, 1, tzinfo=dt.UTC), "on": dt.date(2026, 2, 28), "s": "",
         "j": [{"nested": {"x": "y"}}, 3]},
        {"n": first + 2, "u": uuid.uuid4(), "big": None, "f": None, "b": None, "at": None,
         "on": None, "s": None, "j": None},
    ]  # fmt: skip


def test_copy_stores_what_an_insert_stores(pg_url: str) -> None:
    """The binary COPY encoding (app.services.pgcopy) gives every column type the value
    an ordinary INSERT of the same row gives it: UUIDs, 64-bit integers, an integer into a
    float column, booleans, timestamps in another zone, dates before and after 2000,
    non-ASCII text, JSON objects and arrays, NULLs."""

    async def work(session: Any) -> list[tuple[Any, ...]]:
        await session.run_sync(lambda s: _TYPES.create_all(s.connection()))
        rows = _every_type_rows(0)
        await session.execute(insert(_EVERY_TYPE), rows)
        table = SimpleNamespace(__table__=_EVERY_TYPE)
        staging.stage(session, table, [{**row, "n": row["n"] + 10} for row in rows])
        # Column by column: a list per varying column, shared values given once.
        varying = {name: [row[name] for row in rows] for name in rows[0]}
        varying["n"] = [row["n"] + 20 for row in rows]
        staging.stage(session, table, staging.Columns(varying, {}))
        shared = {k: v for k, v in rows[0].items() if k != "n"}
        staging.stage(session, table, staging.Columns({"n": [30, 31]}, shared))
        await staging.copy(session)
        stored = await session.execute(select(_EVERY_TYPE).order_by(_EVERY_TYPE.c.n))
        return [tuple(r) for r in stored]

    stored = run_db(pg_url, work)
    inserted, copied, by_column, shared = stored[:3], stored[3:6], stored[6:9], stored[9:]
    assert [r[1:] for r in copied] == [r[1:] for r in inserted]
    assert [r[1:] for r in by_column] == [r[1:] for r in inserted]
    assert [r[1:] for r in shared] == [inserted[0][1:]] * 2
    assert copied[0][5] == dt.datetime(2024, 3, 1, 8, 30, 0, 123456, tzinfo=dt.UTC)


def test_key_claim_looks_up_each_key_by_primary_key(pg_url: str) -> None:
    """The claim's lookup is one primary-key probe per key of the request, whatever the
    statistics say, never a pass over every key the API key has stored (a plan shape,
    not a timing)."""

    async def plan(session: Any, sql: str, args: tuple[Any, ...]) -> str:
        pg = await session.connection()
        driver = (await pg.get_raw_connection()).driver_connection
        rows = await driver.fetch("EXPLAIN " + sql, *args)
        return "\n".join(r[0] for r in rows)

    # The single submission's one statement, and the batch's lookup after its locks.
    for sql, args in (
        (idempotency._PG_CLAIM, ("scope", ["a", "b"], uuid.uuid4())),
        (idempotency._PG_STORED, (["a", "b"], uuid.uuid4())),
    ):
        shown = run_db(pg_url, lambda session, sql=sql, args=args: plan(session, sql, args))
        assert "Index Cond: ((api_key_id = " in shown, shown
        assert "(key)::text = u.k" in shown, shown
        assert "Hash" not in shown, shown


def test_batch_answer_is_exactly_the_documented_model(clinic: Api) -> None:
    """The route writes its JSON itself: the body is what serializing the BatchResult model
    would give, every field present, for stored, replayed and failed items."""
    pid = clinic.make_patient()["id"]
    key = uuid.uuid4().hex
    items = [_hads_item(pid, key), _hads_item(pid, None, 1), {"patient_id": pid}]
    clinic.ok("POST", "/v1/responses/batch", json={"items": items[:1]})
    r = clinic.post("/v1/responses/batch", json={"items": items})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert BatchResult.model_validate(body).model_dump(mode="json") == body
    assert [(i["status"], i["replayed"]) for i in body["items"]] == [
        (201, True),
        (201, False),
        (422, False),
    ]
    assert (body["created"], body["replayed"], body["failed"]) == (1, 1, 1)


def test_rows_and_columns_of_responses_are_the_same_rows() -> None:
    """A single submission stages plain rows and a batch stages columns: the same rows."""
    items = [_hads_item(str(uuid.uuid4()), None, seed) for seed in range(3)]
    items[1]["answers"]["hads_1"] = None  # prorated
    items[2] = {**items[2], "visit": "M3", "infusion_id": str(uuid.uuid4()),
                "timepoint": "post_infusion"}  # fmt: skip
    scored = [(intake.prepare(ResponseCreate.model_validate(i)), uuid.uuid4()) for i in items]
    caller = Principal(key_id=uuid.uuid4(), prefix="pfx", role="clinic", site_id=uuid.uuid4(),
                       site_code="S")  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    heads, versions = intake._column_pair(caller, scored, now)
    pairs = [intake._row_pair(caller, item, site, now) for item, site in scored]
    assert heads.rows() == [head for head, _ in pairs]
    assert versions.rows() == [version for _, version in pairs]


def test_response_ids_are_random_uuids_never_shared_with_a_forked_child() -> None:
    ids = [intake.new_response_id() for _ in range(600)]  # more than one urandom draw
    assert len(set(ids)) == len(ids)
    assert {(i.version, i.variant) for i in ids} == {(4, uuid.RFC_4122)}
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id must not be one its parent still holds
        os.write(write, intake.new_response_id().bytes)
        os._exit(0)
    os.waitpid(pid, 0)
    child = uuid.UUID(bytes=os.read(read, 16))
    os.close(read)
    os.close(write)
    assert child not in {intake.new_response_id() for _ in range(256)}
