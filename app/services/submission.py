"""One submission on a pooled PostgreSQL connection, in one statement when it can be.

The general path asks three questions in three round trips (`auth.authenticate`,
`idempotency.claim`, `intake.load_refs`) and writes at commit. `lookup` answers all three in
one statement: the Idempotency-Key's advisory lock is only tried for a key that is valid and
allowed to write, and the references are only read once the Idempotency-Key is free and
unused, so it has no effect the general path would not have had. `write` then sends the
staged rows. Without an Idempotency-Key there is no lock to take and no outcome to read.

`submit` does both in one round trip. The rows to write name their author (the key's
prefix, role and site), so they are built from the principal this process last saw for the
token (`known`); the statement writes them only if its own lookup finds that same principal
and everything `intake.check_refs` requires, and returns what it found either way. When it
did not write, the caller judges the lookup exactly as after `lookup`. Statements run in
autocommit, as a `writes_staged_only` session runs them; each is atomic by itself.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from app.auth import KEY_BY_HASH, KEY_COLUMNS, Principal, Role, principal_of
from app.direct import Direct
from app.models import AuditEvent, IdempotencyKey, Response, ResponseVersion
from app.schemas.common import Timepoint
from app.services import idempotency, intake, staging

_FOUND = (
    "WITH c AS ("
    f" SELECT {KEY_COLUMNS},"
    " CASE WHEN k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $3)"
    " AND k.role = ANY($4::text[])"
    " THEN $2::text IS NULL"
    f" OR {idempotency.advisory_lock('k.id', '$2')} END AS got"
    f"{KEY_BY_HASH}"
    "), r AS ("
    " SELECT c.*, i.fingerprint, i.status_code, i.body, i.location, p.id AS pid,"
    " p.site_id AS psite, f.id AS fid, f.started_at"
    " FROM c"
    " LEFT OUTER JOIN idempotency_keys AS i ON c.got AND i.api_key_id = c.id AND i.key = $2"
    " LEFT OUTER JOIN patients AS p ON c.got AND i.key IS NULL AND p.id = $5::uuid"
    " AND (c.role <> 'clinic' OR p.site_id = c.site_id)"
    " LEFT OUTER JOIN infusions AS f ON f.id = $6::uuid AND f.patient_id = p.id"
    ")"
)
_LOOKUP = _FOUND + " SELECT * FROM r"
# Writes only for the principal the rows were built for ($7–$11) and refs that pass
# `intake.check_refs` ($12: the timepoint is post_infusion, $13: collected_at).
_OK = (
    ", ok AS (SELECT r.psite AS site_id FROM r WHERE r.got AND r.fingerprint IS NULL"
    " AND r.pid IS NOT NULL AND ($6::uuid IS NULL"
    " OR (r.fid IS NOT NULL AND NOT ($12::boolean AND $13::timestamptz < r.started_at)))"
    " AND r.id = $7::uuid AND r.prefix = $8::text AND r.role = $9::text"
    " AND r.site_id IS NOT DISTINCT FROM $10::uuid AND r.code IS NOT DISTINCT FROM $11::text)"
)
_TAKEN = frozenset({"responses.site_id"})  # the patient's site, as the lookup found it
_known: dict[str, Principal] = {}
_KNOWN_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Found:
    """What a lookup saw. `caller` is None when the key is unknown, revoked or expired,
    `locked` None when it may not write (the general path then answers)."""

    caller: Principal | None
    locked: bool | None
    stored: tuple[str, idempotency.Stored] | None
    refs: intake.Refs


def known(token_hash: str) -> Principal | None:
    """The principal last found for a token in this process (only a guess: `submit`
    writes nothing unless the database agrees)."""
    return _known.get(token_hash)


def _found(row: Any, token_hash: str, now: dt.datetime) -> Found:
    caller = principal_of(row, now)
    if caller is None:
        _known.pop(token_hash, None)
        return Found(None, None, None, intake.Refs({}, {}))
    if len(_known) >= _KNOWN_MAX:
        _known.clear()
    _known[token_hash] = caller
    stored = None
    if row[8] is not None:
        body = json.loads(row[10]) if isinstance(row[10], str) else row[10]
        stored = (row[8], idempotency.Stored(row[9], body, row[11]))
    patients = {row[12]: row[13]} if row[12] is not None else {}
    infusions = {row[14]: (row[12], row[15])} if row[14] is not None else {}
    return Found(caller, row[7], stored, intake.Refs(patients, infusions))


def _lookup_args(
    token_hash: str, key: str | None, now: dt.datetime, roles: tuple[Role, ...], item: Any
) -> list[Any]:
    data = item.data
    return [token_hash, key, now, list(roles), data.patient_id, data.infusion_id]


async def lookup(
    conn: Direct,
    token_hash: str,
    key: str | None,
    now: dt.datetime,
    roles: tuple[Role, ...],
    item: intake.Scored,
) -> Found:
    row = await conn.fetchrow(_LOOKUP, *_lookup_args(token_hash, key, now, roles, item))
    return _found(row, token_hash, now)


def rows(
    caller: Principal,
    item: intake.Scored,
    site_id: uuid.UUID | None,
    request_id: str | None,
    key: str | None,
    fp: str,
) -> tuple[idempotency.Stored, list[Any]]:
    """The answer, and the rows of all four tables: the same rows, in the same order, as
    the general path stages."""
    (head,), (version,), events = intake.rows_for(caller, [(item, site_id)], request_id)
    body = intake.read_from(head, version).model_dump(mode="json", by_alias=True)
    stored = idempotency.Stored(201, body, f"/v1/responses/{head['id']}")
    staged = [
        (Response.__table__, [head]),
        (ResponseVersion.__table__, [version]),
        (AuditEvent.__table__, events),
    ]
    if key is not None:
        staged.append((IdempotencyKey.__table__, idempotency.records(caller, [(key, fp, stored)])))
    return stored, staged


async def write(conn: Direct, staged: list[Any]) -> None:
    sql, args = staging.statement(staged)
    await conn.execute(sql, *args)


async def submit(
    conn: Direct,
    token_hash: str,
    now: dt.datetime,
    roles: tuple[Role, ...],
    item: intake.Scored,
    guess: Principal,
    key: str | None,
    staged: list[Any],
) -> tuple[bool, Found]:
    """Look up and write `staged` (built for `guess`) in one statement: (written, found)."""
    data = item.data
    ctes, values = staging.guarded(staged, start=14, source="ok", taken=_TAKEN)
    sql = f"{_FOUND}{_OK}, {', '.join(ctes)} SELECT r.*, EXISTS (SELECT 1 FROM ok) FROM r"
    post = data.timepoint == Timepoint.post_infusion
    args = [
        *_lookup_args(token_hash, key, now, roles, item),
        guess.key_id, guess.prefix, guess.role, guess.site_id, guess.site_code,
        post, data.collected_at, *values,
    ]  # fmt: skip
    row = await conn.fetchrow(sql, *args)
    return bool(row is not None and row[16]), _found(row, token_hash, now)
