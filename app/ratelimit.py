"""Per-key rate limit: a token bucket per API key prefix (or client address), in process."""

from __future__ import annotations

import math
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import send_problem
from app.middleware import presented_prefix

EXEMPT = frozenset({"/healthz", "/readyz"})
_MAX_BUCKETS = 10_000


class TokenBuckets:
    """`burst` requests at once, refilled at `per_minute`; one bucket per key."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated)

    def take(self, key: str, now: float | None = None) -> float:
        """Spend one token; returns 0 when allowed, else the seconds until one is back."""
        now = time.monotonic() if now is None else now
        tokens, updated = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - updated) * self.rate)
        if tokens >= 1.0:
            self._store(key, tokens - 1.0, now)
            return 0.0
        self._store(key, tokens, now)
        return (1.0 - tokens) / self.rate

    def _store(self, key: str, tokens: float, now: float) -> None:
        if key not in self._buckets and len(self._buckets) >= _MAX_BUCKETS:
            # A full bucket carries no information: forgetting it changes nothing.
            full = [
                k for k, (t, u) in self._buckets.items() if t + (now - u) * self.rate >= self.burst
            ]
            for k in full or list(self._buckets)[: _MAX_BUCKETS // 10]:
                del self._buckets[k]
        self._buckets[key] = (tokens, now)


class RateLimit:
    """Answer 429 problem+json with `Retry-After` once a key has spent its bucket.

    Keyed on the public prefix of the bearer token (no database access needed), or on the
    client address for requests without one. Per process: with N workers the effective
    limit is up to N times higher. `per_minute = 0` turns the limit off.
    """

    def __init__(self, app: ASGIApp, per_minute: int, burst: int) -> None:
        self.app = app
        self.buckets = TokenBuckets(per_minute, burst) if per_minute > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.buckets is None or scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        key = presented_prefix(scope) or f"addr:{client[0] if client else '?'}"
        wait = self.buckets.take(key)
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        await _reject(send, math.ceil(wait))


async def _reject(send: Send, retry_after: int) -> None:
    await send_problem(
        send, 429, slug="rate-limited", title="Too many requests",
        detail=f"This API key has made too many requests; retry in {retry_after} s.",
        headers=[(b"retry-after", str(retry_after).encode())],
    )  # fmt: skip
