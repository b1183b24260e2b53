"""Error hierarchy rendered as RFC 9457 problem+json by one set of handlers."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Send

from app.config import get_settings

log = logging.getLogger("proreg.errors")

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://pro-registry.org/problems/"


class AppError(Exception):
    """Base error: each subclass knows its HTTP status and problem type."""

    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors) if errors is not None else None
        self.headers = headers or {}


class BadRequest(AppError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Missing or invalid API key"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Not allowed for this role"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class Unprocessable(AppError):
    status, slug, title = 422, "validation-error", "Unprocessable content"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class TooManyRequests(AppError):
    status, slug, title = 429, "rate-limited", "Too many requests"


class ServiceUnavailable(AppError):
    status, slug, title = 503, "service-unavailable", "Service temporarily unavailable"


def problem(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    slug: str | None = None,
    errors: Sequence[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug if slug else "about:blank",
        "title": title or phrase,
        "status": status,
        "detail": detail or phrase,
    }
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


async def send_problem(
    send: Send,
    status: int,
    *,
    slug: str,
    title: str,
    detail: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """problem+json straight onto an ASGI `send`, for middleware that answers before routing."""
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    raw = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(raw)).encode()), *(headers or [])],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": raw})


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """FastAPI's error list, reduced to `loc`/`msg`/`type` so no input is echoed back."""
    return [
        {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type"),
        }
        for err in exc.errors()
    ]


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem(
        exc.status,
        title=exc.title,
        detail=exc.detail,
        slug=exc.slug,
        errors=exc.errors,
        headers=exc.headers,
        instance=request.url.path,
    )


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc)
    if any(e["type"] == "json_invalid" for e in errors):
        detail = "The request body is not valid JSON."
    else:
        detail = f"{len(errors)} field(s) failed validation; see `errors`."
    return problem(
        422,
        title="Unprocessable content",
        detail=detail,
        slug="validation-error",
        errors=errors,
        instance=request.url.path,
    )


# FastAPI's wording when a body cannot even be decoded (e.g. invalid UTF-8); that is the
# same mistake as malformed JSON, so it gets the same 422.
_UNPARSABLE_BODY = "There was an error parsing the body"
_SLUGS = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = dict(exc.headers or {})
    if exc.status_code == 400 and detail == _UNPARSABLE_BODY:
        return problem(
            422,
            title="Unprocessable content",
            detail="The request body is not valid JSON.",
            slug="validation-error",
            errors=[{"loc": ["body"], "msg": "not valid JSON", "type": "json_invalid"}],
            instance=request.url.path,
        )
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return problem(
        exc.status_code, detail=detail, slug=_SLUGS.get(exc.status_code), headers=headers
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts for this path (Starlette names only those of the first
    route whose path matched)."""
    allowed = []
    for method in _HTTP_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


# SQLSTATEs meaning "the database cannot serve you now": connection exceptions (08),
# insufficient resources (53), operator intervention such as a terminated session or a
# server shutting down (57), and 55000, which is how PostgreSQL refuses connections to a
# database that does not allow them.
_OUTAGE_SQLSTATES = ("08", "53", "57", "55000")


OUTAGE_DETAIL = "The database is unreachable or busy; retry later."


def is_outage(exc: BaseException) -> bool:
    """True when the database is unreachable or refusing us, rather than the query wrong;
    also when every pooled connection stayed busy for `pool_timeout` (PoolTimeout): the
    request could not reach the database either, and a retry a moment later can."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        state = str(getattr(exc.orig, "sqlstate", None) or "")
        return exc.connection_invalidated or state.startswith(_OUTAGE_SQLSTATES)
    return isinstance(exc, ConnectionError | OSError | TimeoutError)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    if is_outage(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        retry = str(get_settings().db_outage_retry_after)
        return problem(
            503,
            title="Service temporarily unavailable",
            detail=OUTAGE_DETAIL,
            slug="service-unavailable",
            headers={"Retry-After": retry},
        )
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, detail="An unexpected error occurred.", slug="internal-error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(Exception, _unhandled)
