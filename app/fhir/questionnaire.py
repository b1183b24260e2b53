"""Questionnaire resources generated from the instrument modules (the one source of truth)."""

from __future__ import annotations

import re
from typing import Any

from app.fhir.common import (
    EXT_ANSWER_LIST,
    EXT_MAX,
    EXT_MIN,
    canonical,
    choice_system,
)
from app.instruments import INSTRUMENTS, Instrument, Item, get_instrument


def computable_name(instrument_id: str) -> str:
    """`nrs-pain` → `NrsPain`: FHIR names must be machine-processable."""
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", instrument_id))


def questionnaire(instrument: Instrument) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": instrument.id,
        "url": canonical(instrument.id),
        "version": instrument.scoring_version,
        "name": computable_name(instrument.id),
        "title": instrument.title,
        "status": "active",
        "experimental": False,
        "subjectType": ["Patient"],
        "publisher": "pro-registry",
        "description": instrument.scoring_text,
        "code": [instrument.code.as_dict()],
        "item": [_item(instrument, item) for item in instrument.items],
    }
    if instrument.copyright:
        resource["copyright"] = instrument.copyright
    return resource


def _item(instrument: Instrument, item: Item) -> dict[str, Any]:
    # Instrument item kinds ("integer", "choice") are FHIR item types as they stand.
    out: dict[str, Any] = {
        "linkId": item.key, "text": item.label, "type": item.kind, "required": item.required,
    }  # fmt: skip
    extensions: list[dict[str, Any]] = []
    if item.kind == "integer":
        if item.minimum is not None:
            extensions.append({"url": EXT_MIN, "valueInteger": item.minimum})
        if item.maximum is not None:
            extensions.append({"url": EXT_MAX, "valueInteger": item.maximum})
    else:
        out["answerOption"] = [_option(instrument.id, item, code) for code in item.choices or ()]
    if item.code is not None:
        out["code"] = [item.code.as_dict()]
        # The LOINC answer list belongs to the coded question (LL2335-9 for 72514-3).
        if instrument.answer_list is not None and item.code == instrument.code:
            extensions.append(
                {"url": EXT_ANSWER_LIST, "valueCoding": instrument.answer_list.as_dict()}
            )
    if extensions:
        out["extension"] = extensions
    return out


def _option(instrument_id: str, item: Item, code: str) -> dict[str, Any]:
    option: dict[str, Any] = {"valueCoding": choice_coding(instrument_id, item.key, code)}
    # R4 (que-11) marks the default on the option itself; `initial` is not allowed beside it.
    if code == item.default:
        option["initialSelected"] = True
    return option


def choice_coding(instrument_id: str, key: str, code: object) -> dict[str, str]:
    return {"system": choice_system(instrument_id, key), "code": str(code), "display": str(code)}


def all_questionnaires() -> list[dict[str, Any]]:
    return [questionnaire(instrument) for instrument in INSTRUMENTS.values()]


def resolve(reference: str) -> tuple[Instrument, str | None] | None:
    """The instrument a canonical reference (`url` or `url|version`) names, and the version."""
    url, _, version = reference.partition("|")
    prefix = canonical("")
    if not url.startswith(prefix):
        return None
    instrument = get_instrument(url[len(prefix) :])
    if instrument is None:
        return None
    return instrument, version or None
