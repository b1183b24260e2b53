"""Reports: the paper's Table 1 for any analytics filter, as JSON or HTML."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.deps import Analyst, SessionDep
from app.routers.analytics import ScopeDep, Threshold
from app.routers.common import ERRORS, NOT_FOUND
from app.schemas.reports import Table1
from app.services import audit
from app.services.reports.render import SECURITY_HEADERS, render
from app.services.reports.table1 import table1

router = APIRouter(prefix="/v1/reports", tags=["reports"], responses=ERRORS | NOT_FOUND)

Format = Annotated[
    Literal["json", "html"] | None,
    Query(description="Overrides the `Accept` header: `json` or `html`."),
]


def wants_html(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "html"
    accept = request.headers.get("accept", "")
    if "text/html" not in accept:
        return False
    return "application/json" not in accept or accept.index("text/html") < accept.index(
        "application/json"
    )


@router.get(
    "/table1",
    response_model=Table1,
    responses={200: {"content": {"text/html": {"example": '<table class="table1">…</table>'}}}},
)
async def get_table1(
    request: Request,
    session: SessionDep,
    caller: Analyst,
    scope: ScopeDep,
    threshold: Threshold = 8,
    format: Format = None,
) -> Any:
    """The cohort's Table 1 as a paper prints it: patients, sites, age (mean ± SD), women
    (n, %), infusions per patient, each condition, baseline pain, HADS anxiety and HADS
    depression (mean ± SD), depressed at baseline and infusions with an adverse event.

    JSON by default; HTML with `Accept: text/html` or `?format=html`. Built from
    `/v1/analytics/cohort` for the same filters, so suppressed cells (1 to
    `PROREG_MIN_CELL − 1` patients) read `suppressed`, never a number."""
    table = await table1(
        session, scope, threshold=threshold, min_cell=request.app.state.settings.min_cell
    )
    await audit.record(session, audit.event(caller, "report", "table1", None))
    if wants_html(request, format):
        return HTMLResponse(render("table1.html", table=table), headers=SECURITY_HEADERS)
    return table
