"""Per-patient analytics values, derived from the clinical tables and kept beside them.

These tables hold no clinical fact of their own: every row is recomputed from patients,
infusions, adverse events and current response versions (app.services.analytics.refresh),
so they may be rewritten freely. Database triggers on the clinical tables list the patients a
write touched in `analytics_stale`; the next analytics request recomputes exactly those
patients before it reads, so a summary is never older than the last committed write it could
see.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Column, Float, Index, Integer, String, Table, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db import JSONType, metadata
from app.models.base import Base

# The longest trajectory the API serves (`max_month` ≤ 60); later months are not kept.
MAX_MONTH = 60


class PatientSummary(Base):
    """One row per patient: attributes, infusion totals and baseline/final per scale."""

    __tablename__ = "analytics_patients"
    __table_args__ = (Index("ix_analytics_patients_site_id", "site_id"),)

    patient_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    site_id: Mapped[uuid.UUID]
    birth_year: Mapped[int | None] = mapped_column(Integer)
    sex: Mapped[str] = mapped_column(String(8))
    conditions: Mapped[list[str]] = mapped_column(JSONType)
    n_infusions: Mapped[int] = mapped_column(Integer)
    t1: Mapped[dt.datetime | None]  # start of infusion 1
    inf1: Mapped[uuid.UUID | None]  # infusion 1
    dose_sum: Mapped[float | None] = mapped_column(Float)
    dose_known: Mapped[int] = mapped_column(Integer)
    pain_baseline: Mapped[float | None] = mapped_column(Float)
    pain_final: Mapped[float | None] = mapped_column(Float)
    hads_anxiety_baseline: Mapped[float | None] = mapped_column(Float)
    hads_anxiety_final: Mapped[float | None] = mapped_column(Float)
    hads_depression_baseline: Mapped[float | None] = mapped_column(Float)
    hads_depression_final: Mapped[float | None] = mapped_column(Float)


class InfusionSummary(Base):
    """One row per infusion: its number k and pre_k/post_k per scale."""

    __tablename__ = "analytics_infusions"
    __table_args__ = (Index("ix_analytics_infusions_patient_k", "patient_id", "k"),)

    infusion_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    patient_id: Mapped[uuid.UUID]
    k: Mapped[int] = mapped_column(Integer)
    n_events: Mapped[int] = mapped_column(Integer)  # adverse events recorded on it
    pain_pre: Mapped[float | None] = mapped_column(Float)
    pain_post: Mapped[float | None] = mapped_column(Float)
    hads_anxiety_pre: Mapped[float | None] = mapped_column(Float)
    hads_anxiety_post: Mapped[float | None] = mapped_column(Float)
    hads_depression_pre: Mapped[float | None] = mapped_column(Float)
    hads_depression_post: Mapped[float | None] = mapped_column(Float)


class EventSummary(Base):
    """The worst severity of each type of adverse event on each infusion that had one."""

    __tablename__ = "analytics_events"
    __table_args__ = (Index("ix_analytics_events_patient_id", "patient_id"),)

    infusion_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(20), primary_key=True)
    patient_id: Mapped[uuid.UUID]
    worst: Mapped[int] = mapped_column(Integer)  # index in app.services.analytics.events


class MonthSummary(Base):
    """Each patient's last score per scale in month m (1 … MAX_MONTH) after infusion 1."""

    __tablename__ = "analytics_months"

    patient_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    m: Mapped[int] = mapped_column(Integer, primary_key=True)
    pain: Mapped[float | None] = mapped_column(Float)
    hads_anxiety: Mapped[float | None] = mapped_column(Float)
    hads_depression: Mapped[float | None] = mapped_column(Float)


# Patients whose summary rows may be out of date: appended to by triggers, one row per
# writing statement and patient (duplicates allowed, so no writer ever waits on another),
# drained by the refresh.
stale: Table = Table("analytics_stale", metadata, Column("patient_id", Uuid, nullable=False))
