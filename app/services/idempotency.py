"""Idempotency-Key handling (IETF draft): replay, mismatch and in-flight detection.

The stored outcome is written in the same transaction as the change it describes, and its
primary key (API key, Idempotency-Key) makes a second row impossible whatever the race.
In-flight detection uses a transaction-scoped advisory lock on PostgreSQL (so it also holds
across worker processes) and a per-process set on SQLite (one writer at a time anyway).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import direct
from app.auth import Principal
from app.config import Settings
from app.errors import Unprocessable
from app.models import IdempotencyKey
from app.services import staging

log = logging.getLogger("proreg.idempotency")

REPLAY_HEADER = "Idempotent-Replayed"
# (API key id, Idempotency-Key) pairs that a request of this process holds.
in_flight: set[tuple[str, str]] = set()


@dataclass(frozen=True, slots=True)
class Stored:
    status_code: int
    body: Any
    location: str | None


def fingerprint(method: str, path: str, body: Any) -> str:
    """Hash of what the request asks for; key order and whitespace do not matter."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


async def claim(
    session: AsyncSession, caller: Principal, keys: list[str], *, until_commit: bool = False
) -> tuple[set[str], dict[str, tuple[str, Stored]]]:
    """Mark free keys as in flight for this transaction and read their stored outcomes.

    Returns (keys another request holds, {key: (fingerprint, outcome)} for keys used before).
    On PostgreSQL the advisory locks and the lookup are one statement: a submission pays a
    single round trip for idempotency. If a concurrent request commits the same key between
    that statement's snapshot and its lock, the primary key still refuses the second row at
    commit, which answers 409 and the retry replays.

    `until_commit`: the session is in a transaction that holds the locks until it commits
    (a batch). The lookup is then a statement of its own after the locks: its snapshot,
    taken once they are held, sees the outcome of whichever request held a key just before,
    so that race replays the item instead of failing the whole batch at COPY.
    """
    scope = str(caller.key_id)
    busy = {k for k in keys if (scope, k) in in_flight}
    free = [k for k in dict.fromkeys(keys) if k not in busy]
    stored: dict[str, tuple[str, Stored]] = {}
    pg = await direct.connection(session) if free else None
    if pg is not None:
        if until_commit:
            locked = {k for k, got in await pg.fetch(_PG_LOCK, scope, free) if got}
            found = await pg.fetch(_PG_STORED, list(locked), caller.key_id) if locked else []
        else:
            rows = await pg.fetch(_PG_CLAIM, scope, free, caller.key_id)
            locked = {row[0] for row in rows if row[1]}
            found = [(row[0], *row[2:]) for row in rows if row[1] and row[2] is not None]
        for key, fp, status, body, location in found:
            body = json.loads(body) if isinstance(body, str) else body
            stored[key] = (fp, Stored(status, body, location))
        busy |= {k for k in free if k not in locked}
        free = [k for k in free if k in locked]
    elif free:
        stored = await _lookup(session, caller, free)
    claimed = [(scope, k) for k in free]
    in_flight.update(claimed)
    session.info.setdefault("on_close", []).append(lambda: in_flight.difference_update(claimed))
    return busy, stored


def advisory_lock(api_key_id: str, key: str) -> str:
    """SQL that tries the transaction-scoped advisory lock of an (API key, Idempotency-Key)
    pair, given SQL expressions for both. Every statement that claims a key derives the lock
    here: two that derived it differently would not see each other's requests in flight."""
    return f"pg_try_advisory_xact_lock(hashtextextended({api_key_id}::text || ':' || {key}, 0))"


def _stored(api_key_id: str) -> str:
    """A lateral lookup of the stored outcome of the key `u.k` under `api_key_id` (SQL).

    One primary-key probe per key asked about. As a plain join the planner may instead hash
    every key ever stored for the API key (it did, with fresh statistics after a burst of
    batches): a cost that grows with the stored keys, not with the request. OFFSET 0 keeps
    the lateral subquery from being flattened into such a join.
    """
    return (
        "LATERAL (SELECT fingerprint, status_code, body, location FROM idempotency_keys"
        f" WHERE api_key_id = {api_key_id}::uuid AND key = u.k OFFSET 0) AS i ON true"
    )


