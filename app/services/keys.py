"""Operator tasks on sites and API keys, shared by the CLI and tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import ROLES, mint_token
from app.errors import Conflict, NotFound, Unprocessable
from app.models import ApiKey, Site


async def create_site(session: AsyncSession, code: str, name: str) -> Site:
    if await session.scalar(select(Site.id).where(Site.code == code)):
        raise Conflict(f"Site {code} already exists.")
    site = Site(code=code, name=name)
    session.add(site)
    await session.flush()
    return site


async def create_key(
    session: AsyncSession,
    *,
    role: str,
    site_code: str | None = None,
    label: str | None = None,
    expires_at: dt.datetime | None = None,
) -> tuple[str, ApiKey]:
    """Create a key and return (token, row). The token exists only in this return value."""
    if role not in ROLES:
        raise Unprocessable(f"role must be one of {', '.join(ROLES)}")
    if (role == "clinic") != (site_code is not None):
        raise Unprocessable("clinic keys need --site; admin and analyst keys take none")
    site_id = None
    if site_code is not None:
        site_id = await session.scalar(select(Site.id).where(Site.code == site_code))
        if site_id is None:
            raise NotFound(f"No site with code {site_code}.")
    token, prefix, digest = mint_token()
    key = ApiKey(
        prefix=prefix,
        token_hash=digest,
        role=role,
        site_id=site_id,
        label=label,
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    return token, key


async def list_keys(session: AsyncSession) -> Sequence[Any]:
    rows = await session.execute(
        select(ApiKey, Site.code)
        .outerjoin(Site, Site.id == ApiKey.site_id)
        .order_by(ApiKey.created_at)
    )
    return rows.all()


async def revoke_key(session: AsyncSession, prefix: str) -> None:
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
        .values(revoked_at=dt.datetime.now(dt.UTC))
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound(f"No active key with prefix {prefix}.")
