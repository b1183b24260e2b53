"""The analyst dashboard at /dashboard: server-rendered HTML and inline SVG, no script.

A browser cannot attach a Bearer header to a link, so the page signs in once with a form:
the key goes into an HttpOnly, SameSite=Strict cookie scoped to /dashboard (never a query
string, which would leave the key in history, logs and Referer headers).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal, authenticate
from app.deps import SessionDep
from app.errors import AppError
from app.routers.exports import export_response
from app.schemas.common import Condition, Sex
from app.schemas.reports import DashboardQuery
from app.services import audit
from app.services.analytics import service as analytics
from app.services.analytics.scope import Filters
from app.services.reports.dashboard import STRATA, panels
from app.services.reports.render import SECURITY_HEADERS, render

router = APIRouter(prefix="/dashboard", include_in_schema=False)

COOKIE = "proreg_dashboard"
HOURS = 8
VIEWERS = ("admin", "analyst")


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(render(template, **context), status_code=status, headers=SECURITY_HEADERS)


def _login_page(error: str | None = None, status: int = 200) -> HTMLResponse:
    return _page("login.html", status, error=error, hours=HOURS)


async def _viewer(request: Request, session: AsyncSession) -> Principal | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        caller = await authenticate(session, token)
    except AppError:
        return None
    return caller if caller.role in VIEWERS else None


def _query(request: Request) -> DashboardQuery:
    """The filter form, where an empty field means no filter."""
    given = {k: v for k, v in request.query_params.items() if v.strip()}
    return DashboardQuery.model_validate(given)


def _filters(q: DashboardQuery) -> Filters:
    return Filters(q.site, q.condition, q.sex, q.min_infusions, q.first_from, q.first_to)


@router.get("", response_class=HTMLResponse)
async def show_dashboard(request: Request, session: SessionDep) -> Response:
    caller = await _viewer(request, session)
    if caller is None:
        return RedirectResponse("/dashboard/login", status_code=303)
    min_cell = request.app.state.settings.min_cell
    context: dict[str, Any] = {
        "caller_role": caller.role, "caller_prefix": caller.prefix, "min_cell": min_cell,
        "conditions": [c.value for c in Condition], "sexes": [s.value for s in Sex],
        "strata": STRATA, "export_query": "",
    }  # fmt: skip
    try:
        q = _query(request)
        scope = await analytics.scope(session, caller, _filters(q))
        shown = await panels(session, scope, threshold=q.threshold, min_cell=min_cell)
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors())
        return _page("problem.html", 422, message=f"Check the filter fields: {fields}.")
    except AppError as exc:
        return _page("problem.html", exc.status, message=exc.detail)
    await audit.record(session, audit.event(caller, "view", "dashboard", None))
    given = {k: v for k, v in request.query_params.items() if v.strip() and k != "threshold"}
    context["export_query"] = f"?{urlencode(given)}" if given else ""
    return _page("dashboard.html", form=q, threshold=q.threshold, panels=shown, **context)


@router.get("/login", response_class=HTMLResponse)
async def login_form() -> HTMLResponse:
    return _login_page()


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin.rstrip("/") == str(request.base_url).rstrip("/")


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, session: SessionDep) -> Response:
    if not _same_origin(request):
        return _login_page("Sign in from this server's own page.", 403)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (form.get("key") or [""])[0].strip()
    try:
        caller = await authenticate(session, token) if token else None
    except AppError:
        caller = None
    if caller is None:
        return _login_page("That key is unknown, revoked or expired.", 401)
    if caller.role not in VIEWERS:
        return _login_page("The dashboard is for admin and analyst keys.", 403)
    await audit.record(session, audit.event(caller, "login", "dashboard", None))
    done = RedirectResponse("/dashboard", status_code=303)
    done.set_cookie(
        COOKIE, token, max_age=HOURS * 3600, path="/dashboard", httponly=True,
        samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip
    return done


@router.post("/logout")
async def logout() -> Response:
    done = RedirectResponse("/dashboard/login", status_code=303)
    done.delete_cookie(COOKIE, path="/dashboard", httponly=True, samesite="strict")
    return done


@router.get("/export.parquet")
async def download_parquet(request: Request, session: SessionDep) -> Response:
    """The de-identified export for the dashboard's filters, with the cookie's key."""
    caller = await _viewer(request, session)
    if caller is None:
        return RedirectResponse("/dashboard/login", status_code=303)
    try:
        filters = _filters(_query(request))
    except ValidationError:
        return _page("problem.html", 422, message="Check the filter fields.")
    return await export_response(request, session, caller, filters, "parquet")
