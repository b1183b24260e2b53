"""API keys: token minting and hashing, the authenticated principal, and role checks."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import direct
from app.errors import Unauthorized
from app.models import ApiKey, Site

Role = Literal["admin", "analyst", "clinic"]
ROLES: tuple[Role, ...] = ("admin", "analyst", "clinic")
TOKEN_PREFIX = "prg_"
PREFIX_LENGTH = 12
_LAST_USED_EVERY = 60.0  # seconds; bounds the write load that bookkeeping adds


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: enough to scope every query and to sign every audit event."""

    key_id: uuid.UUID
    prefix: str
    role: Role
    site_id: uuid.UUID | None
    site_code: str | None


def mint_token() -> tuple[str, str, str]:
    """Return (token, prefix, sha256) for a new key. Only the hash is ever stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token[:PREFIX_LENGTH], hash_token(token)


def hash_token(token: str) -> str:
    # Tokens carry 256 bits of entropy, so a fast hash is enough (no salt or stretching).
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(header: str | None) -> str:
    if not header:
        raise Unauthorized("Send `Authorization: Bearer <token>`.")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("The Authorization header must use the Bearer scheme.")
    return token


_last_touch: dict[uuid.UUID, float] = {}
_keys, _sites = ApiKey.__table__.c, Site.__table__.c
# Core (not ORM) statement: every request runs it, and the ORM layer would triple its cost.
_BY_HASH = (
    select(_keys.id, _keys.prefix, _keys.role, _keys.site_id, _sites.code, _keys.revoked_at,
           _keys.expires_at)
    .select_from(ApiKey.__table__.outerjoin(Site.__table__, _sites.id == _keys.site_id))
    .where(_keys.token_hash == bindparam("token_hash"))
)  # fmt: skip


# The same lookup as SQL text for the driver connection (PostgreSQL), in two parts so that
# the single-submission statement (app.services.submission) can add a column to it.
KEY_COLUMNS = "k.id, k.prefix, k.role, k.site_id, s.code, k.revoked_at, k.expires_at"
KEY_BY_HASH = (
    " FROM api_keys AS k LEFT OUTER JOIN sites AS s ON s.id = k.site_id WHERE k.token_hash = $1"
)
_BY_HASH_PG = f"SELECT {KEY_COLUMNS}{KEY_BY_HASH}"


def principal_of(row: Any, now: dt.datetime) -> Principal | None:
    """The principal of a key found by its token (columns as KEY_COLUMNS), or None for a
    key that is unknown (no row), revoked or expired."""
    if row is None or row[5] is not None or (row[6] and row[6] <= now):
        return None
    return Principal(row[0], row[1], row[2], row[3], row[4])


async def authenticate(session: AsyncSession, token: str) -> Principal:
    """Resolve a token to its principal; unknown, revoked and expired keys are all 401."""
    pg = await direct.connection(session)
    if pg is not None:
        row: Any = await pg.fetchrow(_BY_HASH_PG, hash_token(token))
    else:
        row = (await session.execute(_BY_HASH, {"token_hash": hash_token(token)})).one_or_none()
    now = dt.datetime.now(dt.UTC)
    principal = principal_of(row, now)
    if principal is None:
        raise Unauthorized("The API key is unknown, revoked or expired.")
    await _touch(session, principal.key_id, now)
    return principal


def touch_due(key_id: uuid.UUID) -> bool:
    """Whether this request should record the key's `last_used_at` (at most once a minute
    per key and process); answering True counts as doing it."""
    mono = time.monotonic()
    if mono - _last_touch.get(key_id, -_LAST_USED_EVERY) < _LAST_USED_EVERY:
        return False
    _last_touch[key_id] = mono
    return True


TOUCH_PG = "UPDATE api_keys SET last_used_at = $1 WHERE id = $2"


async def _touch(session: AsyncSession, key_id: uuid.UUID, now: dt.datetime) -> None:
    if touch_due(key_id):
        await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
