"""CapabilityStatement and Questionnaires: valid R4, generated from the instrument modules."""

from __future__ import annotations

import pytest

from app.instruments import INSTRUMENTS
from tests.fhir.support import BASE, FHIR_JSON, fhir_body, outcome
from tests.support import Api, Registry


def test_metadata_is_an_r4_capability_statement(analyst: Api) -> None:
    body = fhir_body(analyst.get("/fhir/metadata"), 200)
    assert body["fhirVersion"] == "4.0.1"
    (rest,) = body["rest"]
    resources = {r["type"]: r for r in rest["resource"]}
    qr = resources["QuestionnaireResponse"]
    assert {i["code"] for i in qr["interaction"]} == {"read", "vread", "create", "search-type"}
    assert {p["name"] for p in qr["searchParam"]} == {
        "subject", "patient", "questionnaire", "authored", "status",
    }  # fmt: skip
    assert body["implementation"]["url"].endswith("/fhir")


@pytest.mark.parametrize("instrument_id", sorted(INSTRUMENTS))
def test_questionnaire_mirrors_the_instrument_module(analyst: Api, instrument_id: str) -> None:
    response = analyst.get(f"/fhir/Questionnaire/{instrument_id}")
    body = fhir_body(response, 200)
    instrument = INSTRUMENTS[instrument_id]
    assert body["url"] == f"{BASE}/Questionnaire/{instrument_id}"
    assert body["version"] == instrument.scoring_version
    assert response.headers["etag"] == f'W/"{instrument.scoring_version}"'
    assert body["code"] == [instrument.code.as_dict()]
    assert [i["linkId"] for i in body["item"]] == [i.key for i in instrument.items]
    for served, item in zip(body["item"], instrument.items, strict=True):
        assert served["required"] is item.required
        assert served["text"] == item.label
        if item.kind == "integer":
            bounds = {e["url"].rsplit("/", 1)[-1]: e["valueInteger"] for e in served["extension"]
                      if "valueInteger" in e}  # fmt: skip
            assert bounds == {"minValue": item.minimum, "maxValue": item.maximum}
        else:
            codes = [o["valueCoding"]["code"] for o in served["answerOption"]]
            assert codes == list(item.choices or ())


def test_nrs_carries_loinc_question_and_answer_list(analyst: Api) -> None:
    body = fhir_body(analyst.get("/fhir/Questionnaire/nrs-pain"), 200)
    (score,) = [i for i in body["item"] if i["linkId"] == "score"]
    assert score["code"][0] == {
        "system": "http://loinc.org",
        "code": "72514-3",
        "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
    }
    (answer_list,) = [e for e in score["extension"] if e["url"].endswith("/answer-list")]
    assert answer_list["valueCoding"]["code"] == "LL2335-9"


def test_hads_has_snomed_code_and_neutral_labels_only(analyst: Api) -> None:
    body = fhir_body(analyst.get("/fhir/Questionnaire/hads"), 200)
    assert body["code"][0]["system"] == "http://snomed.info/sct"
    assert body["code"][0]["code"] == "273524006"
    for number, item in enumerate(body["item"], start=1):
        subscale = "anxiety" if number % 2 else "depression"
        assert item["text"] == f"HADS item {number} ({subscale})"
    assert "copyright" in body


def test_questionnaire_search_lists_every_instrument(clinic: Api) -> None:
    body = fhir_body(clinic.get("/fhir/Questionnaire"), 200)
    assert body["type"] == "searchset"
    assert body["total"] == len(INSTRUMENTS)
    hads_only = clinic.get("/fhir/Questionnaire", params={"url": f"{BASE}/Questionnaire/hads"})
    one = fhir_body(hads_only, 200)
    assert [e["resource"]["id"] for e in one["entry"]] == ["hads"]


def test_unknown_questionnaire_is_404_operation_outcome(analyst: Api) -> None:
    (issue,) = outcome(analyst.get("/fhir/Questionnaire/phq-9"), 404)
    assert issue["code"] == "not-found"


def test_unknown_fhir_path_is_404_operation_outcome(analyst: Api) -> None:
    (issue,) = outcome(analyst.get("/fhir/Patient/123"), 404)
    assert issue["code"] == "not-found"


def test_missing_key_is_401_operation_outcome(registry: Registry) -> None:
    response = registry.client.get("/fhir/metadata")
    (issue,) = outcome(response, 401)
    assert issue["code"] == "login"
    assert response.headers["www-authenticate"] == "Bearer"


def test_analyst_cannot_read_rows_403(analyst: Api) -> None:
    (issue,) = outcome(analyst.get("/fhir/QuestionnaireResponse"), 403)
    assert issue["code"] == "forbidden"


def test_native_errors_stay_problem_json(analyst: Api) -> None:
    response = analyst.get("/v1/instruments/phq-9")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert FHIR_JSON not in response.headers["content-type"]


@pytest.mark.parametrize("instrument_id", sorted(INSTRUMENTS))
def test_questionnaire_r4_invariants(analyst: Api, instrument_id: str) -> None:
    """Constraints the R4B models do not check: que-2 (unique linkIds), que-4/que-11."""
    body = fhir_body(analyst.get(f"/fhir/Questionnaire/{instrument_id}"), 200)
    links = [item["linkId"] for item in body["item"]]
    assert len(links) == len(set(links))
    for item in body["item"]:
        assert not ("answerOption" in item and "initial" in item)
        assert not ("answerOption" in item and "answerValueSet" in item)
        defaults = [o for o in item.get("answerOption", []) if o.get("initialSelected")]
        native = next(i for i in INSTRUMENTS[instrument_id].items if i.key == item["linkId"])
        if native.kind == "choice" and native.default is not None:
            assert [o["valueCoding"]["code"] for o in defaults] == [native.default]
