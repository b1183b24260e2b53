"""Infusions: server-assigned numbers, dose derivation, adverse events."""

from __future__ import annotations

import pytest

from tests.support import Api


def test_numbers_follow_start_time_and_renumber(clinic: Api) -> None:
    patient = clinic.make_patient()
    pid = patient["id"]
    second = clinic.make_infusion(pid, started_at="2024-03-01T09:00:00Z")
    assert second["number"] == 1
    first = clinic.make_infusion(pid, started_at="2024-02-01T09:00:00+02:00")
    assert first["number"] == 1
    assert first["started_at"] == "2024-02-01T07:00:00Z"
    listed = clinic.ok("GET", f"/v1/patients/{pid}/infusions")["items"]
    assert [(i["id"], i["number"]) for i in listed] == [(first["id"], 1), (second["id"], 2)]
    assert clinic.ok("GET", f"/v1/infusions/{second['id']}")["number"] == 2


def test_dose_derivation(clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    a = clinic.make_infusion(pid, weight_kg=80, dose_mg_per_kg=0.5)
    assert a["dose_mg"] == pytest.approx(40)
    b = clinic.make_infusion(pid, weight_kg=80, dose_mg=20, dose_mg_per_kg=None)
    assert b["dose_mg_per_kg"] == pytest.approx(0.25)
    c = clinic.make_infusion(pid, weight_kg=None, dose_mg=20, dose_mg_per_kg=None)
    assert c["dose_mg_per_kg"] is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"dose_mg_per_kg": None},  # no dose at all
        {"weight_kg": 80, "dose_mg": 90, "dose_mg_per_kg": 0.5},  # inconsistent
        {"started_at": "2024-02-01T09:00:00"},  # naive
        {"started_at": "2999-01-01T00:00:00Z"},  # future
        {"duration_min": -5},
        {"co_medications": [{"name": "Midazolam!", "dose": 1, "unit": "mg"}]},
        {"co_medications": [{"name": "midazolam", "dose": 1}]},
        {"number": 3},  # server-assigned
    ],
)
def test_bad_infusions_rejected(clinic: Api, overrides: dict[str, object]) -> None:
    pid = clinic.make_patient()["id"]
    body = {"started_at": "2024-02-01T09:00:00Z", "weight_kg": 70, "dose_mg_per_kg": 0.5}
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not None}
    r = clinic.post(f"/v1/patients/{pid}/infusions", body)
    assert r.status_code == 422, r.text
    assert clinic.ok("GET", f"/v1/patients/{pid}/infusions")["items"] == []


def test_adverse_events(clinic: Api) -> None:
    pid = clinic.make_patient()["id"]
    inf = clinic.make_infusion(pid, started_at="2024-02-01T09:00:00Z")
    url = f"/v1/infusions/{inf['id']}/adverse-events"
    ae = clinic.ok("POST", url, 201, json={"type": "nausea", "severity": "mild",
                                            "onset_at": "2024-02-01T10:00:00Z"})  # fmt: skip
    assert ae["infusion_id"] == inf["id"]
    early = clinic.post(
        url, {"type": "nausea", "severity": "mild", "onset_at": "2024-01-01T10:00:00Z"}
    )
    assert early.status_code == 422
    assert clinic.post(url, {"type": "rash", "severity": "mild"}).status_code == 422
    assert clinic.post(url, {"type": "fatigue", "severity": "extreme"}).status_code == 422
    read = clinic.ok("GET", f"/v1/infusions/{inf['id']}")
    assert [e["id"] for e in read["adverse_events"]] == [ae["id"]]
