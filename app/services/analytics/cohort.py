"""GET /v1/analytics/cohort: the registry's Table 1 and the change of every scale."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from app.schemas.common import Condition, Sex
from app.services.analytics import blocks, disclosure, events, extract
from app.services.analytics.frames import PatientFrame, load_patients
from app.services.analytics.scope import Scope, envelope
from app.stats import proportion

INSTRUMENTS = ("nrs-pain", "hads")


def _scales(frame: PatientFrame) -> dict[str, Any]:
    return {
        scale: {
            "baseline": blocks.stats(frame.baseline(scale)),
            "final": blocks.stats(frame.final(scale)),
            "change": blocks.paired(frame.change(scale)),
        }
        for scale in extract.SCALES
    }


def _depression(frame: PatientFrame, threshold: int) -> dict[str, Any]:
    depressed = frame.depressed(threshold)
    known = int(np.count_nonzero(~np.isnan(depressed)))
    return {"threshold": threshold, **blocks.share(depressed == 1, known)}


def _breakdowns(body: dict[str, Any], frame: PatientFrame) -> None:
    n = len(frame)
    sexes = Counter(frame.sex)
    body["sex"] = {s.value: proportion(sexes[s.value], n) for s in Sex}
    disclosure.partition(body, [("sex", s.value) for s in Sex], total=("n_patients",))
    conditions = Counter(c for listed in frame.conditions for c in set(listed))
    body["conditions"] = {c.value: proportion(conditions[c.value], n) for c in Condition}
    for c in Condition:
        count = body["conditions"][c.value]["n"]
        disclosure.partition(
            body, [("conditions", c.value)], residual=n - count, total=("n_patients",)
        )


async def cohort(session: AsyncSession, scope: Scope, *, threshold: int) -> dict[str, Any]:
    """Table 1 of the cohort selected by the filters (see the route's description)."""
    frame = await load_patients(session, scope)
    counts = await events.count_events(session, scope)
    n = len(frame)
    body: dict[str, Any] = {
        **envelope(scope, INSTRUMENTS, threshold=threshold),
        "n_patients": n,
        "n_sites": len(set(frame.site_ids)),
        "n_infusions": counts.n_infusions,
        "infusions_per_patient": blocks.stats(frame.n_infusions.astype(float)),
        "age": blocks.stats(frame.age),
    }
    _breakdowns(body, frame)
    body["scales"] = _scales(frame)
    body["depression"] = _depression(frame, threshold)
    known_hads = body["depression"]["n"]
    disclosure.partition(body, [("depression",)], residual=n - known_hads)
    any_event = blocks.share(np.ones(counts.n_with_event), counts.n_infusions)
    body["adverse_events"] = {"n": any_event["n"], "any_pct": any_event["pct"]}
    disclosure.partition(
        body,
        [("adverse_events",)],
        residual=counts.n_infusions - counts.n_with_event,
        total=("n_infusions",),
    )
    return body
