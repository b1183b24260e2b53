"""Stored responses → QuestionnaireResponse resources (current version or any past one)."""

from __future__ import annotations

from typing import Any

from app.errors import NotFound
from app.fhir.common import (
    EXT_INFUSION,
    EXT_SCORES,
    EXT_TIMEPOINT,
    EXT_VISIT,
    RESPONSE_TYPE,
    canonical,
    instant,
)
from app.fhir.questionnaire import choice_coding
from app.instruments import get_instrument
from app.schemas.responses import ResponseRead


def questionnaire_response(read: ResponseRead, version: int | None = None) -> dict[str, Any]:
    """The resource for the current version, or for `version` when `read` carries history."""
    state = _state(read, version)
    resource: dict[str, Any] = {
        "resourceType": RESPONSE_TYPE,
        "id": str(read.id),
        "meta": {"versionId": str(state["version"]), "lastUpdated": instant(state["updated"])},
        "extension": _extensions(read, state["scores"], state["scoring_version"]),
        "questionnaire": f"{canonical(read.instrument)}|{state['scoring_version']}",
        "status": state["status"],
        "subject": {"reference": f"Patient/{read.patient_id}"},
        "authored": instant(state["collected_at"]),
    }
    items = _items(read.instrument, state["answers"])
    if items:
        resource["item"] = items
    return resource


def _state(read: ResponseRead, version: int | None) -> dict[str, Any]:
    if version is None or version == read.version:
        return {
            "version": read.version, "status": read.status.value, "updated": read.updated_at,
            "collected_at": read.collected_at, "answers": read.answers, "scores": read.scores,
            "scoring_version": read.scoring_version,
        }  # fmt: skip
    for past in read.history or []:
        if past.version == version:
            return {
                "version": past.version, "status": past.status.value,
                "updated": past.recorded_at, "collected_at": past.collected_at,
                "answers": past.answers, "scores": past.scores,
                "scoring_version": past.scoring_version,
            }  # fmt: skip
    raise NotFound(f"Response {read.id} has no version {version}.")


def _extensions(
    read: ResponseRead, scores: dict[str, Any], scoring_version: str
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"url": EXT_TIMEPOINT, "valueCode": read.timepoint.value}]
    if read.infusion_id is not None:
        out.append({"url": EXT_INFUSION, "valueId": str(read.infusion_id)})
    if read.visit is not None:
        out.append({"url": EXT_VISIT, "valueString": read.visit})
    out.append({"url": EXT_SCORES, "extension": score_extensions(scores, scoring_version)})
    return out


def score_extensions(scores: dict[str, Any], scoring_version: str) -> list[dict[str, Any]]:
    """Every computed score as a sub-extension named by its native key; nulls are omitted."""
    out: list[dict[str, Any]] = [{"url": "scoringVersion", "valueString": scoring_version}]
    for key, value in sorted(scores.items()):  # JSONB does not keep key order
        if isinstance(value, bool):
            out.append({"url": key, "valueBoolean": value})
        elif isinstance(value, int | float):
            out.append({"url": key, "valueDecimal": value})
        elif isinstance(value, str):
            out.append({"url": key, "valueCode": value})
    return out


def _items(instrument_id: str, answers: dict[str, Any]) -> list[dict[str, Any]]:
    instrument = get_instrument(instrument_id)
    order = [item.key for item in instrument.items] if instrument else list(answers)
    kinds = {item.key: item for item in instrument.items} if instrument else {}
    out = []
    for key in order:
        value = answers.get(key)
        if value is None:
            continue  # unanswered items carry no answer (HADS prorating keeps them null)
        item = kinds.get(key)
        if item is not None and item.kind == "choice":
            answer: dict[str, Any] = {"valueCoding": choice_coding(instrument_id, key, value)}
        elif isinstance(value, int) and not isinstance(value, bool):
            answer = {"valueInteger": value}
        else:
            answer = {"valueString": str(value)}
        entry: dict[str, Any] = {"linkId": key}
        if item is not None:
            entry["text"] = item.label
        out.append({**entry, "answer": [answer]})
    return out
