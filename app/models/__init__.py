"""SQLAlchemy tables. Rows in `*_versions`, `audit_events` and `idempotency_keys` are
append-only: history is kept by adding rows, never by rewriting them."""

from app.models.base import Base
from app.models.clinical import AdverseEvent, Infusion, Patient, PatientVersion
from app.models.responses import Response, ResponseVersion
from app.models.security import ApiKey, AuditEvent, IdempotencyKey, Site
from app.models.summary import InfusionSummary, MonthSummary, PatientSummary

__all__ = [
    "AdverseEvent",
    "ApiKey",
    "AuditEvent",
    "Base",
    "IdempotencyKey",
    "Infusion",
    "InfusionSummary",
    "MonthSummary",
    "Patient",
    "PatientSummary",
    "PatientVersion",
    "Response",
    "ResponseVersion",
    "Site",
]
