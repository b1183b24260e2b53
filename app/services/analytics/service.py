"""Entry points of the analytics endpoints, one per route."""

from app.services.analytics.adverse import adverse_events
from app.services.analytics.by_infusion import by_infusion
from app.services.analytics.cohort import cohort
from app.services.analytics.deltas import pain_deltas
from app.services.analytics.mediation import mediation
from app.services.analytics.trajectory import trajectory

__all__ = ["adverse_events", "by_infusion", "cohort", "mediation", "pain_deltas", "trajectory"]
