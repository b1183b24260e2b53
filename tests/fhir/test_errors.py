"""Bad FHIR input: 422 OperationOutcome pointing at the element, and nothing stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from tests.fhir.support import EXT, FHIR_JSON, HADS_URL, NRS_URL, build_qr, outcome, post_qr
from tests.support import Api, hads

QR = "QuestionnaireResponse"
Edit = Callable[[dict[str, Any]], Any]


def _set(key: str, value: Any) -> Edit:
    return lambda r: r.update({key: value})


def _drop(key: str) -> Edit:
    return lambda r: r.pop(key)


def _answer(index: int, answer: Any) -> Edit:
    return lambda r: r["item"][index].update({"answer": answer})


def _extensions(value: Any) -> Edit:
    return lambda r: r.update({"extension": value})


FUTURE = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
# (case, edit of a valid HADS response, expected FHIRPath of one issue)
CASES: list[tuple[str, Edit, str]] = [
    ("unknown questionnaire", _set("questionnaire", f"{NRS_URL}x"), f"{QR}.questionnaire"),
    ("foreign questionnaire", _set("questionnaire", "http://loinc.org/q/1"), f"{QR}.questionnaire"),
    ("old version", _set("questionnaire", f"{HADS_URL}|hads/0"), f"{QR}.questionnaire"),
    ("no questionnaire", _drop("questionnaire"), f"{QR}.questionnaire"),
    ("string points", _answer(0, [{"valueString": "2"}]), f"{QR}.item[0].answer[0]"),
    ("decimal points", _answer(0, [{"valueDecimal": 2.0}]), f"{QR}.item[0].answer[0]"),
    ("boolean points", _answer(0, [{"valueInteger": True}]), f"{QR}.item[0]"),
    ("out of range", _answer(2, [{"valueInteger": 4}]), f"{QR}.item[2]"),
    ("negative", _answer(3, [{"valueInteger": -1}]), f"{QR}.item[3]"),
    ("two answers", _answer(0, [{"valueInteger": 1}, {"valueInteger": 2}]), f"{QR}.item[0].answer"),
    ("unknown linkId", lambda r: r["item"].append({"linkId": "hads_15"}), f"{QR}.item[14]"),
    ("repeated linkId", lambda r: r["item"].append(r["item"][0]), f"{QR}.item[14]"),
    ("no linkId", lambda r: r["item"].append({"answer": []}), f"{QR}.item[14]"),
    ("nested item", lambda r: r["item"][1].update({"item": [{"linkId": "x"}]}),
     f"{QR}.item[1].item"),
    ("no authored", _drop("authored"), f"{QR}.authored"),
    ("naive authored", _set("authored", "2024-01-15T10:00:00"), f"{QR}.authored"),
    ("date-only authored", _set("authored", "2024-01-15"), f"{QR}.authored"),
    ("future authored", _set("authored", FUTURE), f"{QR}.authored"),
    ("numeric authored", _set("authored", 1700000000), f"{QR}.authored"),
    ("no status", _drop("status"), f"{QR}.status"),
    ("in progress", _set("status", "in-progress"), f"{QR}.status"),
    ("amended on create", _set("status", "amended"), f"{QR}.status"),
    ("no subject", _drop("subject"), f"{QR}.subject"),
    ("group subject", _set("subject", {"reference": "Group/1"}), f"{QR}.subject.reference"),
    ("subject not a uuid", _set("subject", {"reference": "Patient/7"}), f"{QR}.subject"),
    ("unknown element", _set("score", 3), f"{QR}.score"),
    ("modifier extension", _set("modifierExtension", [{"url": "x", "valueBoolean": True}]),
     f"{QR}.modifierExtension"),
    ("no timepoint", _extensions([]), f"{QR}.extension('{EXT}/timepoint')"),
    ("bad timepoint", _extensions([{"url": f"{EXT}/timepoint", "valueCode": "later"}]),
     f"{QR}.extension('{EXT}/timepoint')"),
    ("timepoint twice", _extensions([{"url": f"{EXT}/timepoint", "valueCode": "baseline"}] * 2),
     f"{QR}.extension[1]"),
    ("pre_infusion without infusion",
     _extensions([{"url": f"{EXT}/timepoint", "valueCode": "pre_infusion"}]),
     f"{QR}.extension('{EXT}/infusion')"),
    ("unknown infusion", _extensions([{"url": f"{EXT}/timepoint", "valueCode": "pre_infusion"},
                                      {"url": f"{EXT}/infusion", "valueId": "7"}]),
     f"{QR}.extension('{EXT}/infusion')"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "edit", "expression"), CASES, ids=[c[0] for c in CASES])
def test_bad_resource_is_422_and_writes_nothing(
    clinic: Api, case: str, edit: Edit, expression: str
) -> None:
    patient = clinic.make_patient()
    resource = build_qr(patient["id"], hads(1))
    edit(resource)
    issues = outcome(post_qr(clinic, resource), 422)
    assert expression in [e for issue in issues for e in issue.get("expression", [])], issues
    assert all(issue["severity"] == "error" and issue["diagnostics"] for issue in issues)
    assert clinic.ok("GET", f"/v1/patients/{patient['id']}/responses")["items"] == []


def test_every_problem_is_reported_at_once(clinic: Api) -> None:
    patient = clinic.make_patient()
    resource = build_qr(patient["id"], hads(1))
    del resource["authored"]
    resource["status"] = "in-progress"
    resource["item"][0]["answer"] = [{"valueString": "x"}]
    resource["item"][2]["answer"] = [{"valueInteger": 7}]
    resource["subject"] = {"reference": "Patient/7"}
    issues = outcome(post_qr(clinic, resource), 422)
    expressions = [e for issue in issues for e in issue["expression"]]
    assert sorted(expressions) == sorted([
        f"{QR}.authored", f"{QR}.status", f"{QR}.item[0].answer[0]", f"{QR}.item[2]",
        f"{QR}.subject",
    ])  # one issue per element, however many checks it failed  # fmt: skip


def test_naive_authored_and_range_reported_together(clinic: Api) -> None:
    patient = clinic.make_patient()
    resource = build_qr(patient["id"], {"score": 11}, questionnaire=NRS_URL)
    resource["authored"] = "2024-01-15T10:00:00"
    issues = outcome(post_qr(clinic, resource), 422)
    assert {e for issue in issues for e in issue["expression"]} == {
        f"{QR}.authored", f"{QR}.item[0]",
    }  # fmt: skip


def test_range_errors_name_every_item(clinic: Api) -> None:
    patient = clinic.make_patient()
    issues = outcome(post_qr(clinic, build_qr(patient["id"], hads(9))), 422)
    assert {e for issue in issues for e in issue["expression"]} == {
        f"{QR}.item[{i}]" for i in range(14)
    }


def test_post_infusion_before_infusion_started(clinic: Api) -> None:
    patient = clinic.make_patient()
    infusion = clinic.make_infusion(patient["id"], started_at="2024-02-01T09:00:00Z")
    resource = build_qr(
        patient["id"], hads(1), timepoint="post_infusion", infusion_id=infusion["id"],
        authored="2024-02-01T08:00:00Z",
    )  # fmt: skip
    (issue,) = outcome(post_qr(clinic, resource), 422)
    assert issue["expression"] == [f"{QR}.authored"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", FHIR_JSON),
        (b"[1, 2]", FHIR_JSON),
        (b'{"resourceType": "Patient"}', FHIR_JSON),
        (b'{"resourceType": "Patient"}', "application/json"),
        (b"", FHIR_JSON),
    ],
    ids=["malformed", "array", "wrong resourceType", "wrong resourceType json", "empty"],
)
def test_unusable_bodies_are_422(clinic: Api, body: bytes, content_type: str) -> None:
    response = clinic.post(
        "/fhir/QuestionnaireResponse", content=body, headers={"Content-Type": content_type}
    )
    issues = outcome(response, 422)
    assert issues[0]["code"] in ("invalid", "structure")


def test_other_media_type_is_415(clinic: Api) -> None:
    patient = clinic.make_patient()
    response = clinic.post(
        "/fhir/QuestionnaireResponse",
        content=str(build_qr(patient["id"], hads(1))).encode(),
        headers={"Content-Type": "text/plain"},
    )
    (issue,) = outcome(response, 415)
    assert issue["code"] == "not-supported"
    assert clinic.ok("GET", f"/v1/patients/{patient['id']}/responses")["items"] == []


def test_unsupported_method_is_operation_outcome(clinic: Api) -> None:
    response = clinic.request("DELETE", "/fhir/QuestionnaireResponse/x")
    (issue,) = outcome(response, 405)
    assert issue["code"] == "not-supported"


def test_invalid_search_parameter_is_422(clinic: Api) -> None:
    outcome(clinic.get("/fhir/QuestionnaireResponse", params={"_count": "many"}), 422)
    outcome(clinic.get("/fhir/QuestionnaireResponse", params={"authored": "ge2024-13-45"}), 422)
    outcome(clinic.get("/fhir/QuestionnaireResponse", params={"_cursor": "forged"}), 422)
