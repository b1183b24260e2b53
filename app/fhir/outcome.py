"""OperationOutcome errors for every path under /fhir, derived from the native problem+json.

The native handlers stay the single place that decides status codes and wording; under /fhir
their problem body is re-expressed as an OperationOutcome with the same status and headers.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, cast

from fastapi import FastAPI, Request
from starlette.responses import Response

from app.fhir.common import RESPONSE_TYPE, FhirResponse, response_headers
from app.idempotent import Replay
from app.services.idempotency import REPLAY_HEADER

Handler = Callable[[Request, Exception], Awaitable[Response]]

ISSUE_CODES = {
    400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
    409: "conflict", 413: "too-long", 415: "not-supported", 422: "invalid", 429: "throttled",
    503: "transient",
}  # fmt: skip
_DROPPED_HEADERS = {"content-length", "content-type"}


def is_fhir(request: Request) -> bool:
    path = request.url.path
    return path == "/fhir" or path.startswith("/fhir/")


def operation_outcome(problem: dict[str, Any]) -> dict[str, Any]:
    """One issue per listed error (with its FHIRPath expression when it has one)."""
    status = int(problem.get("status", 500))
    code = ISSUE_CODES.get(status, "exception")
    detail = str(problem.get("detail") or problem.get("title") or "Error")
    errors = problem.get("errors") or []
    issues = [_issue(error, code, detail) for error in errors if isinstance(error, dict)]
    if not issues:
        issues = [{"severity": "error", "code": code, "diagnostics": detail}]
    return {"resourceType": "OperationOutcome", "issue": issues}


def _issue(error: dict[str, Any], default_code: str, detail: str) -> dict[str, Any]:
    loc = [str(part) for part in error.get("loc") or []]
    issue: dict[str, Any] = {
        "severity": "error",
        "code": error.get("code") or default_code,
        "details": {"text": detail},
    }
    msg = str(error.get("msg") or detail)
    if loc and loc[0] in (RESPONSE_TYPE, "Bundle"):
        issue["expression"] = [".".join(loc)]
        issue["diagnostics"] = msg
    else:
        # Query, header and body-parsing errors have no FHIRPath; name their origin instead.
        issue["diagnostics"] = f"{'.'.join(loc)}: {msg}" if loc else msg
    return issue


def _as_fhir(native: Handler) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        if not is_fhir(request):
            return await native(request, exc)
        if isinstance(exc, Replay):
            return _replay(exc)
        response = await native(request, exc)
        problem = json.loads(bytes(response.body))
        headers = {k: v for k, v in response.headers.items() if k not in _DROPPED_HEADERS}
        return FhirResponse(
            operation_outcome(problem), status_code=response.status_code, headers=headers
        )

    return handler


def _replay(exc: Replay) -> Response:
    stored = exc.stored
    headers = {REPLAY_HEADER: "true"}
    if isinstance(stored.body, dict) and stored.body.get("resourceType") == RESPONSE_TYPE:
        headers |= response_headers(stored.body)
    if stored.location:
        headers["Location"] = stored.location
    return FhirResponse(stored.body, status_code=stored.status_code, headers=headers)


def install(app: FastAPI) -> None:
    """Wrap every registered exception handler so that /fhir paths answer OperationOutcome.

    Call after the native handlers are installed; other paths are left untouched.
    """
    for exc_class, native in list(app.exception_handlers.items()):
        app.add_exception_handler(exc_class, _as_fhir(cast(Handler, native)))
