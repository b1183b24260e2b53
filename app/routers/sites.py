"""Sites: the clinics of the network."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from sqlalchemy import select

from app.deps import Admin, AnyRole, SessionDep
from app.errors import Conflict
from app.idempotent import IdempotencyDep
from app.models import Site
from app.routers.common import CONFLICT, ERRORS, NOT_FOUND, Cursor, Limit
from app.schemas.clinical import SiteCreate, SiteRead
from app.schemas.common import Page
from app.services import audit, lookups, pagination

router = APIRouter(prefix="/v1/sites", tags=["sites"], responses=ERRORS)


@router.post("", status_code=201, response_model=SiteRead, responses=CONFLICT)
async def create_site(
    body: SiteCreate, session: SessionDep, caller: Admin, idem: IdempotencyDep
) -> JSONResponse:
    """Register a clinic (admin only). Its code is permanent and appears in analytics."""
    if await session.scalar(select(Site.id).where(Site.code == body.code)):
        raise Conflict(f"Site {body.code} already exists.")
    site = Site(code=body.code, name=body.name)
    session.add(site)
    await session.flush()
    await audit.record(session, audit.event(caller, "create", "site", site.code, outcome=201))
    return await idem.respond(
        SiteRead.model_validate(site, from_attributes=True),
        status=201,
        location=f"/v1/sites/{site.code}",
    )


@router.get("", response_model=Page[SiteRead])
async def list_sites(
    session: SessionDep, caller: AnyRole, limit: Limit = 100, cursor: Cursor = None
) -> Page[SiteRead]:
    """Sites visible to the key: all of them, or a clinic key's own."""
    stmt = select(Site, Site.created_at, Site.id)
    if caller.role == "clinic":
        stmt = stmt.where(Site.id == caller.site_id)
    rows, next_cursor = await pagination.page(
        session, stmt, Site.created_at, Site.id, limit=limit, cursor=cursor,
        key=lambda r: (r[0].created_at, r[0].id),
    )  # fmt: skip
    items = [SiteRead.model_validate(r[0], from_attributes=True) for r in rows]
    return Page(items=items, next_cursor=next_cursor)


@router.get("/{code}", response_model=SiteRead, responses=NOT_FOUND)
async def get_site(
    code: Annotated[str, Path(pattern=r"^[A-Z0-9_-]{2,32}$")], session: SessionDep, caller: AnyRole
) -> SiteRead:
    """One site by its code (a clinic key sees only its own)."""
    site = await lookups.site_by_code(session, caller, code)
    return SiteRead.model_validate(site, from_attributes=True)
