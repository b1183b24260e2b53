"""Pure ASGI middleware: request ids, security headers, the body size limit, audit of
failures."""

from __future__ import annotations

import logging
import uuid
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


class _TooLarge(StarletteHTTPException):
    """An HTTPException, so that FastAPI's body parsing lets it through as 413 instead of
    wrapping it into a 400 "error parsing the body"."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"Request bodies are limited to {max_bytes} bytes.")


class RequestContext:
    """Gives every request an id (echoed as `X-Request-ID`) and the standard security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = (
            incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        )
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Answer 413 for bodies over the limit, by Content-Length or while a chunked body
    streams in, without ever buffering more than the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._reject(send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send)

    async def _reject(self, send: Send) -> None:
        await send_problem(
            send, 413, slug="payload-too-large", title="Request body too large",
            detail=f"Request bodies are limited to {self.max_bytes} bytes.",
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
