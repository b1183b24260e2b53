"""Response intake: validation and scoring (pure), reference checks, multi-row inserts.

Single submissions and batches share this path, so a response scores and stores the same
way whichever door it came through (JSON, batch, FHIR, CSV import, demo loader).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import direct
from app.auth import Principal
from app.errors import PROBLEM_BASE, AppError, NotFound, Unprocessable
from app.instruments import InvalidAnswers, get_instrument
from app.models import Infusion, Patient, Response, ResponseVersion
from app.schemas.common import ResponseStatus, Timepoint
from app.schemas.responses import ResponseCreate, ResponseRead
from app.services import audit, lookups, staging

NEEDS_INFUSION = (Timepoint.pre_infusion, Timepoint.post_infusion)
SCORE_COLUMNS = ("pain", "hads_anxiety", "hads_depression")


_ids: list[uuid.UUID] = []
os.register_at_fork(after_in_child=_ids.clear)  # a child never hands out its parent's ids


def new_response_id() -> uuid.UUID:
    """A random (version 4) UUID, made as uuid.uuid4() makes it but from one urandom call
    per 256 ids instead of one per id: a batch makes a thousand, and each system call
    costs more here than building the UUID."""
    if not _ids:
        raw = os.urandom(16 * 256)
        _ids.extend(uuid.UUID(bytes=raw[i : i + 16], version=4) for i in range(0, len(raw), 16))
    return _ids.pop()


@dataclass(slots=True)
class Scored:
    """A submission that passed every check that needs no database."""

    data: ResponseCreate
    answers: dict[str, Any]
    scores: dict[str, Any]
    scoring_version: str
    id: uuid.UUID = field(default_factory=new_response_id)


def score_answers(
    instrument_id: str, answers: Any, loc: tuple[str, ...] = ("body",)
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Validate and score answers with the instrument's module: (answers, scores, version)."""
    instrument = get_instrument(instrument_id)
    if instrument is None:
        raise Unprocessable(
            f"Unknown instrument {instrument_id!r}; see GET /v1/instruments.",
            errors=[{"loc": [*loc, "instrument"], "msg": "unknown instrument"}],
        )
    try:
        normalized = instrument.validate(answers)
    except InvalidAnswers as exc:
        errors = [{"loc": [*loc, *_loc(e)], "msg": e["msg"]} for e in exc.errors]
        raise Unprocessable("The answers do not fit the instrument.", errors=errors) from exc
    return dict(normalized), instrument.score(normalized), instrument.scoring_version


def _loc(error: dict[str, object]) -> list[str]:
    loc = error.get("loc")
    return [str(part) for part in loc] if isinstance(loc, list | tuple) else []


def prepare(data: ResponseCreate) -> Scored:
    if data.timepoint in NEEDS_INFUSION and data.infusion_id is None:
        raise Unprocessable(
            f"`infusion_id` is required for timepoint {data.timepoint.value}.",
            errors=[{"loc": ["body", "infusion_id"], "msg": "required for this timepoint"}],
        )
    answers, scores, version = score_answers(data.instrument, data.answers)
    return Scored(data, answers, scores, version)


@dataclass(frozen=True, slots=True)
class Refs:
    patients: dict[uuid.UUID, uuid.UUID]  # patient id -> site id, in the caller's scope
    infusions: dict[uuid.UUID, tuple[uuid.UUID, dt.datetime]]  # id -> (patient, started_at)


_p, _i = Patient.__table__.c, Infusion.__table__.c
# The single-submission lookup is built once with bound parameters: rebuilding it for every
# request (and expanding an IN list) cost more CPU than the query itself.
_ONE = (
    select(_p.id, _p.site_id, _i.id.label("infusion_id"), _i.started_at)
    .select_from(
        Patient.__table__.outerjoin(
            Infusion.__table__,
            and_(_i.id == bindparam("infusion_id"), _i.patient_id == _p.id),
        )
    )
    .where(_p.id == bindparam("patient_id"))
)
_ONE_IN_SITE = _ONE.where(_p.site_id == bindparam("site_id"))
# The same two lookups as SQL text for the driver connection (PostgreSQL).
_ONE_PG = (
    "SELECT p.id, p.site_id, i.id, i.started_at FROM patients AS p"
    " LEFT OUTER JOIN infusions AS i ON i.id = $2::uuid AND i.patient_id = p.id"
    " WHERE p.id = $1::uuid"
)
_ONE_IN_SITE_PG = _ONE_PG + " AND p.site_id = $3::uuid"


