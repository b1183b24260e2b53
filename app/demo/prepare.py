"""A chunk of generated patients validated and scored off the event loop, ready to store.

Every record goes through the API's request models and the intake's scoring and reference
checks here; the loader then hands the results to the services' bulk writers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from app.demo.generate import DemoPatient
from app.schemas.clinical import AdverseEventCreate, InfusionCreate, PatientCreate
from app.schemas.responses import ResponseAmend, ResponseCreate, ResponseRetract
from app.services import intake
from app.services.infusions import NewInfusion
from app.services.patients import NewPatient
from app.services.responses import Correction

UUID_BITS = 122  # a version 4 UUID: 128 bits less the version nibble and the variant bits


@dataclass(slots=True)
class Chunk:
    patients: list[NewPatient] = field(default_factory=list)
    infusions: list[NewInfusion] = field(default_factory=list)
    responses: list[tuple[intake.Scored, uuid.UUID]] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)  # made later, as clinics do


def ascending_ids(stratum: int, strata: int, count: int) -> Iterator[uuid.UUID]:
    """`count` random version 4 UUIDs from the `stratum`-th of `strata` equal slices of the
    UUID space, in increasing order.

    Chunk k of K takes slice k, so every id is uniformly random over the whole space, yet
    each chunk's rows sort after the previous chunk's: index inserts append at the right
    edge of the B-trees instead of touching random pages (the ids carry no date).
    """
    width = (1 << UUID_BITS) // strata
    draws = sorted(int.from_bytes(os.urandom(16)) % width for _ in range(count))
    for n in draws:
        n += stratum * width
        high, middle, low = n >> 74, (n >> 62) & 0xFFF, n & ((1 << 62) - 1)
        yield uuid.UUID(int=(high << 80) | (0x4 << 76) | (middle << 64) | (0b10 << 62) | low)


def prepare(
    batch: list[DemoPatient], site_ids: list[uuid.UUID], stratum: int, strata: int
) -> Chunk:
    """Validate, score and give ids to a chunk of patients (pure: no database)."""
    counts = (
        len(batch),
        sum(len(p.infusions) for p in batch),
        sum(len(p.responses) for p in batch),
    )
    pids, iids, rids = (ascending_ids(stratum, strata, n) for n in counts)
    chunk = Chunk()
    for p in batch:
        _patient(chunk, p, site_ids[p.site], pids, iids, rids)
    return chunk


def _patient(
    chunk: Chunk, p: DemoPatient, site_id: uuid.UUID, pids: Iterator[uuid.UUID],
    iids: Iterator[uuid.UUID], rids: Iterator[uuid.UUID],
) -> None:  # fmt: skip
    patient = NewPatient(site_id, PatientCreate(
        pseudonym=p.pseudonym, birth_year=p.birth_year, sex=p.sex, conditions=p.conditions,
        enrolled_on=p.enrolled_on,
    ), id=next(pids))  # fmt: skip
    infusions = [NewInfusion(patient.id, site_id, InfusionCreate(
        started_at=i.started_at, duration_min=i.duration_min, weight_kg=i.weight_kg,
        dose_mg_per_kg=i.dose_mg_per_kg, co_medications=i.co_medications,
    ), events=[AdverseEventCreate(type=kind, severity=severity, onset_at=onset)
               for kind, severity, onset in i.events], id=next(iids))
        for i in p.infusions]  # fmt: skip
    refs = intake.Refs(
        {patient.id: site_id}, {i.id: (patient.id, i.data.started_at) for i in infusions}
    )
    chunk.patients.append(patient)
    chunk.infusions += infusions
    for r in p.responses:
        item = intake.prepare(ResponseCreate(
            patient_id=patient.id, instrument=r.instrument, timepoint=r.timepoint,
            infusion_id=None if r.infusion is None else infusions[r.infusion].id,
            visit=r.visit, collected_at=r.collected_at, answers=r.first_answers or r.answers,
        ))  # fmt: skip
        item.id = next(rids)
        chunk.responses.append((item, intake.check_refs(item, refs)))
        if r.first_answers is not None:
            fix = ResponseAmend(answers=r.answers, reason="transcription error")
            chunk.corrections.append(Correction(item.id, fix))
        if r.retracted:
            chunk.corrections.append(Correction(item.id, ResponseRetract(reason="duplicate entry")))
