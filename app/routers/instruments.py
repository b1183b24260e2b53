"""Instrument catalogue: items, ranges, scoring rules, bands and codes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.deps import AnyRole
from app.errors import NotFound
from app.instruments import INSTRUMENTS, get_instrument
from app.routers.common import ERRORS, NOT_FOUND

router = APIRouter(prefix="/v1/instruments", tags=["instruments"], responses=ERRORS)


@router.get("")
async def list_instruments(_caller: AnyRole) -> dict[str, Any]:
    """Every instrument this server scores."""
    return {"items": [i.describe() for i in INSTRUMENTS.values()], "next_cursor": None}


@router.get("/{instrument_id}", responses=NOT_FOUND)
async def get_instrument_description(instrument_id: str, _caller: AnyRole) -> dict[str, Any]:
    """Items, ranges, scoring (incl. HADS prorating), bands and codes of one instrument."""
    instrument = get_instrument(instrument_id)
    if instrument is None:
        raise NotFound(f"No instrument {instrument_id!r}.")
    return instrument.describe()
