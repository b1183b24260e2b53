"""GET /v1/analytics/mediation: does the change in HADS-D mediate the change in pain?"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.analytics.frames import load_patients
from app.services.analytics.scope import Scope, envelope
from app.stats import mediation as fit_mediation

Exposure = Literal["cumulative_dose", "depressed"]


async def mediation(
    session: AsyncSession,
    scope: Scope,
    *,
    exposure: Exposure,
    threshold: int,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    frame = await load_patients(session, scope, ("pain", "hads_depression"), ("sex", "age", "dose"))
    x = frame.dose_sum if exposure == "cumulative_dose" else frame.depressed(threshold)
    m, y = frame.change("hads_depression"), frame.change("pain")
    female = (np.asarray(frame.sex, dtype=object) == "female").astype(float)
    keep = ~(np.isnan(x) | np.isnan(m) | np.isnan(y) | np.isnan(frame.age))
    covariates = np.column_stack([frame.age[keep], female[keep]])
    # Off the event loop: the bootstrap takes about a second at 100,000 patients, which the
    # server's other requests (submissions above all) should not wait for.
    result = await asyncio.to_thread(
        fit_mediation, x[keep], m[keep], y[keep], covariates, n_boot=n_boot, seed=seed
    )
    body: dict[str, Any] = envelope(
        scope,
        ("nrs-pain", "hads"),
        exposure=exposure,
        threshold=threshold,
        n_boot=n_boot,
        seed=seed,
        covariates=["age", "female"],
    )
    return {**body, **result}
