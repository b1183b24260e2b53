"""Reusable constrained types, enumerations and the page envelope."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar, get_args

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

T = TypeVar("T")

MAX_FUTURE = dt.timedelta(minutes=5)


class StrictInput(BaseModel):
    """Base for request bodies: unknown fields are an error, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


def _not_in_future(value: dt.datetime) -> dt.datetime:
    if value > dt.datetime.now(dt.UTC) + MAX_FUTURE:
        raise ValueError("must not be more than 5 minutes in the future")
    return value


def _reasonable_instant(value: dt.datetime) -> dt.datetime:
    """Instants are kept and returned in UTC, whatever offset the client used."""
    if value.year < 1900:
        raise ValueError("must be after 1900")
    return value.astimezone(dt.UTC)


Instant = Annotated[AwareDatetime, AfterValidator(_reasonable_instant)]
PastInstant = Annotated[Instant, AfterValidator(_not_in_future)]
SiteCode = Annotated[str, Field(pattern=r"^[A-Z0-9_-]{2,32}$", examples=["LYON-01"])]
Label = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,32}$", examples=["M3"])]
Reason = Annotated[str, Field(min_length=1, max_length=500, examples=["Transcription error"])]


class Sex(StrEnum):
    female = "female"
    male = "male"
    other = "other"
    unknown = "unknown"


class Condition(StrEnum):
    fibromyalgia = "fibromyalgia"
    neuropathic = "neuropathic"
    crps = "crps"
    chronic_low_back = "chronic_low_back"
    headache = "headache"
    visceral = "visceral"
    mixed = "mixed"
    other = "other"


class Timepoint(StrEnum):
    baseline = "baseline"
    pre_infusion = "pre_infusion"
    post_infusion = "post_infusion"
    follow_up = "follow_up"


class ResponseStatus(StrEnum):
    completed = "completed"
    amended = "amended"
    entered_in_error = "entered-in-error"


class AdverseEventType(StrEnum):
    fatigue = "fatigue"
    nausea = "nausea"
    vomiting = "vomiting"
    headache = "headache"
    dizziness = "dizziness"
    dissociation = "dissociation"
    hallucination = "hallucination"
    hypertension = "hypertension"
    anxiety = "anxiety"
    other = "other"


class Severity(StrEnum):
    mild = "mild"
    moderate = "moderate"
    severe = "severe"


def _page_example(schema: dict[str, Any], cls: type[Any]) -> None:
    """A page's example: one item as its own model's example shows it."""
    (item,) = get_args(cls.model_fields["items"].annotation) or (None,)
    extra = getattr(item, "model_config", {}).get("json_schema_extra")
    if isinstance(extra, dict) and extra.get("examples"):
        schema["examples"] = [{"items": extra["examples"][:1], "next_cursor": "eyJrIjogWzFdfQ"}]


class Page(BaseModel, Generic[T]):
    """Every list: a page of items and the opaque cursor of the next page (null at the end)."""

    model_config = ConfigDict(json_schema_extra=_page_example)

    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last."
    )
