"""Worked examples shown in the OpenAPI reference: one consistent story, copy-pasteable."""

from __future__ import annotations

from typing import Any

PATIENT_ID = "3f0c8a2e-6d1b-4f4e-9a57-2b8f0d6c1e42"
INFUSION_ID = "8d2b7c1a-3e4f-4a6b-9c8d-7e6f5a4b3c21"
RESPONSE_ID = "c1a2b3d4-e5f6-4789-8abc-def012345678"
EVENT_ID = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
HADS_ANSWERS = {f"hads_{i}": (2 if i % 2 else 1) for i in range(1, 15)}
HADS_SCORES = {
    "hads_anxiety": 14, "hads_depression": 7, "hads_anxiety_band": "abnormal",
    "hads_depression_band": "normal", "prorated": False, "complete": True,
}  # fmt: skip


def examples(*values: dict[str, Any]) -> dict[str, Any]:
    """`json_schema_extra` for a model: its examples."""
    return {"examples": list(values)}


SITE_CREATE = {"code": "LYON-01", "name": "Lyon pain centre"}
SITE_READ = {**SITE_CREATE, "created_at": "2024-01-02T08:00:00Z"}
PATIENT_CREATE = {
    "site": "LYON-01", "pseudonym": "P-000123", "birth_year": 1972, "sex": "female",
    "conditions": ["fibromyalgia", "neuropathic"], "enrolled_on": "2024-01-10",
}  # fmt: skip
PATIENT_UPDATE = {"conditions": ["fibromyalgia", "neuropathic", "headache"]}
PATIENT_READ = {
    "id": PATIENT_ID, **PATIENT_CREATE, "version": 1,
    "created_at": "2024-01-10T09:12:00Z", "updated_at": "2024-01-10T09:12:00Z",
}  # fmt: skip
CO_MEDICATION = {"name": "midazolam", "dose": 2.0, "unit": "mg"}
INFUSION_CREATE = {
    "started_at": "2024-02-01T09:00:00Z", "duration_min": 120, "weight_kg": 68.0,
    "dose_mg_per_kg": 0.5, "co_medications": [CO_MEDICATION],
}  # fmt: skip
ADVERSE_EVENT_CREATE = {"type": "nausea", "severity": "mild", "onset_at": "2024-02-01T10:30:00Z"}
ADVERSE_EVENT_READ = {
    "id": EVENT_ID, "infusion_id": INFUSION_ID, **ADVERSE_EVENT_CREATE,
    "created_at": "2024-02-01T11:00:00Z",
}  # fmt: skip
INFUSION_READ = {
    "id": INFUSION_ID, "patient_id": PATIENT_ID, "number": 1, **INFUSION_CREATE,
    "dose_mg": 34.0, "created_at": "2024-02-01T09:05:00Z", "adverse_events": [ADVERSE_EVENT_READ],
}  # fmt: skip
RESPONSE_CREATE = {
    "patient_id": PATIENT_ID, "infusion_id": INFUSION_ID, "instrument": "hads",
    "timepoint": "post_infusion", "visit": None, "collected_at": "2024-02-01T12:00:00Z",
    "answers": HADS_ANSWERS,
}  # fmt: skip
NRS_CREATE = {
    "patient_id": PATIENT_ID, "instrument": "nrs-pain", "timepoint": "follow_up", "visit": "M1",
    "collected_at": "2024-03-01T10:00:00Z", "answers": {"score": 5, "recall": "30d"},
}  # fmt: skip
BATCH_ITEM = {**NRS_CREATE, "idempotency_key": "tablet-7:2024-03-01:P-000123:M1"}
BATCH_REQUEST = {"items": [BATCH_ITEM]}
BATCH_ITEM_RESULT = {"index": 0, "status": 201, "id": RESPONSE_ID, "replayed": False,
                     "error": None}  # fmt: skip
BATCH_RESULT = {
    "created": 1, "replayed": 0, "failed": 1,
    "items": [
        BATCH_ITEM_RESULT,
        {"index": 1, "status": 422, "id": None, "replayed": False, "error": {
            "type": "https://pro-registry.org/problems/validation-error",
            "title": "Unprocessable content", "status": 422,
            "detail": "The answers do not fit the instrument.",
            "errors": [{"loc": ["items", "1", "answers", "score"], "msg": "must be 0 to 10"}]}},
    ],
}  # fmt: skip
RESPONSE_AMEND = {"answers": {"score": 4, "recall": "30d"}, "reason": "Transcription error"}
RESPONSE_RETRACT = {"reason": "Entered for the wrong patient"}
VERSION_READ = {
    "version": 1, "status": "completed", "collected_at": "2024-02-01T12:00:00Z",
    "answers": HADS_ANSWERS, "scores": HADS_SCORES, "scoring_version": "hads/1",
    "reason": None, "recorded_at": "2024-02-01T12:00:03Z", "recorded_by": "prg_3kQ9xZ1a",
}  # fmt: skip
RESPONSE_READ = {
    "id": RESPONSE_ID, **{k: v for k, v in RESPONSE_CREATE.items() if k != "answers"},
    "answers": HADS_ANSWERS, "scores": HADS_SCORES, "scoring_version": "hads/1",
    "status": "completed", "version": 1, "submitted_at": "2024-02-01T12:00:03Z",
    "submitted_by": "prg_3kQ9xZ1a", "updated_at": "2024-02-01T12:00:03Z",
    "history": [VERSION_READ],
}  # fmt: skip
