"""Key management and operator commands, run as `proreg` processes on the test database:
listing, expiry, immediate revocation, the audit table and the idempotency purge."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import IdempotencyKey
from app.services import keys
from tests.support import Api, Registry, response_body, run_db

PROREG = str(Path(sys.executable).parent / "proreg")


def proreg(database_url: str, *args: str) -> str:
    env = {**os.environ, "PROREG_DATABASE_URL": database_url, "COLUMNS": "250"}
    done = subprocess.run([PROREG, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_create_with_expiry_list_and_revoke(registry: Registry) -> None:
    site = registry.new_site()
    out = proreg(registry.database_url, "keys", "create", "--role", "clinic", "--site", site,
                 "--label", "tablet 3", "--expires-in-days", "30")  # fmt: skip
    token = out.strip().splitlines()[-1]
    api = Api(registry.client, token, "clinic", site)
    assert api.get("/v1/patients").status_code == 200
    row = next(line for line in proreg(registry.database_url, "keys", "list").splitlines()
               if token[:12] in line)  # fmt: skip
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime("%Y-%m-%d")
    for shown in ("clinic", site, "tablet 3", f"expires {expires}"):
        assert shown in row
    assert "never" not in row  # last used: just now
    proreg(registry.database_url, "keys", "revoke", token[:12])
    assert api.get("/v1/patients").status_code == 401  # at once, no cache to wait for
    row = next(line for line in proreg(registry.database_url, "keys", "list").splitlines()
               if token[:12] in line)  # fmt: skip
    assert "revoked" in row


def test_expired_keys_are_refused(registry: Registry) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    token, _ = run_db(registry.database_url,
                      lambda s: keys.create_key(s, role="analyst", expires_at=past))  # fmt: skip
    r = Api(registry.client, token, "analyst").get("/v1/instruments")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    listing = proreg(registry.database_url, "keys", "list")
    assert "expired" in next(line for line in listing.splitlines() if token[:12] in line)


def test_audit_command_shows_recent_events(registry: Registry, clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    assert clinic.get(f"/v1/patients/{uuid.uuid4()}").status_code == 404
    out = proreg(registry.database_url, "audit", "--key", clinic.token[:12])
    lines = [line for line in out.splitlines() if clinic.token[:12] in line]
    assert any("create" in line and pid in line and "201" in line for line in lines)
    assert any("read" in line and "404" in line for line in lines)
    assert clinic.token not in out


def test_purge_forgets_only_expired_keys(registry: Registry, clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    old, fresh = f"old-{uuid.uuid4().hex}", f"fresh-{uuid.uuid4().hex}"
    first = {k: clinic.post("/v1/responses", response_body(pid), headers={"Idempotency-Key": k})
             for k in (old, fresh)}  # fmt: skip

    async def backdate(session: AsyncSession) -> None:
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=49)
        stmt = update(IdempotencyKey).where(IdempotencyKey.key == old)
        await session.execute(stmt.values(created_at=long_ago))

    run_db(registry.database_url, backdate)
    out = proreg(registry.database_url, "purge-idempotency")
    assert "older than 48 h" in out

    async def remaining(session: AsyncSession) -> list[str]:
        stmt = select(IdempotencyKey.key).where(IdempotencyKey.key.in_([old, fresh]))
        return list(await session.scalars(stmt))

    assert run_db(registry.database_url, remaining) == [fresh]
    again = clinic.post("/v1/responses", response_body(pid), headers={"Idempotency-Key": fresh})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first[fresh].json()["id"]
