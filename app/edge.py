"""The outer middleware, as one pure ASGI layer: request id and security headers, the access
log line, the per-key rate limit and the body size limit.

They used to be four layers, each wrapping `send` (and `receive`) once more for every
message of every request. Together they wrap each once and read the request headers once.
In order, as a request meets them:

1. Request id: the client's `X-Request-ID` if it is short and printable, else a new one;
   echoed on every response with the standard security headers (413 and 429 included).
2. Access log: one `proreg.access` line per request, after its response (or failure).
3. Rate limit: 429 problem+json with `Retry-After` once the key's bucket is empty.
4. Body limit: 413 for bodies over the limit, by Content-Length or while a chunked body
   streams in, without ever buffering more than the limit.
"""

from __future__ import annotations

import math
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import log_access
from app.middleware import SECURITY_HEADERS, TooLarge, presented_prefix, reject_too_large
from app.ratelimit import EXEMPT, TokenBuckets, reject_rate_limited


class Edge:
    def __init__(self, app: ASGIApp, *, max_bytes: int, per_minute: int, burst: int) -> None:
        self.app, self.max_bytes = app, max_bytes
        # `per_minute = 0` turns the rate limit off.
        self.buckets = TokenBuckets(per_minute, burst) if per_minute > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming, length = b"", None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value
            elif name == b"content-length":
                length = value
        given = incoming.decode("latin-1")
        request_id = given if 0 < len(given) <= 64 and given.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started_at = time.perf_counter()
        status, logged, started = 500, False, False

        async def edge_send(message: Message) -> None:
            nonlocal status, logged, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Logged before the last byte leaves, so the line exists once the client
                # has its answer.
                logged = True
                log_access(scope, status, started_at)
            await send(message)

        try:
            if self.buckets is not None and scope["path"] not in EXEMPT:
                client = scope.get("client")
                key = presented_prefix(scope) or f"addr:{client[0] if client else '?'}"
                wait = self.buckets.take(key)
                if wait > 0:
                    await reject_rate_limited(edge_send, math.ceil(wait))
                    return
            if length is not None and length.isdigit() and int(length) > self.max_bytes:
                await reject_too_large(edge_send, self.max_bytes)
                return
            seen = 0

            async def limited_receive() -> Message:
                nonlocal seen
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > self.max_bytes:
                        raise TooLarge(self.max_bytes)
                return message

            try:
                await self.app(scope, limited_receive, edge_send)
            except TooLarge:
                if not started:
                    await reject_too_large(edge_send, self.max_bytes)
        finally:
            if not logged:
                log_access(scope, status, started_at)