async def load_refs(session: AsyncSession, caller: Principal, items: list[Scored]) -> Refs:
    """The patients and infusions referenced: one prepared query for a single submission,
    two for a batch, whatever its size."""
    patient_ids = {s.data.patient_id for s in items}
    infusion_ids = {s.data.infusion_id for s in items if s.data.infusion_id is not None}
    if len(patient_ids) == 1 and len(infusion_ids) <= 1:
        params = {
            "patient_id": next(iter(patient_ids)),
            "infusion_id": next(iter(infusion_ids), None),
        }
        found: Any
        pg = await direct.connection(session)
        if pg is not None:
            if caller.role == "clinic":
                found = await pg.fetch(
                    _ONE_IN_SITE_PG, params["patient_id"], params["infusion_id"], caller.site_id
                )
            else:
                found = await pg.fetch(_ONE_PG, params["patient_id"], params["infusion_id"])
        elif caller.role == "clinic":
            found = (
                await session.execute(_ONE_IN_SITE, {**params, "site_id": caller.site_id})
            ).all()
        else:
            found = (await session.execute(_ONE, params)).all()
        return Refs(
            {r[0]: r[1] for r in found},
            {r[2]: (r[0], r[3]) for r in found if r[2] is not None},
        )
    stmt = lookups.scoped(
        select(_p.id, _p.site_id).where(_p.id.in_(patient_ids)), _p.site_id, caller
    )
    patients = {r.id: r.site_id for r in await session.execute(stmt)}
    infusions: dict[uuid.UUID, tuple[uuid.UUID, dt.datetime]] = {}
    if infusion_ids:
        rows = await session.execute(
            select(_i.id, _i.patient_id, _i.started_at).where(_i.id.in_(infusion_ids))
        )
        infusions = {r.id: (r.patient_id, r.started_at) for r in rows}
    return Refs(patients, infusions)


def check_refs(item: Scored, refs: Refs) -> uuid.UUID:
    """Return the site of the item's patient, or raise the error a single POST would get."""
    data = item.data
    site_id = refs.patients.get(data.patient_id)
    if site_id is None:
        raise NotFound(f"No patient with id {data.patient_id}.")
    if data.infusion_id is not None:
        infusion = refs.infusions.get(data.infusion_id)
        if infusion is None or infusion[0] != data.patient_id:
            raise Unprocessable(
                "The infusion does not exist for this patient.",
                errors=[{"loc": ["body", "infusion_id"], "msg": "no such infusion for patient"}],
            )
        check_post_time(data.timepoint, data.collected_at, infusion[1])
    return site_id


def check_post_time(timepoint: str, collected_at: dt.datetime, started_at: dt.datetime) -> None:
    if timepoint == Timepoint.post_infusion and collected_at < started_at:
        raise Unprocessable(
            "A post_infusion response cannot be collected before the infusion started.",
            errors=[{"loc": ["body", "collected_at"], "msg": "before the infusion started"}],
        )


def score_columns(scores: dict[str, Any]) -> dict[str, Any]:
    return {col: scores.get(col) for col in SCORE_COLUMNS}


def _row_pair(
    caller: Principal, item: Scored, site_id: uuid.UUID | None, now: dt.datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The response row and its first version's row, for one item."""
    d, scores = item.data, item.scores
    cols = score_columns(scores)
    completed = ResponseStatus.completed.value
    head = {
        "id": item.id, "site_id": site_id, "patient_id": d.patient_id,
        "infusion_id": d.infusion_id, "instrument": d.instrument,
        "timepoint": d.timepoint.value, "visit": d.visit, "created_at": now,
        "created_by": caller.prefix, "version": 1, "status": completed,
        "collected_at": d.collected_at, **cols,
    }  # fmt: skip
    version = {
        "response_id": item.id, "version": 1, "status": completed,
        "collected_at": d.collected_at, "answers": item.answers, "scores": scores,
        "scoring_version": item.scoring_version,
        "prorated": bool(scores.get("prorated", False)),
        "complete": bool(scores.get("complete", True)), "reason": None,
        "recorded_at": now, "recorded_by": caller.prefix, **cols,
    }  # fmt: skip
    return head, version


def _column_pair(
    caller: Principal, items: list[tuple[Scored, uuid.UUID]], now: dt.datetime
) -> tuple[staging.Columns, staging.Columns]:
    """The same rows as `_row_pair` for many items, column by column."""
    ids = [item.id for item, _ in items]
    data = [item.data for item, _ in items]
    scores = [item.scores for item, _ in items]
    collected = [d.collected_at for d in data]
    by_score = {col: [s.get(col) for s in scores] for col in SCORE_COLUMNS}
    completed = ResponseStatus.completed.value
    heads = staging.Columns(
        varying={
            "id": ids, "site_id": [site_id for _, site_id in items],
            "patient_id": [d.patient_id for d in data],
            "infusion_id": [d.infusion_id for d in data],
            "instrument": [d.instrument for d in data],
            "timepoint": [d.timepoint.value for d in data], "visit": [d.visit for d in data],
            "collected_at": collected, **by_score,
        },
        shared={"created_at": now, "created_by": caller.prefix, "version": 1,
                "status": completed},
    )  # fmt: skip
    versions = staging.Columns(
        varying={
            "response_id": ids, "collected_at": collected,
            "answers": [item.answers for item, _ in items], "scores": scores,
            "scoring_version": [item.scoring_version for item, _ in items],
            "prorated": [bool(s.get("prorated", False)) for s in scores],
            "complete": [bool(s.get("complete", True)) for s in scores], **by_score,
        },
        shared={"version": 1, "status": completed, "reason": None, "recorded_at": now,
                "recorded_by": caller.prefix},
    )  # fmt: skip
    return heads, versions


Rows = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]


