"""POST /fhir/QuestionnaireResponse: the native intake path behind a FHIR door."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent
from tests.fhir.support import (
    EXT,
    HADS_URL,
    NRS_URL,
    aware,
    build_qr,
    fhir_body,
    new_key,
    outcome,
    post_qr,
    scores_of,
)
from tests.support import Api, hads, run_db

HADS_CASES = [
    hads(0, 1, 2, 3, 1, 2, 3, 0, 2, 2, 1, 3, 0, 1),
    hads(3),
    hads(1, 2, None, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2),  # one anxiety item missing: prorated
    hads(None, None, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2),  # anxiety incomplete
]


@pytest.mark.parametrize("answers", HADS_CASES)
def test_hads_from_fhir_scores_like_native(clinic: Api, answers: dict[str, Any]) -> None:
    patient = clinic.make_patient()
    native = clinic.make_response(patient["id"], instrument="hads", answers=answers)
    resource = build_qr(patient["id"], answers)
    response = post_qr(clinic, resource)
    created = fhir_body(response, 201)
    stored = clinic.ok("GET", f"/v1/responses/{created['id']}")
    assert stored["scores"] == native["scores"]
    assert stored["answers"] == native["answers"]
    assert stored["scoring_version"] == native["scoring_version"]
    served = scores_of(created)
    assert served.pop("scoringVersion") == native["scoring_version"]
    assert served == {k: v for k, v in native["scores"].items() if v is not None}


def test_created_resource_headers_and_both_faces(clinic: Api) -> None:
    patient = clinic.make_patient()
    infusion = clinic.make_infusion(patient["id"])
    resource = build_qr(
        patient["id"], {"score": 7, "recall": "24h"}, questionnaire=NRS_URL,
        timepoint="post_infusion", infusion_id=infusion["id"], visit="M1",
        authored="2024-02-01T11:30:00+02:00",
    )  # fmt: skip
    response = post_qr(clinic, resource)
    created = fhir_body(response, 201)
    assert response.headers["location"] == f"/fhir/QuestionnaireResponse/{created['id']}/_history/1"
    assert response.headers["etag"] == 'W/"1"'
    assert created["status"] == "completed"
    assert created["questionnaire"] == f"{NRS_URL}|nrs-pain/1"
    assert aware(created["authored"]) == dt.datetime(2024, 2, 1, 9, 30, tzinfo=dt.UTC)

    native = clinic.ok("GET", f"/v1/responses/{created['id']}")
    assert native["patient_id"] == patient["id"]
    assert native["infusion_id"] == infusion["id"]
    assert (native["timepoint"], native["visit"]) == ("post_infusion", "M1")
    assert native["answers"] == {"score": 7, "recall": "24h"}
    assert native["scores"] == {"pain": 7}
    assert aware(native["collected_at"]) == aware(created["authored"])

    read = clinic.get(f"/fhir/QuestionnaireResponse/{created['id']}")
    assert fhir_body(read, 200) == created
    assert read.headers["etag"] == 'W/"1"'
    extensions = {e["url"]: e for e in created["extension"]}
    assert extensions[f"{EXT}/infusion"]["valueId"] == infusion["id"]
    assert extensions[f"{EXT}/timepoint"]["valueCode"] == "post_infusion"


def test_plain_json_and_versioned_canonical_accepted(clinic: Api) -> None:
    patient = clinic.make_patient()
    resource = build_qr(patient["id"], {"score": 3}, questionnaire=f"{NRS_URL}|nrs-pain/1")
    response = clinic.post("/fhir/QuestionnaireResponse", json=resource)
    created = fhir_body(response, 201)
    recall = [i for i in created["item"] if i["linkId"] == "recall"]
    assert recall[0]["answer"][0]["valueCoding"]["code"] == "now"  # the native default


def test_recall_as_value_string(clinic: Api) -> None:
    patient = clinic.make_patient()
    resource = build_qr(patient["id"], {"score": 3}, questionnaire=NRS_URL)
    resource["item"].append({"linkId": "recall", "answer": [{"valueString": "7d"}]})
    created = fhir_body(post_qr(clinic, resource), 201)
    assert clinic.ok("GET", f"/v1/responses/{created['id']}")["answers"]["recall"] == "7d"


def test_amend_and_retract_show_in_status_and_history(clinic: Api) -> None:
    patient = clinic.make_patient()
    created = fhir_body(post_qr(clinic, build_qr(patient["id"], hads(1))), 201)
    path = f"/v1/responses/{created['id']}"
    clinic.ok("POST", f"{path}/amend", json={"answers": hads(2), "reason": "typo"})
    amended = fhir_body(clinic.get(f"/fhir/QuestionnaireResponse/{created['id']}"), 200)
    assert (amended["status"], amended["meta"]["versionId"]) == ("amended", "2")
    assert scores_of(amended)["hads_anxiety"] == 14
    clinic.ok("POST", f"{path}/retract", json={"reason": "wrong patient"})
    retracted = clinic.get(f"/fhir/QuestionnaireResponse/{created['id']}")
    assert fhir_body(retracted, 200)["status"] == "entered-in-error"
    assert retracted.headers["etag"] == 'W/"3"'
    first = fhir_body(clinic.get(f"/fhir/QuestionnaireResponse/{created['id']}/_history/1"), 200)
    assert first == created
    outcome(clinic.get(f"/fhir/QuestionnaireResponse/{created['id']}/_history/9"), 404)


def test_idempotent_replay(clinic: Api) -> None:
    patient = clinic.make_patient()
    resource = build_qr(patient["id"], hads(2))
    key = new_key()
    first = post_qr(clinic, resource, **{"Idempotency-Key": key})
    again = post_qr(clinic, resource, **{"Idempotency-Key": key})
    assert fhir_body(again, 201) == fhir_body(first, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    listed = clinic.ok("GET", f"/v1/patients/{patient['id']}/responses")
    assert len(listed["items"]) == 1
    other = post_qr(clinic, build_qr(patient["id"], hads(1)), **{"Idempotency-Key": key})
    (issue,) = outcome(other, 422)
    assert "Idempotency-Key" in issue["diagnostics"]


def test_other_sites_patient_is_404_and_writes_nothing(clinic: Api, other_clinic: Api) -> None:
    patient = other_clinic.make_patient()
    (issue,) = outcome(post_qr(clinic, build_qr(patient["id"], hads(1))), 404)
    assert issue["expression"] == ["QuestionnaireResponse.subject"]
    assert other_clinic.ok("GET", f"/v1/patients/{patient['id']}/responses")["items"] == []


def test_other_sites_response_is_404(clinic: Api, other_clinic: Api) -> None:
    patient = clinic.make_patient()
    created = fhir_body(post_qr(clinic, build_qr(patient["id"], hads(1))), 201)
    for path in (created["id"], f"{created['id']}/_history/1"):
        (issue,) = outcome(other_clinic.get(f"/fhir/QuestionnaireResponse/{path}"), 404)
        assert issue["code"] == "not-found"
    outcome(clinic.get("/fhir/QuestionnaireResponse/not-a-uuid"), 404)


def test_admin_may_submit_for_any_site(admin: Api, clinic: Api) -> None:
    patient = clinic.make_patient()
    created = fhir_body(post_qr(admin, build_qr(patient["id"], hads(0))), 201)
    assert fhir_body(clinic.get(f"/fhir/QuestionnaireResponse/{created['id']}"), 200)["id"]


def test_analyst_cannot_submit(analyst: Api, clinic: Api) -> None:
    patient = clinic.make_patient()
    outcome(post_qr(analyst, build_qr(patient["id"], hads(0))), 403)
    assert clinic.ok("GET", f"/v1/patients/{patient['id']}/responses")["items"] == []


def test_hads_url_is_the_served_questionnaires(clinic: Api) -> None:
    served = fhir_body(clinic.get("/fhir/Questionnaire/hads"), 200)
    assert served["url"] == HADS_URL


def test_a_served_resource_can_be_sent_back(clinic: Api) -> None:
    """What an integrator reads (server-computed scores included) is valid input again."""
    patient = clinic.make_patient()
    first = fhir_body(post_qr(clinic, build_qr(patient["id"], hads(2, None, *[1] * 12))), 201)
    again = {k: v for k, v in first.items() if k not in ("id", "meta")}
    second = fhir_body(post_qr(clinic, again), 201)
    assert second["id"] != first["id"]
    assert scores_of(second) == scores_of(first)
    assert second["item"] == first["item"]


def test_answers_conform_to_the_served_questionnaire(clinic: Api) -> None:
    patient = clinic.make_patient()
    created = fhir_body(
        post_qr(clinic, build_qr(patient["id"], {"score": 4}, questionnaire=NRS_URL)), 201
    )
    served = fhir_body(clinic.get("/fhir/Questionnaire/nrs-pain"), 200)
    assert created["questionnaire"] == f"{served['url']}|{served['version']}"
    items = {i["linkId"]: i for i in served["item"]}
    for entry in created["item"]:
        item = items[entry["linkId"]]
        (answer,) = entry["answer"]
        if item["type"] == "integer":
            assert set(answer) == {"valueInteger"}
        else:
            assert answer["valueCoding"] in [o["valueCoding"] for o in item["answerOption"]]


def test_fhir_writes_and_reads_are_audited(clinic: Api, database_url: str) -> None:
    patient = clinic.make_patient()
    created = fhir_body(post_qr(clinic, build_qr(patient["id"], hads(1))), 201)
    fhir_body(clinic.get(f"/fhir/QuestionnaireResponse/{created['id']}"), 200)

    async def work(session: AsyncSession) -> list[tuple[str, str, int]]:
        rows = await session.execute(
            select(AuditEvent.action, AuditEvent.resource, AuditEvent.outcome).where(
                AuditEvent.resource_id == created["id"]
            )
        )
        return [tuple(r) for r in rows]

    events = run_db(database_url, work)
    assert events.count(("create", "response", 201)) == 1
    assert events.count(("read", "response", 200)) == 1
