"""De-identified exports (SPEC §3): responses as streamed CSV or Parquet, and their dictionary."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.auth import Principal
from app.deps import SessionDep, require
from app.routers.analytics import FiltersDep
from app.routers.common import ERRORS, NOT_FOUND
from app.schemas.exports import DataDictionary
from app.services import audit
from app.services.analytics.scope import Scope, resolve
from app.services.exports import columns, formats

router = APIRouter(prefix="/v1/exports", tags=["exports"], responses=ERRORS | NOT_FOUND)

ExportReader = Annotated[Principal, Depends(require("admin", "analyst"))]
Producer = Callable[[AsyncConnection, Scope], AsyncIterator[bytes]]

CSV_TYPE = "text/csv; charset=utf-8"
PARQUET_TYPE = "application/vnd.apache.parquet"


def _content(media_type: str, example: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {media_type: {"example": example}}, "description": "The file."}}


async def _stream(engine: AsyncEngine, scope: Scope, produce: Producer) -> AsyncIterator[bytes]:
    # The request's session has committed (with its audit row) before the body streams, so
    # the rows are read on a connection of their own, held for the length of the download.
    async with engine.connect() as conn:
        async for chunk in produce(conn, scope):
            yield chunk


async def export_response(
    request: Request, session: SessionDep, caller: Principal, filters: Any, fmt: str
) -> StreamingResponse:
    scope = await resolve(session, caller, filters)
    request_id = getattr(request.state, "request_id", None)
    await audit.record(
        session, audit.event(caller, "export", "responses", fmt, request_id=request_id)
    )
    produce, media_type = (
        (formats.csv_stream, CSV_TYPE) if fmt == "csv" else (formats.parquet_stream, PARQUET_TYPE)
    )
    stamp = scope.used_at.strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        _stream(request.app.state.stream_engine, scope, produce),
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="responses-{stamp}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/responses.csv",
    response_class=StreamingResponse,
    responses=_content(CSV_TYPE, "patient_id,site,birth_year,sex,conditions,...\n"),
)
async def export_responses_csv(
    request: Request, session: SessionDep, caller: ExportReader, filters: FiltersDep
) -> StreamingResponse:
    """Download every current, non-retracted questionnaire response of the selected cohort as
    de-identified CSV (one row per response; columns in `GET /v1/exports/dictionary`).

    Safe Harbor shape: the patient's random UUID instead of the pseudonym, birth year with
    ages of 90 and over shown as 90, day offsets from infusion 1 instead of dates, no free
    text. Streamed, so any cohort size downloads in constant server memory. Admin and
    analyst keys only; every export is audited. Filters as in `/v1/analytics/*`."""
    return await export_response(request, session, caller, filters, "csv")


@router.get(
    "/responses.parquet",
    response_class=StreamingResponse,
    responses=_content(PARQUET_TYPE, "PAR1…"),
)
async def export_responses_parquet(
    request: Request, session: SessionDep, caller: ExportReader, filters: FiltersDep
) -> StreamingResponse:
    """The same rows as `responses.csv`, as an Apache Parquet file (zstd, typed columns:
    `conditions` is a list of strings, scores are float64, `prorated` a boolean)."""
    return await export_response(request, session, caller, filters, "parquet")


@router.get("/dictionary", response_model=DataDictionary)
async def get_export_dictionary(caller: ExportReader) -> dict[str, Any]:
    """What every export column means: name, type, unit, description and the
    de-identification rule applied to it."""
    return columns.dictionary()