_PG_CLAIM = (
    f"SELECT u.k, {advisory_lock('$1', 'u.k')}, i.fingerprint, i.status_code, i.body,"
    f" i.location FROM unnest($2::text[]) AS u(k) LEFT JOIN {_stored('$3')}"
)
_PG_LOCK = f"SELECT u.k, {advisory_lock('$1', 'u.k')} FROM unnest($2::text[]) AS u(k)"
_PG_STORED = (
    "SELECT u.k, i.fingerprint, i.status_code, i.body, i.location"
    f" FROM unnest($1::text[]) AS u(k) JOIN {_stored('$2')}"
)
IN_FLIGHT = "A request with this Idempotency-Key is still in progress; retry later."


async def _lookup(
    session: AsyncSession, caller: Principal, keys: list[str]
) -> dict[str, tuple[str, Stored]]:
    rows = await session.execute(
        select(IdempotencyKey).where(
            IdempotencyKey.api_key_id == caller.key_id, IdempotencyKey.key.in_(keys)
        )
    )
    return {
        r.key: (r.fingerprint, Stored(r.status_code, r.body, r.location)) for r in rows.scalars()
    }


def check(key: str, fp: str, previous: tuple[str, Stored] | None) -> Stored | None:
    """The stored outcome to replay, None for a first use; 422 if the body changed."""
    if previous is None:
        return None
    stored_fp, stored = previous
    if stored_fp != fp:
        raise Unprocessable(
            f"Idempotency-Key {key!r} was already used with a different request body.",
            errors=[{"loc": ["header", "Idempotency-Key"], "msg": "reused with another body"}],
        )
    return stored


def records(caller: Principal, entries: list[tuple[str, str, Stored]]) -> list[dict[str, Any]]:
    """The `idempotency_keys` rows of (key, fingerprint, outcome) entries."""
    now = dt.datetime.now(dt.UTC)
    return [
        {"api_key_id": caller.key_id, "key": key, "fingerprint": fp,
         "status_code": stored.status_code, "body": stored.body, "location": stored.location,
         "created_at": now}
        for key, fp, stored in entries
    ]  # fmt: skip


def remember(
    session: AsyncSession, caller: Principal, entries: list[tuple[str, str, Stored]]
) -> None:
    """Stage (key, fingerprint, outcome) rows: written at commit beside the change they
    describe. A duplicate key (two requests past `claim`, e.g. separate SQLite processes)
    fails that commit, which the unit of work answers with 409."""
    if not entries:
        return
    staging.stage(session, IdempotencyKey, staging.Columns(
        varying={
            "key": [key for key, _, _ in entries],
            "fingerprint": [fp for _, fp, _ in entries],
            "status_code": [stored.status_code for _, _, stored in entries],
            "body": [stored.body for _, _, stored in entries],
            "location": [stored.location for _, _, stored in entries],
        },
        shared={"api_key_id": caller.key_id, "created_at": dt.datetime.now(dt.UTC)},
    ))  # fmt: skip


async def purge(session: AsyncSession, *, older_than: dt.timedelta) -> int:
    """Forget keys past their retention; returns how many were removed."""
    cutoff = dt.datetime.now(dt.UTC) - older_than
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


PURGE_EVERY = 3600.0  # seconds


def start_purging(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> asyncio.Task[None]:
    """Purge expired keys at start-up and then hourly, for as long as the server runs.

    Every worker does it; the DELETE is idempotent, so overlapping purges are harmless.
    `proreg purge-idempotency` does the same once, for deployments that prefer cron.
    """
    retention = dt.timedelta(hours=settings.idempotency_retention_hours)

    async def loop() -> None:
        while True:
            try:
                async with sessionmaker() as session, session.begin():
                    removed = await purge(session, older_than=retention)
                if removed:
                    log.info("purged expired idempotency keys", extra={"removed": removed})
            except Exception as exc:  # an outage must not end the loop
                log.warning("idempotency purge failed: %s", type(exc).__name__)
            await asyncio.sleep(PURGE_EVERY)

    return asyncio.create_task(loop(), name="idempotency-purge")
