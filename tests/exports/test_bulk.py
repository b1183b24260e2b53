"""Bulk writers (demo loader, import): they store exactly what the API stores one by one."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from app.auth import Principal
from app.demo.prepare import ascending_ids
from app.errors import Conflict, NotFound
from app.models import AuditEvent, Site
from app.schemas.clinical import AdverseEventCreate, InfusionCreate, PatientCreate
from app.schemas.responses import ResponseAmend, ResponseCreate, ResponseRetract
from app.services import infusions, intake, patients
from app.services import responses as response_service
from app.services.infusions import NewInfusion
from app.services.patients import NewPatient
from app.services.responses import Correction
from tests.support import Api, Registry, hads, run_db

BULK = Principal(uuid.UUID(int=0), "bulk-test", "admin", None, None)
STARTED = dt.datetime(2024, 2, 1, 9, 0, tzinfo=dt.UTC)
PATIENT = {"birth_year": 1961, "sex": "male", "conditions": ["crps", "headache"],
           "enrolled_on": "2024-01-20"}  # fmt: skip
INFUSION = {"started_at": "2024-02-01T09:00:00Z", "duration_min": 90.0, "weight_kg": 80.0,
            "dose_mg_per_kg": 0.75, "co_medications": [{"name": "midazolam", "dose": 1.0,
                                                        "unit": "mg"}]}  # fmt: skip
EVENT = {"type": "nausea", "severity": "moderate", "onset_at": "2024-02-01T09:30:00Z"}
FIRST = {"instrument": "hads", "timepoint": "post_infusion",
         "collected_at": "2024-02-01T12:00:00Z", "answers": hads(1)}  # fmt: skip
AMEND = {"answers": hads(2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, None, 1), "reason": "typo"}
SKIP = {"id", "patient_id", "infusion_id", "pseudonym", "created_at", "updated_at", "site",
        "submitted_at", "submitted_by", "recorded_at", "recorded_by", "created_by"}  # fmt: skip


def _site_id(registry: Registry, code: str) -> uuid.UUID:
    async def work(session: Any) -> uuid.UUID:
        return (await session.execute(select(Site.id).where(Site.code == code))).scalar_one()

    return run_db(registry.database_url, work)  # type: ignore[no-any-return]


def _bulk_load(registry: Registry, site_code: str, pseudonym: str) -> dict[str, uuid.UUID]:
    """One patient, infusion, adverse event and response through the bulk writers."""
    site_id = _site_id(registry, site_code)
    patient = NewPatient(site_id, PatientCreate(pseudonym=pseudonym, **PATIENT))
    infusion = NewInfusion(patient.id, site_id, InfusionCreate(**INFUSION),
                           events=[AdverseEventCreate(**EVENT)])  # fmt: skip
    scored = intake.prepare(ResponseCreate(patient_id=patient.id, infusion_id=infusion.id, **FIRST))
    refs = intake.Refs({patient.id: site_id}, {infusion.id: (patient.id, STARTED)})

    async def work(session: Any) -> None:
        await patients.create_many(session, BULK, [patient])
        await infusions.create_many(session, BULK, [infusion])
        await intake.insert_scored(session, BULK, [(scored, intake.check_refs(scored, refs))])

    run_db(registry.database_url, work)
    return {"patient": patient.id, "infusion": infusion.id, "response": scored.id}


def _correct(registry: Registry, *corrections: Correction) -> None:
    async def work(session: Any) -> None:
        await response_service.correct_many(session, BULK, corrections)

    run_db(registry.database_url, work)


def _shape(body: Any) -> Any:
    """A read body without what differs between two equal records (ids, times, names)."""
    if isinstance(body, dict):
        return {k: _shape(v) for k, v in body.items() if k not in SKIP}
    if isinstance(body, list):
        return [_shape(v) for v in body]
    return body


def _one_by_one(clinic: Api) -> dict[str, str]:
    patient = clinic.make_patient(**PATIENT)
    infusion = clinic.make_infusion(patient["id"], **INFUSION)
    clinic.ok("POST", f"/v1/infusions/{infusion['id']}/adverse-events", 201, json=EVENT)
    response = clinic.make_response(patient["id"], infusion_id=infusion["id"], **FIRST)
    clinic.ok("POST", f"/v1/responses/{response['id']}/amend", json=AMEND)
    return {"patient": patient["id"], "infusion": infusion["id"], "response": response["id"]}


def _reads(clinic: Api, ids: dict[str, Any]) -> list[Any]:
    return [
        clinic.ok("GET", f"/v1/patients/{ids['patient']}"),
        clinic.ok("GET", f"/v1/patients/{ids['patient']}/infusions"),
        clinic.ok("GET", f"/v1/infusions/{ids['infusion']}"),
        clinic.ok("GET", f"/v1/responses/{ids['response']}", params={"history": "true"}),
    ]


def test_bulk_writers_store_what_the_api_stores(registry: Registry) -> None:
    clinic = registry.new_clinic()
    assert clinic.site is not None
    bulk = _bulk_load(registry, clinic.site, f"BULK-{uuid.uuid4().hex[:8]}")
    _correct(registry, Correction(bulk["response"], ResponseAmend(**AMEND)))
    api = _one_by_one(clinic)
    assert _shape(_reads(clinic, bulk)) == _shape(_reads(clinic, api))
    current = clinic.ok("GET", f"/v1/responses/{bulk['response']}")
    assert (current["version"], current["status"], current["scores"]["prorated"]) == (
        2, "amended", True,
    )  # fmt: skip


def test_corrections_apply_in_order_with_an_audit_event_each(registry: Registry) -> None:
    clinic = registry.new_clinic()
    assert clinic.site is not None
    ids = _bulk_load(registry, clinic.site, "BULK-ORDER")
    rid = ids["response"]
    _correct(registry, Correction(rid, ResponseAmend(**AMEND)),
             Correction(rid, ResponseRetract(reason="wrong patient")))  # fmt: skip
    body = clinic.ok("GET", f"/v1/responses/{rid}", params={"history": "true"})
    assert [(v["version"], v["status"]) for v in body["history"]] == [
        (1, "completed"), (2, "amended"), (3, "entered-in-error"),
    ]  # fmt: skip
    assert body["status"] == "entered-in-error"

    async def actions(session: Any) -> list[str]:
        rows = await session.scalars(select(AuditEvent.action).where(
            AuditEvent.key_prefix == BULK.prefix, AuditEvent.resource_id == str(rid)
        ).order_by(AuditEvent.id))  # fmt: skip
        return list(rows)

    assert run_db(registry.database_url, actions) == ["create", "amend", "retract"]


@pytest.mark.parametrize("problem", ["retracted", "unknown"])
def test_a_failing_correction_writes_nothing(registry: Registry, problem: str) -> None:
    clinic = registry.new_clinic()
    assert clinic.site is not None
    rid = _bulk_load(registry, clinic.site, f"BULK-{problem}")["response"]
    _correct(registry, Correction(rid, ResponseRetract(reason="duplicate")))
    amend = Correction(rid, ResponseAmend(**AMEND))
    other = Correction(uuid.uuid4(), ResponseRetract(reason="duplicate"))
    fresh = _bulk_load(registry, clinic.site, f"BULK-{problem}-2")["response"]
    first = Correction(fresh, ResponseAmend(**AMEND))
    batch, error = (
        ((first, amend), Conflict) if problem == "retracted" else ((first, other), NotFound)
    )
    with pytest.raises(error):
        _correct(registry, *batch)
    assert clinic.ok("GET", f"/v1/responses/{fresh}")["version"] == 1


def test_corrections_are_confined_to_the_callers_site(registry: Registry) -> None:
    clinic, other = registry.new_clinic(), registry.new_clinic()
    assert clinic.site is not None
    assert other.site is not None
    rid = _bulk_load(registry, clinic.site, "BULK-SCOPE")["response"]
    outsider = Principal(uuid.UUID(int=1), "outsider", "clinic",
                         _site_id(registry, other.site), other.site)  # fmt: skip

    async def work(session: Any) -> None:
        change = Correction(rid, ResponseRetract(reason="not mine"))
        await response_service.correct_many(session, outsider, [change])

    with pytest.raises(NotFound):
        run_db(registry.database_url, work)
    assert clinic.ok("GET", f"/v1/responses/{rid}")["status"] == "completed"


def test_an_adverse_event_before_its_infusion_is_refused(registry: Registry) -> None:
    site_id = _site_id(registry, registry.new_site())
    patient = NewPatient(site_id, PatientCreate(pseudonym="BULK-AE", **PATIENT))
    early = AdverseEventCreate(**{**EVENT, "onset_at": "2024-02-01T08:00:00Z"})
    infusion = NewInfusion(patient.id, site_id, InfusionCreate(**INFUSION), events=[early])

    async def work(session: Any) -> None:
        await patients.create_many(session, BULK, [patient])
        await infusions.create_many(session, BULK, [infusion])

    with pytest.raises(Exception, match="before the infusion"):
        run_db(registry.database_url, work)


def test_demo_ids_are_random_v4_uuids_ascending_by_chunk() -> None:
    chunks = [list(ascending_ids(k, 4, 200)) for k in range(4)]
    flat = [u for chunk in chunks for u in chunk]
    assert flat == sorted(flat)
    assert len(set(flat)) == len(flat)
    assert {(u.version, u.variant) for u in flat} == {(4, uuid.RFC_4122)}
    # Each chunk spans most of its quarter of the space: drawn at random within it.
    for k, chunk in enumerate(chunks):
        assert chunk[0].int >> 126 == k == chunk[-1].int >> 126
