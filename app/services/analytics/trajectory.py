"""GET /v1/analytics/trajectory: monthly values after infusion 1 and a linear mixed model."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.analytics import blocks, disclosure, extract
from app.services.analytics.by_infusion import INSTRUMENTS
from app.services.analytics.frames import floats, load_columns, load_patients
from app.services.analytics.scope import Scope, envelope
from app.stats import mixed_model

STRATA = (("depressed", 1.0), ("not_depressed", 0.0))


async def trajectory(
    session: AsyncSession, scope: Scope, *, scale: str, threshold: int, max_month: int
) -> dict[str, Any]:
    scales = tuple(dict.fromkeys((scale, "hads_depression")))
    frame = await load_patients(session, scope, scales, ())
    n = len(frame)
    points = np.full((n, max_month + 1), np.nan)
    points[:, 0] = frame.baseline(scale)
    cols = await load_columns(session, scope, extract.monthly(scope, scale, max_month))
    months = np.array(cols["m"], dtype=np.intp)
    at, known = frame.rows_of(cols)
    points[at[known], months[known]] = floats(cols["value"])[known]
    depressed = frame.depressed(threshold)
    body: dict[str, Any] = envelope(
        scope,
        tuple(dict.fromkeys((*INSTRUMENTS[scale], "hads"))),
        scale=scale,
        threshold=threshold,
        max_month=max_month,
    )
    rows = []
    for m in range(max_month + 1):
        column = points[:, m]
        row: dict[str, Any] = {"m": m, "overall": blocks.stats(column)}
        for name, flag in STRATA:
            row[name] = blocks.stats(column[depressed == flag])
        residual = row["overall"]["n"] - sum(row[name]["n"] for name, _ in STRATA)
        disclosure.partition(
            body,
            [("rows", m, name) for name, _ in STRATA],
            residual=residual,
            total=("rows", m, "overall"),
        )
        rows.append(row)
    body["rows"] = rows
    body["model"] = await asyncio.to_thread(_model, points, depressed)  # off the event loop
    return body


def _model(points: Any, depressed: Any) -> dict[str, Any]:
    """value ~ month * depressed + (1 | patient) on every known monthly point."""
    keep = ~np.isnan(depressed)
    known = ~np.isnan(points) & keep[:, None]
    rows, months = np.nonzero(known)
    # Row indices stand for patients: arrays all the way, no per-point Python objects.
    fit = mixed_model(rows, months.astype(float), depressed[rows], points[rows, months])
    coefficients = None if fit is None else {k: v for k, v in fit.items() if k != "converged"}
    return {
        "formula": "value ~ month * depressed + (1 | patient)",
        "n": int(np.count_nonzero(known.any(axis=1))),
        "n_points": int(rows.size),
        "converged": None if fit is None else fit["converged"],
        "coefficients": coefficients,
    }
