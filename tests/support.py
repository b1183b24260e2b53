"""Helpers for tests: database lifecycle, API keys, and factories that go through the API."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from app.db import make_engine, make_sessionmaker
from app.migrations import upgrade
from app.services import keys

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


async def _pg_connect(url: str, database: str | None = None) -> asyncpg.Connection:
    """A plain asyncpg connection to `url`'s database, or to `database` on its server."""
    target = make_url(url)
    return await asyncpg.connect(
        host=target.host, port=target.port or 5432, user=target.username,
        password=target.password, database=database or target.database,
    )  # fmt: skip


async def pg_admin(url: str, *statements: str) -> None:
    """Run statements on the `postgres` maintenance database of `url`'s server."""
    conn = await _pg_connect(url, "postgres")
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def create_database(url: str, name: str | None = None) -> str:
    """Create (PostgreSQL) and migrate a database; returns its URL."""
    if name is not None:
        await pg_admin(url, f'CREATE DATABASE "{name}"')
        url = make_url(url).set(database=name).render_as_string(hide_password=False)
    await _to_thread(upgrade, url)
    return url


async def drop_database(url: str) -> None:
    await pg_admin(url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


async def _to_thread(fn: Any, *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


@contextmanager
def table_locked(url: str, table: str, seconds: float) -> Iterator[None]:
    """`table` of a PostgreSQL database locked against every reader, from another
    connection, for `seconds` from entry; the exit waits until the lock is released."""
    taken = threading.Event()

    async def hold() -> None:
        conn = await _pg_connect(url)
        try:
            async with conn.transaction():
                await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                taken.set()
                await asyncio.sleep(seconds)
        finally:
            await conn.close()

    holder = threading.Thread(target=asyncio.run, args=(hold(),))
    holder.start()
    try:
        assert taken.wait(10), f"{table} was not locked within 10 s"
        yield
    finally:
        holder.join()


def run_db(database_url: str, work: Any) -> Any:
    """Run `work(session)` in a committed transaction on its own engine."""
    import asyncio

    async def main() -> Any:
        engine = make_engine(database_url, pool_size=1, max_overflow=0)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


@dataclass
class Api:
    """A client bound to one API key."""

    client: TestClient
    token: str
    role: str
    site: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.request("POST", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, json=json, **kw)

    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.request(method, path, **kw)
        assert r.status_code == status, (r.status_code, r.text)
        return r.json()

    # Factories: everything goes through the public API.
    def make_patient(self, **overrides: Any) -> dict[str, Any]:
        body = {
            "pseudonym": f"P-{uuid.uuid4().hex[:10]}",
            "birth_year": 1970,
            "sex": "female",
            "conditions": ["fibromyalgia"],
            "enrolled_on": "2024-01-10",
            **overrides,
        }
        if self.role == "admin" and "site" not in body:
            raise ValueError("admin factories must name a site")
        return self.ok("POST", "/v1/patients", 201, json=body)  # type: ignore[no-any-return]

    def make_infusion(self, patient_id: str, **overrides: Any) -> dict[str, Any]:
        body = {"started_at": "2024-02-01T09:00:00Z", "duration_min": 60, "weight_kg": 70,
                "dose_mg_per_kg": 0.5, **overrides}  # fmt: skip
        return self.ok("POST", f"/v1/patients/{patient_id}/infusions", 201, json=body)  # type: ignore[no-any-return]

    def make_response(self, patient_id: str, **overrides: Any) -> dict[str, Any]:
        return self.ok("POST", "/v1/responses", 201, json=response_body(patient_id, **overrides))  # type: ignore[no-any-return]


def hads(*points: int | None) -> dict[str, int | None]:
    """HADS answers from 14 item points (or one value repeated)."""
    values = list(points) * 14 if len(points) == 1 else list(points)
    assert len(values) == 14
    return {f"hads_{i + 1}": v for i, v in enumerate(values)}


def response_body(patient_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "patient_id": patient_id,
        "instrument": "nrs-pain",
        "timepoint": "baseline",
        "collected_at": "2024-01-15T10:00:00Z",
        "answers": {"score": 6},
        **overrides,
    }


@dataclass
class Registry:
    """Keys and sites for one test database."""

    client: TestClient
    database_url: str
    _admin: Api | None = field(default=None, init=False)
    _analyst: Api | None = field(default=None, init=False)

    def key(self, role: str, site: str | None = None) -> Api:
        token, _ = run_db(
            self.database_url,
            lambda s: keys.create_key(s, role=role, site_code=site, label="test"),
        )
        return Api(self.client, token, role, site)

    def new_site(self) -> str:
        code = f"S-{uuid.uuid4().hex[:8].upper()}"
        self.admin.ok("POST", "/v1/sites", 201, json={"code": code, "name": f"Site {code}"})
        return code

    def new_clinic(self) -> Api:
        return self.key("clinic", self.new_site())

    @property
    def admin(self) -> Api:
        if self._admin is None:
            self._admin = self.key("admin")
        return self._admin

    @property
    def analyst(self) -> Api:
        if self._analyst is None:
            self._analyst = self.key("analyst")
        return self._analyst
