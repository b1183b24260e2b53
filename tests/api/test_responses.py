"""Responses: scoring through the API, time rules, rejections, amendments and retractions."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Api, hads, response_body


def _count(api: Api, patient_id: str) -> int:
    return len(
        api.ok("GET", f"/v1/patients/{patient_id}/responses", params={"limit": 500})["items"]
    )


def test_nrs_scored(clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    r = clinic.make_response(pid, answers={"score": 7, "recall": "24h"})
    assert r["scores"] == {"pain": 7}
    assert r["scoring_version"] == "nrs-pain/1"
    assert r["status"] == "completed"
    assert r["version"] == 1
    assert r["submitted_by"] == clinic.token[:12]


def test_hads_scored_with_prorating(clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    answers = hads(3, 1, 3, 1, 3, 1, 3, 1, 3, 1, 2, 1, 2, None)
    r = clinic.make_response(pid, instrument="hads", answers=answers)
    s = r["scores"]
    assert s["hads_anxiety"] == 19
    assert s["hads_anxiety_band"] == "abnormal"
    assert s["hads_depression"] == pytest.approx(7.0)
    assert s["prorated"] is True
    assert s["complete"] is True
    two_missing = clinic.make_response(
        pid, instrument="hads", answers=hads(1, None, 1, None, *[1] * 10)
    )
    assert two_missing["scores"]["hads_depression"] is None
    assert two_missing["scores"]["complete"] is False


BAD_ANSWERS: list[tuple[str, Any]] = [
    ("nrs-pain", {"score": "7"}),
    ("nrs-pain", {"score": True}),
    ("nrs-pain", {"score": 5.5}),
    ("nrs-pain", {"score": 11}),
    ("nrs-pain", {"score": -1}),
    ("nrs-pain", {"score": 5, "mood": 3}),
    ("nrs-pain", {}),
    ("nrs-pain", {"score": 5, "recall": "1y"}),
    ("hads", {**hads(1), "hads_15": 1}),
    ("hads", {**hads(1), "hads_3": 4}),
    ("hads", {**hads(1), "hads_3": 2.0}),
    ("phq-9", {"score": 1}),
]


@pytest.mark.parametrize(("instrument", "answers"), BAD_ANSWERS)
def test_bad_answers_rejected_and_nothing_written(
    clinic: Api, instrument: str, answers: Any
) -> None:
    pid = clinic.make_patient()["id"]
    r = clinic.post("/v1/responses", response_body(pid, instrument=instrument, answers=answers))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert all({"loc", "msg"} <= e.keys() for e in r.json()["errors"])
    assert _count(clinic, pid) == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"timepoint": "pre_infusion"},  # infusion required
        {"timepoint": "during"},
        {"collected_at": "2024-01-15T10:00:00"},  # naive
        {"collected_at": "2999-01-01T00:00:00Z"},  # future
        {"visit": "month 3!"},
        {"score": 3},  # unknown top-level field
        {"answers": [1, 2]},
    ],
)
def test_bad_submissions_rejected(clinic: Api, overrides: dict[str, Any]) -> None:
    pid = clinic.make_patient()["id"]
    r = clinic.post("/v1/responses", response_body(pid, **overrides))
    assert r.status_code == 422, r.text
    assert _count(clinic, pid) == 0


def test_post_infusion_time_rule(clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    inf = clinic.make_infusion(pid, started_at="2024-02-01T09:00:00Z")
    body = response_body(pid, infusion_id=inf["id"], timepoint="post_infusion")
    early = clinic.post("/v1/responses", {**body, "collected_at": "2024-02-01T08:59:00Z"})
    assert early.status_code == 422
    late = clinic.post("/v1/responses", {**body, "collected_at": "2024-02-01T11:00:00+02:00"})
    assert late.status_code == 201
    assert late.json()["collected_at"] == "2024-02-01T09:00:00Z"


def test_infusion_must_belong_to_patient(clinic: Api) -> None:
    a, b = clinic.make_patient()["id"], clinic.make_patient()["id"]
    inf = clinic.make_infusion(a)
    r = clinic.post(
        "/v1/responses", response_body(b, infusion_id=inf["id"], timepoint="pre_infusion")
    )
    assert r.status_code == 422
    assert _count(clinic, b) == 0


def test_amend_and_retract_keep_history(clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    rid = clinic.make_response(pid, answers={"score": 8})["id"]
    amended = clinic.ok("POST", f"/v1/responses/{rid}/amend",
                        json={"answers": {"score": 3}, "reason": "typo"})  # fmt: skip
    assert (amended["id"], amended["version"], amended["status"]) == (rid, 2, "amended")
    assert amended["scores"] == {"pain": 3}
    retracted = clinic.ok("POST", f"/v1/responses/{rid}/retract", json={"reason": "wrong patient"})
    assert (retracted["version"], retracted["status"]) == (3, "entered-in-error")
    full = clinic.ok("GET", f"/v1/responses/{rid}")
    assert [(v["version"], v["status"], v["scores"]) for v in full["history"]] == [
        (1, "completed", {"pain": 8}),
        (2, "amended", {"pain": 3}),
        (3, "entered-in-error", {"pain": 3}),
    ]
    assert [v["reason"] for v in full["history"]] == [None, "typo", "wrong patient"]
    again = clinic.post(f"/v1/responses/{rid}/amend", {"answers": {"score": 1}, "reason": "x"})
    assert again.status_code == 409
    assert clinic.post(f"/v1/responses/{rid}/retract", {"reason": "x"}).status_code == 409


def test_amend_validation(clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    rid = clinic.make_response(pid)["id"]
    url = f"/v1/responses/{rid}/amend"
    assert clinic.post(url, {"answers": {"score": 3}}).status_code == 422  # no reason
    assert clinic.post(url, {"answers": {"score": 30}, "reason": "x"}).status_code == 422
    assert (
        clinic.post(url, {"answers": {"score": 3}, "reason": "x", "status": "x"}).status_code == 422
    )
    assert clinic.ok("GET", f"/v1/responses/{rid}")["version"] == 1


def test_idempotent_submission(clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    body = response_body(pid)
    key = {"Idempotency-Key": "visit-42"}
    first = clinic.post("/v1/responses", body, headers=key)
    replay = clinic.post("/v1/responses", body, headers=key)
    assert first.status_code == replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert replay.headers["location"] == first.headers["location"]
    other = clinic.post("/v1/responses", {**body, "answers": {"score": 1}}, headers=key)
    assert other.status_code == 422
    assert _count(clinic, pid) == 1


def test_batch_reports_per_item(clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    items = [
        response_body(pid, answers={"score": 2}),
        response_body(pid, answers={"score": 20}),
        {"nonsense": True},
        response_body("00000000-0000-0000-0000-000000000000"),
        {**response_body(pid, answers={"score": 4}), "idempotency_key": "b-1"},
    ]
    result = clinic.ok("POST", "/v1/responses/batch", json={"items": items})
    assert [i["status"] for i in result["items"]] == [201, 422, 422, 404, 201]
    assert (result["created"], result["failed"]) == (2, 3)
    assert result["items"][1]["error"]["errors"][0]["loc"] == ["body", "answers", "score"]
    assert _count(clinic, pid) == 2
    again = clinic.ok("POST", "/v1/responses/batch", json={"items": items[4:]})
    assert again["items"][0]["replayed"] is True
    assert again["items"][0]["id"] == result["items"][4]["id"]
    assert _count(clinic, pid) == 2


def test_batch_limits(clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    assert clinic.post("/v1/responses/batch", {"items": []}).status_code == 422
    big = {"items": [response_body(pid)] * 1001}
    assert clinic.post("/v1/responses/batch", big).status_code == 422
    assert _count(clinic, pid) == 0
