"""One submission on a pooled PostgreSQL connection: the API key, the Idempotency-Key and
the references in one statement, the staged rows in a second.

The general path asks three questions in three round trips (`auth.authenticate`,
`idempotency.claim`, `intake.load_refs`) and writes at commit. Here the first statement
answers all three: the Idempotency-Key's advisory lock is only tried for a key that is valid
and allowed to write, and the references are only read once the Idempotency-Key is free and
unused, so the statement has no effect the general path would not have had. Without an
Idempotency-Key there is no lock to take and no outcome to read. Both statements run in
autocommit, as a `writes_staged_only` session runs them.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from app.auth import Principal, Role
from app.direct import Direct
from app.models import AuditEvent, IdempotencyKey, Response, ResponseVersion
from app.services import idempotency, intake, staging

_LOOKUP = (
    "WITH k AS ("
    " SELECT k.id, k.prefix, k.role, k.site_id, s.code, k.revoked_at, k.expires_at"
    " FROM api_keys AS k LEFT OUTER JOIN sites AS s ON s.id = k.site_id"
    " WHERE k.token_hash = $1"
    "), c AS ("
    " SELECT k.*, CASE WHEN k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $3)"
    " AND k.role = ANY($4::text[])"
    " THEN $2::text IS NULL"
    " OR pg_try_advisory_xact_lock(hashtextextended(k.id::text || ':' || $2, 0)) END AS got"
    " FROM k"
    ") SELECT c.id, c.prefix, c.role, c.site_id, c.code, c.revoked_at, c.expires_at, c.got,"
    " i.fingerprint, i.status_code, i.body, i.location, p.id, p.site_id, f.id, f.started_at"
    " FROM c"
    " LEFT OUTER JOIN idempotency_keys AS i ON c.got AND i.api_key_id = c.id AND i.key = $2"
    " LEFT OUTER JOIN patients AS p ON c.got AND i.key IS NULL AND p.id = $5::uuid"
    " AND (c.role <> 'clinic' OR p.site_id = c.site_id)"
    " LEFT OUTER JOIN infusions AS f ON f.id = $6::uuid AND f.patient_id = p.id"
)


@dataclass(frozen=True, slots=True)
class Found:
    """What the first statement saw. `caller` is None when the key is unknown, revoked or
    expired, `locked` None when it may not write (the general path then answers)."""

    caller: Principal | None
    locked: bool | None
    stored: tuple[str, idempotency.Stored] | None
    refs: intake.Refs


async def lookup(
    conn: Direct,
    token_hash: str,
    key: str | None,
    now: dt.datetime,
    roles: tuple[Role, ...],
    item: intake.Scored,
) -> Found:
    data = item.data
    row: Any = await conn.fetchrow(
        _LOOKUP, token_hash, key, now, list(roles), data.patient_id, data.infusion_id
    )
    if row is None or row[5] is not None or (row[6] and row[6] <= now):
        return Found(None, None, None, intake.Refs({}, {}))
    caller = Principal(row[0], row[1], row[2], row[3], row[4])
    stored = None
    if row[8] is not None:
        body = row[10]
        body = json.loads(body) if isinstance(body, str) else body
        stored = (row[8], idempotency.Stored(row[9], body, row[11]))
    patients = {row[12]: row[13]} if row[12] is not None else {}
    infusions = {row[14]: (row[12], row[15])} if row[14] is not None else {}
    return Found(caller, row[7], stored, intake.Refs(patients, infusions))


def rows(
    caller: Principal,
    item: intake.Scored,
    site_id: uuid.UUID,
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
