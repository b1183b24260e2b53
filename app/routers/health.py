"""Liveness and readiness probes (no authentication)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.config import get_settings
from app.errors import problem

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (says nothing about the database)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Database unreachable"}})
async def readyz(request: Request) -> JSONResponse:
    """The database answers a query within 2 s; 503 with `Retry-After` otherwise."""
    try:
        async with asyncio.timeout(2):
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception:
        retry = str(get_settings().db_outage_retry_after)
        return problem(
            503,
            detail="The database is unreachable.",
            slug="service-unavailable",
            headers={"Retry-After": retry},
        )
    return JSONResponse({"status": "ready"})
