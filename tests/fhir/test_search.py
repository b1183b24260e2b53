"""GET /fhir/QuestionnaireResponse: searchset Bundles, filters, paging and site scoping."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from tests.fhir.support import HADS_URL, NRS_URL, aware, build_qr, fhir_body, post_qr
from tests.support import Api, hads

START = dt.datetime(2024, 3, 1, 8, 0, tzinfo=dt.UTC)


def _seed(api: Api, patient_id: str, n: int) -> list[dict[str, Any]]:
    """n responses a day apart, alternating HADS and NRS."""
    created = []
    for i in range(n):
        when = (START + dt.timedelta(days=i)).isoformat()
        resource = (
            build_qr(patient_id, hads(i % 4), authored=when)
            if i % 2 == 0
            else build_qr(patient_id, {"score": i % 11}, questionnaire=NRS_URL, authored=when)
        )
        created.append(fhir_body(post_qr(api, resource), 201))
    return created


def _search(api: Api, **params: Any) -> dict[str, Any]:
    return fhir_body(api.get("/fhir/QuestionnaireResponse", params=params), 200)


def _ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


@pytest.mark.parametrize("count", [1, 3, 7, 8])
def test_paging_visits_every_row_once(clinic: Api, count: int) -> None:
    patient = clinic.make_patient()
    created = _seed(clinic, patient["id"], 7)
    bundle = _search(clinic, subject=f"Patient/{patient['id']}", _count=count)
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        assert bundle["type"] == "searchset"
        assert bundle["total"] == len(created)
        assert len(bundle.get("entry", [])) <= count
        seen += _ids(bundle)
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        if "next" not in links:
            break
        bundle = fhir_body(clinic.get(links["next"]), 200)
    assert sorted(seen) == sorted(r["id"] for r in created)
    assert len(seen) == len(set(seen))
    assert pages == -(-len(created) // count)  # no trailing empty page


def test_entries_match_reads_and_have_full_urls(clinic: Api) -> None:
    patient = clinic.make_patient()
    (created,) = _seed(clinic, patient["id"], 1)
    bundle = _search(clinic, patient=patient["id"])
    (entry,) = bundle["entry"]
    assert entry["resource"] == created
    assert entry["search"] == {"mode": "match"}
    assert entry["fullUrl"].startswith("http")
    assert entry["fullUrl"].endswith(f"/fhir/QuestionnaireResponse/{created['id']}")


def test_filters_by_questionnaire_and_authored(clinic: Api) -> None:
    patient = clinic.make_patient()
    created = _seed(clinic, patient["id"], 6)
    subject = f"Patient/{patient['id']}"

    def expected(keep: Any) -> list[str]:
        return sorted(r["id"] for r in created if keep(r))

    hads_only = _search(clinic, subject=subject, questionnaire=HADS_URL)
    assert sorted(_ids(hads_only)) == expected(lambda r: r["questionnaire"].startswith(HADS_URL))
    assert hads_only["total"] == 3
    versioned = _search(clinic, subject=subject, questionnaire=f"{NRS_URL}|nrs-pain/1")
    assert sorted(_ids(versioned)) == expected(lambda r: r["questionnaire"].startswith(NRS_URL))

    lo, hi = START + dt.timedelta(days=1), START + dt.timedelta(days=3)
    window = clinic.get(
        "/fhir/QuestionnaireResponse",
        params=[("subject", subject), ("authored", f"ge{lo.isoformat()}"),
                ("authored", f"le{hi.date().isoformat()}")],
    )  # fmt: skip
    end = dt.datetime.combine(hi.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    in_window = expected(lambda r: lo <= aware(r["authored"]) < end)  # `le` a day: to its end
    assert len(in_window) == 3
    assert sorted(_ids(fhir_body(window, 200))) == in_window
    day = _search(clinic, subject=subject, authored=START.date().isoformat())
    assert _ids(day) == [created[0]["id"]]
    month = _search(clinic, subject=subject, authored="2024-03")
    assert month["total"] == 6
    assert _search(clinic, subject=subject, authored="lt2024")["total"] == 0


def test_status_reflects_amend_and_retract(clinic: Api) -> None:
    patient = clinic.make_patient()
    a, b, c = _seed(clinic, patient["id"], 3)
    clinic.ok(
        "POST", f"/v1/responses/{b['id']}/amend", json={"answers": {"score": 1}, "reason": "x"}
    )
    clinic.ok("POST", f"/v1/responses/{c['id']}/retract", json={"reason": "duplicate"})
    subject = f"Patient/{patient['id']}"
    assert _ids(_search(clinic, subject=subject, status="completed")) == [a["id"]]
    assert _ids(_search(clinic, subject=subject, status="amended")) == [b["id"]]
    retracted = _search(clinic, subject=subject, status="entered-in-error")
    assert [e["resource"]["status"] for e in retracted["entry"]] == ["entered-in-error"]
    both = _search(clinic, subject=subject, status="completed,amended")
    assert sorted(_ids(both)) == sorted([a["id"], b["id"]])


def test_other_sites_rows_are_invisible(clinic: Api, other_clinic: Api) -> None:
    patient = clinic.make_patient()
    _seed(clinic, patient["id"], 2)
    assert _search(other_clinic, subject=f"Patient/{patient['id']}")["total"] == 0
    assert _search(other_clinic)["total"] == 0
    assert _search(clinic)["total"] == 2


def test_count_zero_gives_total_only(clinic: Api) -> None:
    patient = clinic.make_patient()
    _seed(clinic, patient["id"], 3)
    bundle = _search(clinic, subject=f"Patient/{patient['id']}", _count=0)
    assert bundle["total"] == 3
    assert "entry" not in bundle


def test_unknown_values_match_nothing(clinic: Api) -> None:
    patient = clinic.make_patient()
    _seed(clinic, patient["id"], 1)
    assert _search(clinic, subject=f"Patient/{uuid.uuid4()}")["total"] == 0
    assert (
        _search(clinic, patient=patient["id"], questionnaire="http://x/Questionnaire/y")["total"]
        == 0
    )
    assert _search(clinic, patient=patient["id"], unknown_param="1")["total"] == 1


def test_malformed_references_are_refused(clinic: Api) -> None:
    for params in ({"subject": "1.5e16"}, {"subject": "Group/x"}, {"patient": "not-an-id"}):
        r = clinic.get("/fhir/QuestionnaireResponse", params=params)
        assert r.status_code == 422, params
        assert r.json()["resourceType"] == "OperationOutcome"
