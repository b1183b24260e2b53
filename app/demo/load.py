"""Store a generated cohort through the service layer, in chunks, with multi-row inserts.

Patients, infusions and adverse events are validated with the API's own request models;
responses go through the intake service (validation, scoring, multi-row insert) and the
amendment and retraction services, exactly as the API would store them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import Principal
from app.demo.generate import DemoPatient, iter_patients
from app.errors import Conflict
from app.models import AdverseEvent, Infusion, Patient, PatientVersion, Response, Site
from app.schemas.clinical import AdverseEventCreate, InfusionCreate, PatientCreate
from app.schemas.responses import ResponseAmend, ResponseCreate, ResponseRetract
from app.services import audit, intake, keys
from app.services import responses as response_service

DEMO_CALLER = Principal(uuid.UUID(int=0), "demo", "admin", None, None)
CHUNK = 250


async def _sites(session: AsyncSession, prefix: str, n_sites: int) -> list[uuid.UUID]:
    codes = [f"{prefix}-{j + 1:02d}" for j in range(n_sites)]
    if await session.scalar(select(Site.id).where(Site.code == codes[0])):
        raise Conflict(f"A demo cohort is already loaded (site {codes[0]} exists).")
    return [(await keys.create_site(session, code, f"Demo pain clinic {code}")).id
            for code in codes]  # fmt: skip


def _patient_rows(
    batch: list[DemoPatient], site_ids: list[uuid.UUID], now: dt.datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    heads, versions = [], []
    for p in batch:
        data = PatientCreate(pseudonym=p.pseudonym, birth_year=p.birth_year, sex=p.sex,
                             conditions=p.conditions, enrolled_on=p.enrolled_on)  # fmt: skip
        values = {"pseudonym": data.pseudonym, "birth_year": data.birth_year,
                  "sex": data.sex.value, "conditions": [c.value for c in data.conditions],
                  "enrolled_on": data.enrolled_on}  # fmt: skip
        pid = uuid.uuid4()
        heads.append({"id": pid, "site_id": site_ids[p.site], "version": 1, "created_at": now,
                      "updated_at": now, "created_by": DEMO_CALLER.prefix, **values})  # fmt: skip
        versions.append({"patient_id": pid, "version": 1, "recorded_at": now,
                         "recorded_by": DEMO_CALLER.prefix, **values})  # fmt: skip
    return heads, versions


def _infusion_rows(
    batch: list[DemoPatient], heads: list[dict[str, Any]], now: dt.datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[list[uuid.UUID]]]:
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    ids: list[list[uuid.UUID]] = []
    for p, head in zip(batch, heads, strict=True):
        ids.append([])
        for infusion in p.infusions:
            data = InfusionCreate(
                started_at=infusion.started_at, duration_min=infusion.duration_min,
                weight_kg=infusion.weight_kg, dose_mg_per_kg=infusion.dose_mg_per_kg,
                co_medications=infusion.co_medications,
            )  # fmt: skip
            iid = uuid.uuid4()
            ids[-1].append(iid)
            per_kg, weight = data.dose_mg_per_kg or 0.0, data.weight_kg or 0.0
            rows.append({
                "id": iid, "patient_id": head["id"], "site_id": head["site_id"],
                "started_at": data.started_at, "duration_min": data.duration_min,
                "weight_kg": weight, "dose_mg": per_kg * weight, "dose_mg_per_kg": per_kg,
                "co_medications": [m.model_dump() for m in data.co_medications],
                "created_at": now, "created_by": DEMO_CALLER.prefix,
            })  # fmt: skip
            for kind, severity, onset in infusion.events:
                event = AdverseEventCreate(type=kind, severity=severity, onset_at=onset)
                events.append({
                    "id": uuid.uuid4(), "infusion_id": iid, "site_id": head["site_id"],
                    "type": event.type.value, "severity": event.severity.value,
                    "onset_at": event.onset_at, "created_at": now,
                    "created_by": DEMO_CALLER.prefix,
                })  # fmt: skip
    return rows, events, ids


@dataclass(slots=True)
class Corrections:
    amend: list[tuple[uuid.UUID, dict[str, Any]]]
    retract: list[uuid.UUID]


async def _responses(
    session: AsyncSession, batch: list[DemoPatient], heads: list[dict[str, Any]],
    infusion_ids: list[list[uuid.UUID]],
) -> Corrections:  # fmt: skip
    scored: list[intake.Scored] = []
    amend: list[tuple[uuid.UUID, dict[str, Any]]] = []
    retract: list[uuid.UUID] = []
    for p, head, ids in zip(batch, heads, infusion_ids, strict=True):
        for r in p.responses:
            item = intake.prepare(ResponseCreate(
                patient_id=head["id"], instrument=r.instrument, timepoint=r.timepoint,
                infusion_id=None if r.infusion is None else ids[r.infusion], visit=r.visit,
                collected_at=r.collected_at, answers=r.first_answers or r.answers,
            ))  # fmt: skip
            scored.append(item)
            if r.first_answers is not None:
                amend.append((item.id, r.answers))
            if r.retracted:
                retract.append(item.id)
    refs = await intake.load_refs(session, DEMO_CALLER, scored)
    pairs = [(item, intake.check_refs(item, refs)) for item in scored]
    for start in range(0, len(pairs), 1000):
        await intake.insert_scored(session, DEMO_CALLER, pairs[start : start + 1000])
    return Corrections(amend, retract)


async def _correct(session: AsyncSession, corrections: Corrections) -> None:
    """Amend and retract through the response service, as a clinic would later on."""
    for rid, answers in corrections.amend:
        current = await session.get_one(Response, rid)
        body = ResponseAmend(answers=answers, reason="transcription error")
        await response_service.amend(session, DEMO_CALLER, current, body)
    for rid in corrections.retract:
        current = await session.get_one(Response, rid)
        reason = ResponseRetract(reason="duplicate entry")
        await response_service.retract(session, DEMO_CALLER, current, reason)


async def _load_chunk(
    session: AsyncSession, batch: list[DemoPatient], site_ids: list[uuid.UUID]
) -> Corrections:
    now = dt.datetime.now(dt.UTC)
    heads, versions = _patient_rows(batch, site_ids, now)
    infusions, events, infusion_ids = _infusion_rows(batch, heads, now)
    await session.execute(insert(Patient), heads)
    await session.execute(insert(PatientVersion), versions)
    await session.execute(insert(Infusion), infusions)
    if events:
        await session.execute(insert(AdverseEvent), events)
    await audit.record(session, *(
        audit.event(DEMO_CALLER, "create", table, row["id"], outcome=201)
        for table, rows in (("patient", heads), ("infusion", infusions),
                            ("adverse_event", events))
        for row in rows
    ))  # fmt: skip
    return await _responses(session, batch, heads, infusion_ids)


async def load_demo(
    sessionmaker: async_sessionmaker[Any], *, patients: int = 329, sites: int = 30,
    seed: int = 0, prefix: str = "DEMO", on_progress: Callable[[int], None] | None = None,
) -> int:  # fmt: skip
    """Generate and store the cohort, one transaction per chunk of patients.

    Returns the number of patients stored; `on_progress` is told of each stored chunk.
    """
    async with sessionmaker() as session, session.begin():
        site_ids = await _sites(session, prefix, sites)
    cohort, stored = iter_patients(patients, sites, seed), 0
    while batch := list(itertools.islice(cohort, CHUNK)):
        async with sessionmaker() as session, session.begin():
            corrections = await _load_chunk(session, batch, site_ids)
        async with sessionmaker() as session, session.begin():
            await _correct(session, corrections)
        stored += len(batch)
        if on_progress is not None:
            on_progress(len(batch))
    return stored
