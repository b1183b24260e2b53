"""Sites, patients, infusions and adverse events: request and response models."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.schemas import examples as ex
from app.schemas.common import (
    AdverseEventType,
    Condition,
    Instant,
    PastInstant,
    Severity,
    Sex,
    SiteCode,
    StrictInput,
)

Pseudonym = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
        description="The clinic's own code for the patient (never a name), unique per site.",
        examples=["P-000123"],
    ),
]
BirthYear = Annotated[int, Field(strict=True, ge=1900, le=2100, examples=[1972])]
Conditions = Annotated[list[Condition], Field(max_length=8)]


class SiteCreate(StrictInput):
    model_config = ConfigDict(json_schema_extra=ex.examples(ex.SITE_CREATE))

    code: SiteCode
    name: Annotated[str, Field(min_length=1, max_length=200, examples=["Lyon pain centre"])]


class SiteRead(BaseModel):
    model_config = ConfigDict(json_schema_extra=ex.examples(ex.SITE_READ))

    code: str
    name: str
    created_at: dt.datetime


def _unique_conditions(conditions: list[Condition] | None) -> None:
    if conditions is not None and len(set(conditions)) != len(conditions):
        raise ValueError("conditions must not repeat")


def _check_birth_year(birth_year: int | None, enrolled_on: dt.date | None) -> None:
    today = dt.datetime.now(dt.UTC).date()
    if enrolled_on is not None and enrolled_on > today + dt.timedelta(days=1):
        raise ValueError("enrolled_on must not be in the future")
    reference = enrolled_on or today
    if birth_year is not None and birth_year > reference.year:
        raise ValueError("birth_year must not be after the enrolment year")


class PatientCreate(StrictInput):
    model_config = ConfigDict(json_schema_extra=ex.examples(ex.PATIENT_CREATE))

    site: SiteCode | None = Field(
        default=None, description="Required for admin keys; a clinic key implies its own site."
    )
    pseudonym: Pseudonym
    birth_year: BirthYear | None = None
    sex: Sex = Sex.unknown
    conditions: Conditions = Field(default_factory=list)
    enrolled_on: dt.date | None = Field(default=None, description="Defaults to today (UTC).")

    @model_validator(mode="after")
    def _consistent(self) -> PatientCreate:
        _unique_conditions(self.conditions)
        _check_birth_year(self.birth_year, self.enrolled_on)
        return self


class PatientUpdate(StrictInput):
    """Only the fields sent change; the previous state stays in the patient's history."""

    model_config = ConfigDict(json_schema_extra=ex.examples(ex.PATIENT_UPDATE))

    pseudonym: Pseudonym | None = None
    birth_year: BirthYear | None = None
    sex: Sex | None = None
    conditions: Conditions | None = None
    enrolled_on: dt.date | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PatientUpdate:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        if "pseudonym" in self.model_fields_set and self.pseudonym is None:
            raise ValueError("pseudonym cannot be removed")
        if "sex" in self.model_fields_set and self.sex is None:
            raise ValueError("sex cannot be null; use 'unknown'")
        if "conditions" in self.model_fields_set and self.conditions is None:
            raise ValueError("conditions cannot be null; send [] for none")
        _unique_conditions(self.conditions)
        _check_birth_year(self.birth_year, self.enrolled_on)
        return self


class PatientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra=ex.examples(ex.PATIENT_READ))

    id: uuid.UUID
    site: str
    pseudonym: str
    birth_year: int | None
    sex: Sex
    conditions: list[Condition]
    enrolled_on: dt.date | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class CoMedication(StrictInput):
    model_config = ConfigDict(json_schema_extra=ex.examples(ex.CO_MEDICATION))

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,63}$", examples=["midazolam"])]
    dose: Annotated[float, Field(strict=True, ge=0, le=100000, examples=[2.0])]
    unit: Annotated[str, Field(pattern=r"^[A-Za-z0-9/_.%-]{1,16}$", examples=["mg"])]


class InfusionCreate(StrictInput):
    model_config = ConfigDict(json_schema_extra=ex.examples(ex.INFUSION_CREATE))

    started_at: PastInstant
    duration_min: Annotated[float, Field(strict=True, gt=0, le=10080)] | None = None
    weight_kg: Annotated[float, Field(strict=True, gt=0, le=400)] | None = None
    dose_mg: Annotated[float, Field(strict=True, ge=0, le=10000)] | None = None
    dose_mg_per_kg: Annotated[float, Field(strict=True, ge=0, le=100)] | None = None
    co_medications: Annotated[list[CoMedication], Field(max_length=20)] = Field(
        default_factory=list
    )

    @model_validator(mode="after")
    def _dose(self) -> InfusionCreate:
        if self.dose_mg is None and self.dose_mg_per_kg is None:
            raise ValueError("give dose_mg, dose_mg_per_kg or both")
        if None not in (self.dose_mg, self.dose_mg_per_kg, self.weight_kg):
            expected = (self.dose_mg_per_kg or 0.0) * (self.weight_kg or 0.0)
            if abs(expected - (self.dose_mg or 0.0)) > max(0.5, 0.01 * expected):
                raise ValueError("dose_mg disagrees with dose_mg_per_kg * weight_kg")
        return self


class AdverseEventCreate(StrictInput):
    model_config = ConfigDict(json_schema_extra=ex.examples(ex.ADVERSE_EVENT_CREATE))

    type: AdverseEventType
    severity: Severity
    onset_at: PastInstant | None = None


class AdverseEventRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True, json_schema_extra=ex.examples(ex.ADVERSE_EVENT_READ)
    )

    id: uuid.UUID
    infusion_id: uuid.UUID
    type: AdverseEventType
    severity: Severity
    onset_at: Instant | None
    created_at: dt.datetime


class InfusionRead(BaseModel):
    model_config = ConfigDict(json_schema_extra=ex.examples(ex.INFUSION_READ))

    id: uuid.UUID
    patient_id: uuid.UUID
    number: int = Field(description="1, 2, … in order of started_at; renumbered if needed.")
    started_at: dt.datetime
    duration_min: float | None
    weight_kg: float | None
    dose_mg: float | None
    dose_mg_per_kg: float | None
    co_medications: list[dict[str, Any]]
    created_at: dt.datetime
    adverse_events: list[AdverseEventRead] | None = None
