"""The Idempotency-Key dependency for single POSTs: replay, reject, or remember the outcome."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.auth import Principal
from app.deps import SessionDep, get_principal
from app.errors import Conflict
from app.services import idempotency


class Replay(Exception):
    """Raised to short-circuit a request whose key already has a stored outcome."""

    def __init__(self, stored: idempotency.Stored) -> None:
        self.stored = stored


async def render_replay(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Replay)
    headers = {idempotency.REPLAY_HEADER: "true"}
    if exc.stored.location:
        headers["Location"] = exc.stored.location
    return JSONResponse(exc.stored.body, status_code=exc.stored.status_code, headers=headers)


class Idempotency:
    """Per-request handle: `respond()` builds the response and stores it under the key."""

    def __init__(self, session: SessionDep, caller: Principal, key: str | None, fp: str) -> None:
        self.session, self.caller, self.key, self.fp = session, caller, key, fp

    async def respond(
        self, model: BaseModel, *, status: int = 200, location: str | None = None
    ) -> JSONResponse:
        body = model.model_dump(mode="json", by_alias=True)
        if self.key is not None:
            stored = idempotency.Stored(status, body, location)
            idempotency.remember(self.session, self.caller, [(self.key, self.fp, stored)])
        headers = {"Location": location} if location else None
        return JSONResponse(body, status_code=status, headers=headers)


async def _idempotency(
    request: Request,
    session: SessionDep,
    caller: Annotated[Principal, Depends(get_principal)],
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Retry-safe key (IETF draft): the same key and body replay the first "
            "result; another body → 422; while the first is in flight → 409.",
        ),
    ] = None,
) -> Idempotency:
    if key is None:
        return Idempotency(session, caller, None, "")
    raw = await request.body()
    try:
        # `request.json()` keeps the parse FastAPI made of a JSON body for validation.
        body: Any = await request.json() if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    fp = idempotency.fingerprint(request.method, request.url.path, body)
    busy, stored = await idempotency.claim(session, caller, [key])
    if busy:
        raise Conflict(idempotency.IN_FLIGHT)
    previous = stored.get(key)
    replay = idempotency.check(key, fp, previous)
    if replay is not None:
        raise Replay(replay)
    return Idempotency(session, caller, key, fp)


IdempotencyDep = Annotated[Idempotency, Depends(_idempotency)]
