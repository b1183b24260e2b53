"""Site-scoped loading: the one place where a clinic key is confined to its own site.

Every id that reaches the service layer goes through here, so another site's resource is
indistinguishable from a missing one (404) and no route can forget the check.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import NotFound
from app.models import Infusion, Patient, Response, Site

M = TypeVar("M", Patient, Infusion, Response)

AnySelect = Select[*tuple[Any, ...]]


def scoped(stmt: AnySelect, site_column: Any, caller: Principal) -> AnySelect:
    """Restrict a query to the caller's site when the caller is a clinic."""
    if caller.role == "clinic":
        return stmt.where(site_column == caller.site_id)
    return stmt


async def _load(session: AsyncSession, caller: Principal, model: type[M], id_: uuid.UUID) -> M:
    stmt = scoped(select(model).where(model.id == id_), model.site_id, caller)
    row: M | None = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No {model.__tablename__[:-1]} with id {id_}.")
    return row


async def patient(session: AsyncSession, caller: Principal, id_: uuid.UUID) -> Patient:
    return await _load(session, caller, Patient, id_)


async def infusion(session: AsyncSession, caller: Principal, id_: uuid.UUID) -> Infusion:
    return await _load(session, caller, Infusion, id_)


async def response(session: AsyncSession, caller: Principal, id_: uuid.UUID) -> Response:
    return await _load(session, caller, Response, id_)


async def site_by_code(session: AsyncSession, caller: Principal, code: str) -> Site:
    stmt = select(Site).where(Site.code == code)
    if caller.role == "clinic":
        stmt = stmt.where(Site.id == caller.site_id)
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No site with code {code}.")
    return row


async def site_codes(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Site.id, Site.code).where(Site.id.in_(ids)))
    return {r.id: r.code for r in rows}