def rows_for(
    caller: Principal, items: Sequence[tuple[Scored, uuid.UUID | None]], request_id: str | None
) -> Rows:
    """The (responses, first versions, audit events) rows of scored (item, site) pairs, as
    plain rows: for one item or a few, cheaper than columns."""
    now = dt.datetime.now(dt.UTC)
    # One audit event per response; they differ only by the response id.
    created = audit.event(caller, "create", "response", outcome=201, request_id=request_id)
    heads, versions, events = [], [], []
    for item, site_id in items:
        head, version = _row_pair(caller, item, site_id, now)
        heads.append(head)
        versions.append(version)
        events.append({**created, "resource_id": str(item.id)})
    return heads, versions, events


async def insert_scored(
    session: AsyncSession,
    caller: Principal,
    items: list[tuple[Scored, uuid.UUID]],
    request_id: str | None = None,
) -> None:
    """Stage (item, site) pairs for the commit-time insert (or the batch's COPY), column by
    column, with one audit event per response."""
    if not items:
        return
    heads, versions = _column_pair(caller, items, dt.datetime.now(dt.UTC))
    staging.stage(session, Response, heads)
    staging.stage(session, ResponseVersion, versions)
    # One audit event per response; they differ only by the response id.
    created = audit.event(caller, "create", "response", outcome=201, request_id=request_id)
    await audit.record_each(session, created, [str(item.id) for item, _ in items])


async def insert_one(
    session: AsyncSession,
    caller: Principal,
    item: Scored,
    site_id: uuid.UUID,
    request_id: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`insert_scored` of a single item, staged as plain rows (for one row, cheaper than
    columns); returns the (response, version) rows so the answer needs no read back."""
    (head,), (version,), events = rows_for(caller, [(item, site_id)], request_id)
    staging.stage(session, Response, [head])
    staging.stage(session, ResponseVersion, [version])
    await audit.record(session, *events)
    return head, version


def read_from(head: dict[str, Any], version: dict[str, Any]) -> ResponseRead:
    return ResponseRead(
        id=head["id"], patient_id=head["patient_id"], infusion_id=head["infusion_id"],
        instrument=head["instrument"], timepoint=head["timepoint"], visit=head["visit"],
        collected_at=version["collected_at"], answers=version["answers"],
        scores=version["scores"], scoring_version=version["scoring_version"],
        status=version["status"], version=version["version"], submitted_at=head["created_at"],
        submitted_by=head["created_by"], updated_at=version["recorded_at"],
    )  # fmt: skip


async def create_one(
    session: AsyncSession, caller: Principal, data: ResponseCreate, request_id: str | None
) -> ResponseRead:
    scored = prepare(data)
    refs = await load_refs(session, caller, [scored])
    site_id = check_refs(scored, refs)
    head, version = await insert_one(session, caller, scored, site_id, request_id)
    return read_from(head, version)


def item_error(exc: AppError) -> dict[str, Any]:
    """The problem+json body an item would have got as a single POST."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + exc.slug,
        "title": exc.title,
        "status": exc.status,
        "detail": exc.detail,
    }
    if exc.errors is not None:
        body["errors"] = exc.errors
    return body
