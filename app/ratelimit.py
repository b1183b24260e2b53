"""Per-key rate limit: a token bucket per API key prefix (or client address), in process."""

from __future__ import annotations

import time

from starlette.types import Send

from app.errors import send_problem

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


async def reject_rate_limited(send: Send, retry_after: int) -> None:
    """429 problem+json with `Retry-After` (`app.edge` applies the limit per key prefix, or
    per client address for requests without one; per process, so with N workers the
    effective limit is up to N times higher)."""
    await send_problem(
        send, 429, slug="rate-limited", title="Too many requests",
        detail=f"This API key has made too many requests; retry in {retry_after} s.",
        headers=[(b"retry-after", str(retry_after).encode())],
    )  # fmt: skip
