"""Importing questionnaire responses through the intake path shared with the API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import AppError
from app.models import Infusion, Patient, Response
from app.schemas.responses import ResponseCreate
from app.services import intake
from app.services.importer import refs
from app.services.importer.layout import (
    COLUMNS,
    ImportFailed,
    LineError,
    Row,
    answer_value,
    body,
    convert,
    validation_errors,
)
from app.services.importer.refs import CALLER, Progress
from app.services.infusions import number_column

FIXED = ("instrument", "timepoint", "visit", "collected_at")
INSERT_BATCH = 1_000


@dataclass(frozen=True, slots=True)
class Pending:
    line: int
    key: tuple[str, str]  # (site code, pseudonym)
    number: Any  # infusion number as given, or None
    fields: dict[str, Any]
    answers: dict[str, Any]


def _parse(rows: list[Row], site: str | None, errors: list[LineError]) -> list[Pending]:
    parsed = []
    for row, code in refs.with_site(rows, site, errors):
        number = row.get("infusion_number")
        answers = {k: answer_value(v) for k, v in row.cells.items()
                   if k not in COLUMNS["responses"]}  # fmt: skip
        parsed.append(Pending(row.line, (code, row.cells["pseudonym"]),
                              convert("infusion_number", number) if number else None,
                              body(row, FIXED), answers))  # fmt: skip
    return parsed


async def _infusion_ids(
    session: AsyncSession, owners: list[Patient]
) -> dict[tuple[uuid.UUID, int], uuid.UUID]:
    """(patient, number) → infusion id, numbered as the API numbers them today."""
    found: dict[tuple[uuid.UUID, int], uuid.UUID] = {}
    for part in refs.chunks([p.id for p in owners]):
        numbered = (
            select(Infusion.id, Infusion.patient_id, number_column())
            .where(Infusion.patient_id.in_(part))
            .subquery()
        )
        for r in await session.execute(select(numbered)):
            found[(r.patient_id, int(r.number))] = r.id
    return found


async def _existing(session: AsyncSession, owners: list[Patient]) -> set[tuple[Any, ...]]:
    """Natural keys already stored: (patient, instrument, timepoint, collected_at)."""
    found: set[tuple[Any, ...]] = set()
    for part in refs.chunks([p.id for p in owners]):
        rows = await session.execute(
            select(Response.patient_id, Response.instrument, Response.timepoint,
                   Response.collected_at).where(Response.patient_id.in_(part))
        )  # fmt: skip
        found |= {tuple(r) for r in rows}
    return found


def _build(p: Pending, patient: Patient, numbers: dict[Any, uuid.UUID]) -> intake.Scored:
    infusion_id = None
    if p.number is not None:
        infusion_id = numbers.get((patient.id, p.number))
        if infusion_id is None:
            raise ImportFailed([LineError(p.line, "infusion_number",
                                          f"no infusion {p.number} for this patient")])  # fmt: skip
    data = {**p.fields, "patient_id": patient.id, "infusion_id": infusion_id,
            "answers": p.answers}  # fmt: skip
    try:
        return intake.prepare(ResponseCreate.model_validate(data))
    except ValidationError as exc:
        raise ImportFailed(validation_errors(p.line, exc)) from exc
    except AppError as exc:
        raise ImportFailed(refs.app_errors(p.line, exc)) from exc


def _natural(item: intake.Scored) -> tuple[Any, ...]:
    d = item.data
    return (d.patient_id, d.instrument, d.timepoint.value, d.collected_at)


async def _check(session: AsyncSession, items: list[tuple[int, intake.Scored]]) -> list[Any]:
    """Reference checks exactly as a POST gets them; returns (item, site id) pairs."""
    loaded = await intake.load_refs(session, CALLER, [item for _, item in items])
    out, errors = [], []
    for line, item in items:
        try:
            out.append((item, intake.check_refs(item, loaded)))
        except AppError as exc:
            errors += refs.app_errors(line, exc)
    if errors:
        raise ImportFailed(errors)
    return out


async def load_responses(
    session: AsyncSession, rows: list[Row], site: str | None, progress: Progress
) -> tuple[int, int]:
    """Store new responses; one with the same patient, instrument, timepoint and
    `collected_at` as a stored response (whatever its status) is skipped."""
    errors: list[LineError] = []
    parsed = _parse(rows, site, errors)
    owners = await refs.patients_by_key(session, {p.key for p in parsed})
    numbers = await _infusion_ids(session, list(owners.values()))
    existing = await _existing(session, list(owners.values()))
    todo: list[tuple[int, intake.Scored]] = []
    first_seen: dict[tuple[Any, ...], int] = {}
    for p in parsed:
        patient = owners.get(p.key)
        if patient is None:
            errors.append(refs.missing_patient(p.line, *p.key))
            continue
        try:
            item = _build(p, patient, numbers)
        except ImportFailed as exc:
            errors += exc.errors
            continue
        natural = _natural(item)
        if natural in first_seen:
            errors.append(LineError(p.line, None, f"repeats line {first_seen[natural]}"))
        elif natural not in existing:
            todo.append((p.line, item))
        first_seen.setdefault(natural, p.line)
    if errors:
        raise ImportFailed(errors)
    progress.stage("responses", len(todo))
    for part in refs.chunks(todo, INSERT_BATCH):
        await intake.insert_scored(session, CALLER, await _check(session, list(part)))
        progress.advance(len(part))
    return len(todo), len(parsed) - len(todo)
