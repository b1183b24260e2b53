"""Importing patients and infusions through the same schemas and services as the API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Infusion, Patient
from app.schemas.clinical import InfusionCreate, PatientCreate
from app.services import infusions, patients
from app.services.importer import refs
from app.services.importer.layout import (
    COLUMNS,
    ImportFailed,
    LineError,
    Row,
    body,
    shape_error,
    validation_errors,
)
from app.services.importer.refs import CALLER, Progress


def _parse_patients(
    rows: Iterable[Row], site: str | None, errors: list[LineError]
) -> list[tuple[int, PatientCreate]]:
    parsed = []
    for row in rows:
        if shape := shape_error(row):
            errors.append(shape)
            continue
        data = body(row, COLUMNS["patients"])
        if site is not None:
            data.setdefault("site", site)
        try:
            parsed.append((row.line, PatientCreate.model_validate(data)))
        except ValidationError as exc:
            errors += validation_errors(row.line, exc)
    return parsed


async def load_patients(
    session: AsyncSession, rows: list[Row], site: str | None, progress: Progress
) -> tuple[int, int]:
    """Register new patients; a (site, pseudonym) already registered is skipped."""
    errors: list[LineError] = []
    parsed = _parse_patients(rows, site, errors)
    known = await refs.site_ids(session, {p.site for _, p in parsed if p.site})
    existing = await refs.patients_by_key(
        session, {(p.site, p.pseudonym) for _, p in parsed if p.site in known}
    )
    todo: list[tuple[int, PatientCreate]] = []
    first_seen: dict[tuple[str, str], int] = {}
    for line, p in parsed:
        key = (p.site or "", p.pseudonym)
        if p.site is None or p.site not in known:
            errors.append(LineError(line, "site", f"unknown site {p.site!r}") if p.site
                          else refs.missing_patient(line, None, None))  # fmt: skip
        elif key in first_seen:
            errors.append(LineError(line, "pseudonym", f"repeats line {first_seen[key]}"))
        elif key not in existing:
            todo.append((line, p))
        first_seen.setdefault(key, line)
    if errors:
        raise ImportFailed(errors)
    progress.stage("patients", len(todo))
    # Sites resolved and pseudonyms checked above: one staged write for the lot.
    new = [patients.NewPatient(known[p.site or ""], p) for _, p in todo]
    await patients.create_many(session, CALLER, new, action="import")
    progress.advance(len(todo))
    return len(todo), len(parsed) - len(todo)


def _parse_infusions(
    rows: Iterable[Row], site: str | None, errors: list[LineError]
) -> list[tuple[int, tuple[str, str], InfusionCreate]]:
    parsed = []
    names = tuple(n for n in COLUMNS["infusions"] if n not in ("site", "pseudonym"))
    for row, code in refs.with_site(rows, site, errors):
        try:
            data = InfusionCreate.model_validate(body(row, names))
        except ValidationError as exc:
            errors += validation_errors(row.line, exc)
            continue
        parsed.append((row.line, (code, row.cells["pseudonym"]), data))
    return parsed


async def _existing_starts(
    session: AsyncSession, owners: list[Patient]
) -> set[tuple[object, dt.datetime]]:
    found: set[tuple[object, dt.datetime]] = set()
    for part in refs.chunks([p.id for p in owners]):
        rows = await session.execute(
            select(Infusion.patient_id, Infusion.started_at).where(Infusion.patient_id.in_(part))
        )
        found |= {(r.patient_id, r.started_at) for r in rows}
    return found


async def load_infusions(
    session: AsyncSession, rows: list[Row], site: str | None, progress: Progress
) -> tuple[int, int]:
    """Register new infusions; one with the same patient and `started_at` is skipped."""
    errors: list[LineError] = []
    parsed = _parse_infusions(rows, site, errors)
    owners = await refs.patients_by_key(session, {key for _, key, _ in parsed})
    existing = await _existing_starts(session, list(owners.values()))
    todo: list[tuple[int, Patient, InfusionCreate]] = []
    first_seen: dict[tuple[object, dt.datetime], int] = {}
    for line, key, data in parsed:
        patient = owners.get(key)
        if patient is None:
            errors.append(refs.missing_patient(line, *key))
            continue
        natural = (patient.id, data.started_at)
        if natural in first_seen:
            errors.append(LineError(line, "started_at", f"repeats line {first_seen[natural]}"))
        elif natural not in existing:
            todo.append((line, patient, data))
        first_seen.setdefault(natural, line)
    if errors:
        raise ImportFailed(errors)
    progress.stage("infusions", len(todo))
    new = [infusions.NewInfusion(patient.id, patient.site_id, data) for _, patient, data in todo]
    await infusions.create_many(session, CALLER, new, action="import")
    progress.advance(len(todo))
    return len(todo), len(parsed) - len(todo)
