"""Questionnaire responses: submission, amendment, retraction, batch and read models."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from app.schemas import examples as ex
from app.schemas.common import Label, PastInstant, Reason, ResponseStatus, StrictInput, Timepoint

IdempotencyKeyField = Annotated[str, Field(min_length=1, max_length=255)]


class ResponseCreate(StrictInput):
    model_config = ConfigDict(json_schema_extra=ex.examples(ex.RESPONSE_CREATE))

    patient_id: uuid.UUID
    infusion_id: uuid.UUID | None = Field(
        default=None, description="Required for `pre_infusion` and `post_infusion`."
    )
    instrument: Annotated[str, Field(examples=["hads"], description="`nrs-pain` or `hads`.")]
    timepoint: Timepoint
    visit: Label | None = Field(default=None, description="Schedule label such as `M1`…`M12`.")
    collected_at: PastInstant
    answers: dict[str, Any] = Field(
        examples=[{f"hads_{i}": i % 4 for i in range(1, 15)}],
        description="Item key → point value; see `GET /v1/instruments/{id}`.",
    )


class BatchItem(ResponseCreate):
    model_config = ConfigDict(json_schema_extra=ex.examples(ex.BATCH_ITEM))

    idempotency_key: IdempotencyKeyField | None = None


class BatchRequest(StrictInput):
    model_config = ConfigDict(json_schema_extra=ex.examples(ex.BATCH_REQUEST))

    items: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=1000)] = Field(
        description="Up to 1,000 response bodies, each validated on its own; an item may "
        "carry its own `idempotency_key`."
    )


class BatchItemResult(BaseModel):
    model_config = ConfigDict(json_schema_extra=ex.examples(ex.BATCH_ITEM_RESULT))

    index: int
    status: int = Field(description="201 when stored (also when replayed), else the error status.")
    id: uuid.UUID | None = None
    replayed: bool = Field(default=False, description="True when an idempotency_key replayed.")
    error: dict[str, Any] | None = Field(default=None, description="problem+json of the item")


class BatchResult(BaseModel):
    model_config = ConfigDict(json_schema_extra=ex.examples(ex.BATCH_RESULT))

    created: int
    replayed: int
    failed: int
    items: list[BatchItemResult]


class ResponseAmend(StrictInput):
    model_config = ConfigDict(json_schema_extra=ex.examples(ex.RESPONSE_AMEND))

    answers: dict[str, Any]
    collected_at: PastInstant | None = None
    reason: Reason


class ResponseRetract(StrictInput):
    model_config = ConfigDict(json_schema_extra=ex.examples(ex.RESPONSE_RETRACT))

    reason: Reason


class ResponseVersionRead(BaseModel):
    model_config = ConfigDict(json_schema_extra=ex.examples(ex.VERSION_READ))

    version: int
    status: ResponseStatus
    collected_at: dt.datetime
    answers: dict[str, Any]
    scores: dict[str, Any]
    scoring_version: str
    reason: str | None
    recorded_at: dt.datetime
    recorded_by: str | None


class ResponseRead(BaseModel):
    model_config = ConfigDict(json_schema_extra=ex.examples(ex.RESPONSE_READ))

    id: uuid.UUID
    patient_id: uuid.UUID
    infusion_id: uuid.UUID | None
    instrument: str
    timepoint: Timepoint
    visit: str | None
    collected_at: dt.datetime
    answers: dict[str, Any]
    scores: dict[str, Any]
    scoring_version: str
    status: ResponseStatus
    version: int
    submitted_at: dt.datetime = Field(description="When the first version was received.")
    submitted_by: str | None = Field(description="Key prefix of the first submitter.")
    updated_at: dt.datetime = Field(description="When the current version was recorded.")
    history: list[ResponseVersionRead] | None = Field(
        default=None, description="Every version, oldest first (single-response reads only)."
    )
