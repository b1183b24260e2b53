"""`POST /v1/responses` on PostgreSQL without a session or FastAPI's dependency tree.

A single submission is the busiest request the service answers (SPEC §9). Through the
general path it resolves six dependencies, opens a session and makes four round trips;
`SubmitRoute` answers the common case with a connection checked out of the engine's pool
and one statement (two when this process has not yet seen the token: lookup, then write;
`app.services.submission`). The route keeps its declared dependencies: they document it
in the OpenAPI schema, and every request the common case does not cover takes them —
SQLite; an Idempotency-Key FastAPI would refuse; not `Authorization: Bearer`; a body
that is not `application/json`, that FastAPI's validation or the instrument would reject;
a key that is unknown, revoked, expired or may not write. Those requests answer exactly as
before, since they go the way they always went, and the checks made before any database
work are pure, so which error a bad request gets first does not change.

What the common case still answers itself, as the general path does: 409 while the
Idempotency-Key is in flight, 422 for the key reused with another body, the replay of a
stored outcome, 404 for a patient outside the caller's scope, 422 for an infusion that
does not fit, 409 when the write meets a unique key taken concurrently, 503 with
Retry-After when the database is unreachable.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError

from app import direct
from app.auth import TOUCH_PG, Principal, Role, hash_token, touch_due
from app.deps import failure
from app.errors import AppError, Conflict
from app.idempotent import Replay
from app.routers.common import orjson_loads
from app.schemas.responses import ResponseCreate
from app.services import idempotency, intake, submission

WRITERS: tuple[Role, ...] = ("admin", "clinic")  # the roles of `app.deps.Writer`
_MAX_KEY = 255  # the Idempotency-Key header's declared max_length

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class SubmitRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        general = super().get_route_handler()

        async def handler(request: Request) -> Response:
            parsed = await _parse(request)
            if parsed is not None:
                answer = await _submit(request, *parsed)
                if answer is not None:
                    return answer
            return await general(request)

        return handler


async def _parse(request: Request) -> tuple[str, str | None, Any, intake.Scored] | None:
    """(token, Idempotency-Key, JSON body, scored item) of a request in the common case."""
    if request.app.state.engine.dialect.name != "postgresql":
        return None
    headers = request.headers
    key = headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= _MAX_KEY:
        return None
    if headers.get("content-type") != "application/json":
        return None
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        # What orjson would not read as the json module does goes the general way.
        body = orjson_loads(await request.body())
        scored = intake.prepare(ResponseCreate.model_validate(body))
    except (orjson.JSONDecodeError, ValidationError, AppError):
        return None
    return token, key, body, scored


async def _submit(
    request: Request, token: str, key: str | None, body: Any, item: intake.Scored
) -> Response | None:
    """The answer, or None for a key the general path must judge (401, 403)."""
    try:
        async with request.app.state.submit_slots:
            conn = await direct.checkout(request.app.state.engine)
            try:
                stored = await _store(request, conn, token, key, body, item)
            except asyncio.CancelledError:
                # Cut off mid-statement: the connection's state is unknown, so it is closed.
                await conn.release(discard=True)
                raise
            except BaseException:
                await conn.release()
                raise
            await conn.release()
    except Exception as exc:
        answer = failure(exc)
        if answer is not None:
            raise answer from exc
        raise
    if stored is None:
        return None
    request.state.audited = True
    headers = {"Location": stored.location or ""}
    if not _plain(stored.body):
        return JSONResponse(stored.body, status_code=201, headers=headers)
    content = orjson.dumps(stored.body)
    return Response(content, status_code=201, headers=headers, media_type="application/json")


def _plain(body: dict[str, Any]) -> bool:
    """Whether orjson writes this body byte for byte as `JSONResponse` (the json module)
    would: it does unless a score is a float that either spells with an exponent."""
    return all(
        not isinstance(v, float) or v == 0 or 1e-4 <= abs(v) < 1e16 for v in body["scores"].values()
    )


async def _store(
    request: Request,
    conn: direct.Pooled,
    token: str,
    key: str | None,
    body: Any,
    item: intake.Scored,
) -> idempotency.Stored | None:
    now, token_hash = dt.datetime.now(dt.UTC), hash_token(token)
    fp = "" if key is None else idempotency.fingerprint("POST", request.scope["path"], body)
    request_id: str | None = getattr(request.state, "request_id", None)
    guess = submission.known(token_hash)
    held: tuple[str, str] | None = None
    try:
        if guess is None or guess.role not in WRITERS or _busy(guess, key):
            found = await submission.lookup(conn, token_hash, key, now, WRITERS, item)
        else:
            held = _hold(guess, key)
            stored, staged = submission.rows(guess, item, None, request_id, key, fp)
            written, found = await submission.submit(
                conn, token_hash, now, WRITERS, item, guess, key, staged
            )
            if written:
                await _touch(conn, guess, now)
                request.state.principal = guess
                return stored
        # Not written: judged as the general path would, and written if it passes.
        caller = found.caller
        if caller is None or found.locked is None:
            return None
        request.state.principal = caller
        await _touch(conn, caller, now)
        if key is not None and held != (str(caller.key_id), key):
            if held is not None:
                idempotency.in_flight.discard(held)
                held = None
            if _busy(caller, key):
                raise Conflict(idempotency.IN_FLIGHT)
            held = _hold(caller, key)
        if not found.locked:
            raise Conflict(idempotency.IN_FLIGHT)
        if key is not None:
            replay = idempotency.check(key, fp, found.stored)
            if replay is not None:
                raise Replay(replay)
        site_id = intake.check_refs(item, found.refs)
        stored, staged = submission.rows(caller, item, site_id, request_id, key, fp)
        await submission.write(conn, staged)
        return stored
    finally:
        if held is not None:
            idempotency.in_flight.discard(held)


def _busy(caller: Principal, key: str | None) -> bool:
    return key is not None and (str(caller.key_id), key) in idempotency.in_flight


def _hold(caller: Principal, key: str | None) -> tuple[str, str] | None:
    if key is None:
        return None
    held = (str(caller.key_id), key)
    idempotency.in_flight.add(held)
    return held


async def _touch(conn: direct.Pooled, caller: Principal, now: dt.datetime) -> None:
    if touch_due(caller.key_id):
        await conn.execute(TOUCH_PG, now, caller.key_id)
