"""Rescoring after a scoring change: new versions with the current scoring, never in place."""

from __future__ import annotations

import uuid

from sqlalchemy import and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.instruments import INSTRUMENTS
from app.models import Response, ResponseVersion
from app.schemas.common import ResponseStatus
from app.services.intake import score_answers, score_columns
from app.services.responses import append_version, with_current_version

SYSTEM = Principal(uuid.UUID(int=0), "rescore", "admin", None, None)


async def outdated(session: AsyncSession, *, limit: int) -> list[tuple[Response, ResponseVersion]]:
    """Current, non-retracted versions scored with another scoring version than today's."""
    stale = [
        and_(Response.instrument == i.id, ResponseVersion.scoring_version != i.scoring_version)
        for i in INSTRUMENTS.values()
    ]
    rows = await session.execute(
        with_current_version()
        .where(Response.status != ResponseStatus.entered_in_error.value)
        .where(or_(*stale))
        .order_by(Response.created_at, Response.id)
        .limit(limit)
    )
    return [(head, version) for head, version in rows]


async def rescore_batch(session: AsyncSession, *, limit: int = 500) -> int:
    """Rescore up to `limit` outdated responses; returns how many got a new version."""
    done = 0
    for head, current in await outdated(session, limit=limit):
        answers, scores, scoring_version = score_answers(head.instrument, current.answers)
        reason = f"rescored: {current.scoring_version} -> {scoring_version}"
        await append_version(session, SYSTEM, head, {
            "status": ResponseStatus.amended.value, "collected_at": current.collected_at,
            "answers": answers, "scores": scores, "scoring_version": scoring_version,
            "prorated": bool(scores.get("prorated", False)),
            "complete": bool(scores.get("complete", True)), "reason": reason,
            **score_columns(scores),
        }, "rescore")  # fmt: skip
        done += 1
    return done
