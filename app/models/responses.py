"""Questionnaire responses: a stable identity plus an append-only chain of versions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, ForeignKeyConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import JSONType
from app.models.base import Base, new_id, utcnow


class Response(Base):
    """What never changes about a response, and a pointer to its current version.

    The current version's scores are copied here too so that analytics read one row per
    response; `response_versions` stays the source of truth for history and `as_of`.
    """

    __tablename__ = "responses"
    __table_args__ = (
        Index("ix_responses_patient_collected", "patient_id", "collected_at"),
        Index("ix_responses_site_created", "site_id", "created_at", "id"),
        # One foreign key for both: the patient exists and the response carries that
        # patient's own site (which the patient's foreign key to sites makes a real site).
        # One check per stored row instead of two, and a stronger rule than two separate keys.
        ForeignKeyConstraint(
            ["patient_id", "site_id"],
            ["patients.id", "patients.site_id"],
            name="fk_responses_patient_id_site_id_patients",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    site_id: Mapped[uuid.UUID]
    patient_id: Mapped[uuid.UUID]
    infusion_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("infusions.id"), index=True)
    instrument: Mapped[str] = mapped_column(String(32))
    timepoint: Mapped[str] = mapped_column(String(16))
    visit: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(16))
    # Denormalised copy of the current version.
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16))
    collected_at: Mapped[dt.datetime]
    pain: Mapped[float | None] = mapped_column(Float)
    hads_anxiety: Mapped[float | None] = mapped_column(Float)
    hads_depression: Mapped[float | None] = mapped_column(Float)


class ResponseVersion(Base):
    __tablename__ = "response_versions"
    __table_args__ = (Index("ix_response_versions_recorded", "recorded_at"),)

    response_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("responses.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    collected_at: Mapped[dt.datetime]
    answers: Mapped[dict[str, Any]] = mapped_column(JSONType)
    scores: Mapped[dict[str, Any]] = mapped_column(JSONType)
    scoring_version: Mapped[str] = mapped_column(String(32))
    pain: Mapped[float | None] = mapped_column(Float)
    hads_anxiety: Mapped[float | None] = mapped_column(Float)
    hads_depression: Mapped[float | None] = mapped_column(Float)
    prorated: Mapped[bool] = mapped_column(Boolean, default=False)
    complete: Mapped[bool] = mapped_column(Boolean, default=True)
    reason: Mapped[str | None] = mapped_column(String(500))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[str | None] = mapped_column(String(16))
