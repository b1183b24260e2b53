"""Pure ASGI middleware: audit of failures; the security headers and the body size limit
that `app.edge` applies."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import PREFIX_LENGTH, TOKEN_PREFIX
from app.errors import send_problem
from app.services import audit

log = logging.getLogger("proreg.audit")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class TooLarge(StarletteHTTPException):
    """An HTTPException, so that FastAPI's body parsing lets it through as 413 instead of
    wrapping it into a 400 "error parsing the body"."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"Request bodies are limited to {max_bytes} bytes.")


async def reject_too_large(send: Send, max_bytes: int) -> None:
    """413 problem+json for a body over the limit (`app.edge` enforces it)."""
    await send_problem(
        send, 413, slug="payload-too-large", title="Request body too large",
        detail=f"Request bodies are limited to {max_bytes} bytes.",
        headers=[(b"connection", b"close")],
    )  # fmt: skip


class AuditTrail:
    """Records the audit events a request's own transaction could not keep.

    Handlers audit successful writes and reads inside their transaction. A failed request
    rolls that back, an idempotent replay never reaches the handler, and a route may not
    audit itself; for those, one event is written here in a short transaction of its own,
    before the response leaves. Requests refused before routing (413 by Content-Length,
    429) are left to the access log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def auditing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._record(scope, message)
            await send(message)

        await self.app(scope, receive, auditing_send)

    async def _record(self, scope: Scope, start: Message) -> None:
        route, state = scope.get("route"), scope.get("state", {})
        template = getattr(route, "path_format", None)
        if template is None or not audit.is_audited(scope["method"], template):
            return
        status = int(start["status"])
        replayed = any(n.lower() == b"idempotent-replayed" for n, _ in start.get("headers", []))
        if status < 400 and state.get("audited") and not replayed:
            return
        action, resource, resource_id = audit.describe(
            scope["method"], template, scope.get("path_params", {})
        )
        row = audit.event(
            state.get("principal"), "replay" if replayed else action, resource, resource_id,
            outcome=status, request_id=state.get("request_id"),
            key_prefix=presented_prefix(scope),
        )  # fmt: skip
        if status == 503:  # the database is unavailable: trying would only add a wait
            log.warning("audit event not recorded: database unavailable", extra=_safe(row))
            return
        try:
            async with scope["app"].state.sessionmaker() as session, session.begin():
                await audit.record(session, row)
        except Exception as exc:  # the database may be the reason the request failed
            log.warning("audit event not recorded: %s", type(exc).__name__, extra=_safe(row))


def _safe(row: dict[str, Any]) -> dict[str, Any]:
    """The event's fields for a log line (names that cannot clash with LogRecord's)."""
    return {f"audit_{k}": v for k, v in row.items() if k != "at"}


def presented_prefix(scope: Scope) -> str | None:
    """The public prefix of the bearer token sent, if it looks like one of ours."""
    headers: dict[bytes, bytes] = dict(scope["headers"])
    header = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token.startswith(TOKEN_PREFIX):
        return token[:PREFIX_LENGTH]
    return None
