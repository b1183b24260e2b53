"""QuestionnaireResponse → native submission: structure checks with FHIRPath error locations."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from app.errors import Unprocessable
from app.fhir.common import EXT_INFUSION, EXT_TIMEPOINT, EXT_VISIT, RESPONSE_TYPE, choice_system
from app.fhir.questionnaire import resolve
from app.instruments import Instrument, InvalidAnswers, Item
from app.schemas.responses import ResponseCreate

QR = RESPONSE_TYPE
ELEMENTS = frozenset({
    "resourceType", "id", "meta", "implicitRules", "language", "text", "contained", "extension",
    "modifierExtension", "identifier", "basedOn", "partOf", "questionnaire", "status", "subject",
    "encounter", "authored", "author", "source", "item",
})  # fmt: skip
ITEM_ELEMENTS = frozenset({"id", "extension", "linkId", "definition", "text", "answer"})
# Native field → where it lives in the resource, to point errors at the right element.
FIELD_PATHS = {
    "patient_id": [QR, "subject"],
    "collected_at": [QR, "authored"],
    "timepoint": [QR, f"extension('{EXT_TIMEPOINT}')"],
    "infusion_id": [QR, f"extension('{EXT_INFUSION}')"],
    "visit": [QR, f"extension('{EXT_VISIT}')"],
    "instrument": [QR, "questionnaire"],
}
_PATIENT_REF = re.compile(r"^(?:.*/)?Patient/([^/]+)$")
OUR_EXTENSIONS = {EXT_TIMEPOINT: "valueCode", EXT_INFUSION: "valueId", EXT_VISIT: "valueString"}


@dataclass
class Parsed:
    """The native submission and, per linkId, the index of its item (for error locations)."""

    data: ResponseCreate
    links: dict[str, int] = field(default_factory=dict)


class _Errors(list[dict[str, Any]]):
    def add(self, path: list[str], msg: str, code: str = "invalid") -> None:
        self.append({"loc": [QR, *path], "msg": msg, "code": code})

    def merge(self, others: list[dict[str, Any]]) -> None:
        """Add the errors about elements not already reported (one issue per element)."""
        seen = [tuple(e["loc"]) for e in self]
        for error in others:
            loc = tuple(error["loc"])
            if not any(loc[: len(s)] == s or s[: len(loc)] == loc for s in seen):
                self.append(error)


def parse(body: Any) -> Parsed:
    """Map a QuestionnaireResponse onto a native submission, or raise 422 listing every problem."""
    errors = _Errors()
    if not isinstance(body, dict) or body.get("resourceType") != QR:
        raise Unprocessable(
            "The body must be a QuestionnaireResponse resource.",
            errors=[
                {"loc": ["body", "resourceType"], "msg": f"must be {QR!r}", "code": "structure"}
            ],
        )
    for name in body:
        if name not in ELEMENTS:
            errors.add([name], "unknown element", "structure")
    if body.get("modifierExtension"):
        errors.add(["modifierExtension"], "modifier extensions are not supported", "not-supported")
    if body.get("status") is None:
        errors.add(["status"], "required", "required")
    elif body.get("status") != "completed":
        errors.add(["status"], "must be 'completed' (amend through the native API)", "value")
    instrument = _questionnaire(body.get("questionnaire"), errors)
    native: dict[str, Any] = {
        "patient_id": _subject(body.get("subject"), errors),
        "collected_at": _required_str(body, "authored", errors),
        "instrument": instrument.id if instrument else None,
        **_extensions(body.get("extension"), errors),
    }
    answers, links = _items(instrument, body.get("item"), errors) if instrument else ({}, {})
    if instrument is not None:
        try:
            instrument.validate(answers)
        except InvalidAnswers as exc:
            errors.merge([_native_error(e, links) for e in exc.errors])
    try:
        data = ResponseCreate.model_validate({**native, "answers": answers})
    except ValidationError as exc:
        errors.merge(_pydantic_errors(exc))
    if errors:
        raise Unprocessable(_detail(errors), errors=errors)
    return Parsed(data, links)


def _detail(errors: list[Any]) -> str:
    return f"{len(errors)} problem(s) in the QuestionnaireResponse; see the issues."


def _required_str(body: dict[str, Any], name: str, errors: _Errors) -> str | None:
    value = body.get(name)
    if value is None:
        errors.add([name], "required", "required")
    elif not isinstance(value, str):
        errors.add([name], "must be a string")
    else:
        return value
    return None


def _questionnaire(value: Any, errors: _Errors) -> Instrument | None:
    if value is None:
        errors.add(["questionnaire"], "required", "required")
        return None
    found = resolve(value) if isinstance(value, str) else None
    if found is None:
        errors.add(["questionnaire"], "unknown questionnaire; see GET /fhir/Questionnaire", "value")
        return None
    instrument, version = found
    if version is not None and version != instrument.scoring_version:
        errors.add(["questionnaire"], f"version must be {instrument.scoring_version!r}", "value")
    return instrument


def _subject(value: Any, errors: _Errors) -> str | None:
    reference = value.get("reference") if isinstance(value, dict) else None
    if value is None:
        errors.add(["subject"], "required", "required")
        return None
    match = _PATIENT_REF.match(reference) if isinstance(reference, str) else None
    if match is None:
        errors.add(["subject", "reference"], "must be 'Patient/{id}'")
        return None
    return match.group(1)


def _extensions(value: Any, errors: _Errors) -> dict[str, Any]:
    """Our timepoint, infusion and visit extensions; others are ignored, as FHIR allows."""
    found: dict[str, Any] = {}
    if not isinstance(value, list):
        if value is not None:
            errors.add(["extension"], "must be a list")
        value = []
    names = {EXT_TIMEPOINT: "timepoint", EXT_INFUSION: "infusion_id", EXT_VISIT: "visit"}
    for i, ext in enumerate(value):
        url = ext.get("url") if isinstance(ext, dict) else None
        if url not in OUR_EXTENSIONS:
            continue
        key = OUR_EXTENSIONS[url]
        if names[url] in found:
            errors.add([f"extension[{i}]"], "repeated extension")
        elif key not in ext:
            errors.add([f"extension[{i}]"], f"must carry {key}")
        else:
            found[names[url]] = ext[key]
    if "timepoint" not in found:
        errors.add(
            [f"extension('{EXT_TIMEPOINT}')"], "the timepoint extension is required", "required"
        )
    return found


def _items(
    instrument: Instrument, value: Any, errors: _Errors
) -> tuple[dict[str, Any], dict[str, int]]:
    if not isinstance(value, list):
        if value is not None:
            errors.add(["item"], "must be a list")
        return {}, {}
    by_key = {item.key: item for item in instrument.items}
    answers: dict[str, Any] = {}
    links: dict[str, int] = {}
    for i, entry in enumerate(value):
        path = [f"item[{i}]"]
        link = entry.get("linkId") if isinstance(entry, dict) else None
        if not isinstance(link, str):
            errors.add(path, "an item needs a linkId", "required")
            continue
        if link not in by_key:
            errors.add(path, f"no item {link!r} in Questionnaire {instrument.id!r}", "value")
        elif link in links:
            errors.add(path, f"linkId {link!r} repeated")
        else:
            links[link] = i
            answers[link] = _answer(instrument, by_key[link], entry, path, errors)
    return answers, links


def _answer(
    instrument: Instrument, item: Item, entry: dict[str, Any], path: list[str], errors: _Errors
) -> Any:
    for name in entry:
        if name not in ITEM_ELEMENTS:
            errors.add([*path, name], "not supported here (the Questionnaire has no groups)")
    answers = entry.get("answer")
    if answers is None or answers == []:
        return None
    if not isinstance(answers, list) or len(answers) != 1 or not isinstance(answers[0], dict):
        errors.add([*path, "answer"], "exactly one answer per item")
        return None
    answer, at = answers[0], [*path, "answer[0]"]
    values = [k for k in answer if k.startswith("value")]
    if item.kind == "integer":
        if values != ["valueInteger"]:
            errors.add(at, "must be answered with valueInteger")
        return answer.get("valueInteger")
    if values == ["valueString"]:
        return answer["valueString"]
    coding = answer.get("valueCoding")
    if values != ["valueCoding"] or not isinstance(coding, dict):
        errors.add(at, "must be answered with valueCoding (or valueString)")
        return None
    if coding.get("system", choice_system(instrument.id, item.key)) != choice_system(
        instrument.id, item.key
    ):
        errors.add([*at, "valueCoding", "system"], "unknown code system for this item", "value")
    return coding.get("code")


def _native_error(error: dict[str, object], links: dict[str, int]) -> dict[str, Any]:
    loc = error.get("loc")
    parts = list(loc) if isinstance(loc, list | tuple) else []
    return {"loc": translate(parts, links), "msg": str(error["msg"]), "code": "value"}


def _pydantic_errors(exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        path = FIELD_PATHS.get(loc[0], [QR]) if loc else [QR]
        out.append({"loc": path, "msg": error.get("msg", ""), "code": "value"})
    return out


def translate(loc: list[Any], links: dict[str, int]) -> list[str]:
    """A native error location (`body.answers.hads_3`) as a FHIRPath into the resource."""
    parts = [str(p) for p in loc if p != "body"]
    if len(parts) >= 2 and parts[0] == "answers":
        index = links.get(parts[1])
        where = f"item[{index}]" if index is not None else f"item.where(linkId='{parts[1]}')"
        return [QR, where]
    if parts and parts[0] in FIELD_PATHS:
        return FIELD_PATHS[parts[0]]
    return [QR]


def parse_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
