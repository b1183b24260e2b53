"""Patients (with their edit history), infusions and adverse events."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import JSONType
from app.models.base import Base, new_id, utcnow


class Patient(Base):
    """Current state of a patient; every state ever held is in `patient_versions`."""

    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("site_id", "pseudonym"),
        # What a response's (patient_id, site_id) foreign key points at: see Response.
        Index("uq_patients_id_site_id", "id", "site_id", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # No index of its own: (site_id, pseudonym) serves lookups by site (see migration 0064).
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"))
    pseudonym: Mapped[str] = mapped_column(String(64))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    sex: Mapped[str] = mapped_column(String(8))
    conditions: Mapped[list[str]] = mapped_column(JSONType)
    enrolled_on: Mapped[dt.date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PatientVersion(Base):
    __tablename__ = "patient_versions"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(64))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    sex: Mapped[str] = mapped_column(String(8))
    conditions: Mapped[list[str]] = mapped_column(JSONType)
    enrolled_on: Mapped[dt.date | None] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[str | None] = mapped_column(String(16))


class Infusion(Base):
    """One administration. Its `number` is derived from `started_at` order, never stored,
    so an infusion registered late renumbers the others without rewriting them."""

    __tablename__ = "infusions"
    __table_args__ = (
        Index("ix_infusions_patient_started", "patient_id", "started_at"),
        # The numbering order: infusion 1 of every patient in one ordered read (analytics).
        Index("ix_infusions_patient_order", "patient_id", "started_at", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"), index=True)
    started_at: Mapped[dt.datetime]
    duration_min: Mapped[float | None] = mapped_column(Float)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    dose_mg: Mapped[float | None] = mapped_column(Float)
    dose_mg_per_kg: Mapped[float | None] = mapped_column(Float)
    co_medications: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(16))


class AdverseEvent(Base):
    __tablename__ = "adverse_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    infusion_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusions.id"), index=True)
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"))
    type: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10))
    onset_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(16))
