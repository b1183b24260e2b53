"""Request-scoped dependencies: the unit of work, the caller, role gates and scoped lookups."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal, Role, authenticate, bearer_token
from app.config import get_settings
from app.errors import (
    OUTAGE_DETAIL,
    AppError,
    Conflict,
    Forbidden,
    ServiceUnavailable,
    is_outage,
)
from app.models import Infusion, Patient, Response
from app.services import lookups

_bearer = HTTPBearer(auto_error=False, description="An API key created with `proreg keys create`.")


_STAGED_ONLY = "_proreg_writes_staged_only"
E = TypeVar("E", bound=Callable[..., Any])


def writes_staged_only(endpoint: E) -> E:
    """Mark a route whose every write is staged (`app.services.staging`).

    On PostgreSQL its session then skips the BEGIN and COMMIT round trips: its reads need no
    snapshot beyond their own statement, and the staged rows are written by one statement,
    which is atomic by itself. This is what keeps a submission through the session at four
    round trips (`app.submit` does the common case on PostgreSQL in one, without a session).
    """
    setattr(endpoint, _STAGED_ONLY, True)
    return endpoint


def _autocommit(request: Request) -> bool:
    route = request.scope.get("route")
    staged = getattr(getattr(route, "endpoint", None), _STAGED_ONLY, False)
    return bool(staged) and request.app.state.engine.dialect.name == "postgresql"


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One unit of work per request, committed before the response leaves.

    A failed commit therefore surfaces as an error instead of a 2xx for lost data, and a
    database outage becomes 503 with `Retry-After` rather than a 500.
    """
    async with request.app.state.sessionmaker() as session:
        session.info["request_id"] = getattr(request.state, "request_id", None)
        try:
            if _autocommit(request):
                await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            yield session
            await session.commit()
            # Tells the audit middleware that this request's events are already stored.
            request.state.audited = session.info.get("audited", False)
        except BaseException as exc:
            await _safe_rollback(session)
            answer = failure(exc)
            if answer is not None:
                raise answer from exc
            raise
        finally:
            for callback in session.info.pop("on_close", []):
                callback()


def failure(exc: BaseException) -> AppError | None:
    """The answer to a unit of work that failed on the database, if it has a specific one."""
    if isinstance(exc, IntegrityError):
        # A unique key taken by a concurrent request (a pseudonym, an Idempotency-Key):
        # nothing of this request was stored, and a retry sees the winner's state.
        return Conflict(
            "The request conflicts with a concurrent change; nothing was stored. Retry it."
        )
    if is_outage(exc):
        return _outage()
    return None


def _outage() -> ServiceUnavailable:
    retry = str(get_settings().db_outage_retry_after)
    return ServiceUnavailable(OUTAGE_DETAIL, headers={"Retry-After": retry})


async def _safe_rollback(session: AsyncSession) -> None:
    # The connection may already be gone; the pool discards it either way.
    with contextlib.suppress(Exception):
        await session.rollback()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    header = f"Bearer {credentials.credentials}" if credentials else None
    principal = await authenticate(session, bearer_token(header))
    request.state.principal = principal
    return principal


def require(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def gate(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"This operation is not available to {principal.role} keys.")
        return principal

    return gate


AnyRole = Annotated[Principal, Depends(require("admin", "analyst", "clinic"))]
Admin = Annotated[Principal, Depends(require("admin"))]
Writer = Annotated[Principal, Depends(require("admin", "clinic"))]
RowReader = Annotated[Principal, Depends(require("admin", "clinic"))]
Analyst = Annotated[Principal, Depends(require("admin", "analyst", "clinic"))]


async def _patient(patient_id: uuid.UUID, session: SessionDep, caller: RowReader) -> Patient:
    return await lookups.patient(session, caller, patient_id)


async def _infusion(infusion_id: uuid.UUID, session: SessionDep, caller: RowReader) -> Infusion:
    return await lookups.infusion(session, caller, infusion_id)


async def _response(response_id: uuid.UUID, session: SessionDep, caller: RowReader) -> Response:
    return await lookups.response(session, caller, response_id)


PatientDep = Annotated[Patient, Depends(_patient)]
InfusionDep = Annotated[Infusion, Depends(_infusion)]
ResponseDep = Annotated[Response, Depends(_response)]
