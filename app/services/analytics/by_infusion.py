"""GET /v1/analytics/by-infusion: the effect of each infusion k (pre_k → post_k)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.analytics import blocks, disclosure, extract
from app.services.analytics.deltas import strata_of
from app.services.analytics.frames import (
    PatientFrame,
    Vector,
    floats,
    load_columns,
    load_patients,
)
from app.services.analytics.scope import Scope, envelope

INSTRUMENTS = {"pain": ("nrs-pain",), "hads_anxiety": ("hads",), "hads_depression": ("hads",)}


def _cell(pre: Vector, post: Vector, baseline: Vector) -> dict[str, Any]:
    paired = ~np.isnan(pre) & ~np.isnan(post)
    return {
        "n": int(np.count_nonzero(paired)),
        "pre": blocks.stats(pre[paired]),
        "post": blocks.stats(post[paired]),
        "delta": blocks.paired(post[paired] - pre[paired]),
        "cumulative_change": blocks.stats(post - baseline),
    }


async def _matrix(
    session: AsyncSession, scope: Scope, frame: PatientFrame, scale: str, max_k: int
) -> tuple[Vector, Vector]:
    """pre and post as (patients × max_k) arrays; pre_1 falls back on the baseline."""
    cols = await load_columns(session, scope, extract.per_infusion(scope, scale, max_k))
    (rows, known), ks = frame.rows_of(cols), np.array(cols["k"], dtype=np.intp) - 1
    rows, ks = rows[known], ks[known]
    pre = np.full((len(frame), max_k), np.nan)
    post = np.full((len(frame), max_k), np.nan)
    pre[rows, ks], post[rows, ks] = floats(cols["pre"])[known], floats(cols["post"])[known]
    if max_k:
        pre[:, 0] = np.where(
            np.isnan(pre[:, 0]) & (frame.n_infusions > 0), frame.baseline(scale), pre[:, 0]
        )
    return pre, post


async def by_infusion(
    session: AsyncSession, scope: Scope, *, scale: str, max_k: int, threshold: int | None
) -> dict[str, Any]:
    scales = tuple(dict.fromkeys((scale, "hads_depression")))
    frame = await load_patients(session, scope, scales, ("n_infusions",))
    pre, post = await _matrix(session, scope, frame, scale, max_k)
    baseline = frame.baseline(scale)
    body: dict[str, Any] = envelope(
        scope,
        tuple(dict.fromkeys(INSTRUMENTS[scale] + (("hads",) if threshold else ()))),
        scale=scale,
        max_k=max_k,
        threshold=threshold,
    )
    rows = []
    names, labels = strata_of(frame, threshold or 8, bands=False)
    for k in range(1, max_k + 1):
        row = {"k": k, **_cell(pre[:, k - 1], post[:, k - 1], baseline)}
        if threshold is not None:
            row["strata"] = {}
            for i, name in enumerate(names):
                mask = labels == i
                row["strata"][name] = _cell(pre[mask, k - 1], post[mask, k - 1], baseline[mask])
            shown = sum(row["strata"][name]["n"] for name in names)
            disclosure.partition(
                body,
                [("rows", k - 1, "strata", name) for name in names],
                residual=row["n"] - shown,
                total=("rows", k - 1),
            )
        rows.append(row)
    body["rows"] = rows
    return body
