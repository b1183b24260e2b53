"""GET /v1/analytics/pain-deltas: pain change stratified by baseline depression."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.analytics import blocks, disclosure, extract
from app.services.analytics.frames import (
    PatientFrame,
    Vector,
    floats,
    load_columns,
    load_patients,
)
from app.services.analytics.scope import Scope, envelope

Window = Literal["overall", "first_infusion"]
BANDS = ("normal", "borderline", "abnormal")
# Relative reductions are compared with a tolerance so that, say, 10 → 7 counts as 30 %.
_EPS = 1e-9


async def first_infusion(
    session: AsyncSession, scope: Scope, frame: PatientFrame, scale: str
) -> tuple[Vector, Vector]:
    """pre_1 (the baseline when infusion 1 has no pre_infusion score) and post_1 per patient."""
    cols = await load_columns(session, scope, extract.per_infusion(scope, scale, 1))
    rows, known = frame.rows_of(cols)
    pre, post = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
    pre[rows[known]], post[rows[known]] = floats(cols["pre"])[known], floats(cols["post"])[known]
    return np.where(np.isnan(pre), frame.baseline(scale), pre), post


def strata_of(
    frame: PatientFrame, threshold: int, bands: bool
) -> tuple[list[str], npt.NDArray[np.intp]]:
    """Stratum names and each patient's stratum as an index into them (-1 when baseline
    HADS-D is unknown)."""
    if bands:
        index = {band: i for i, band in enumerate(BANDS)}
        codes = [-1 if band is None else index[band] for band in frame.bands()]
        return list(BANDS), np.array(codes, dtype=np.intp)
    depressed = frame.depressed(threshold)
    codes_by_flag = np.where(depressed == 1.0, 0, 1)
    return ["depressed", "not_depressed"], np.where(np.isnan(depressed), -1, codes_by_flag)


def responders(base: Vector, final: Vector) -> dict[str, dict[str, Any]]:
    """Relative reductions of 30 % and 50 % (baseline 0 excluded) and absolute ≥ 2 points."""
    drop = base - final
    positive = base > 0
    relative = np.divide(drop, base, out=np.zeros_like(drop), where=positive)
    n_pos = int(np.count_nonzero(positive))
    return {
        "responders_30": blocks.share(positive & (relative >= 0.3 - _EPS), n_pos),
        "responders_50": blocks.share(positive & (relative >= 0.5 - _EPS), n_pos),
        "responders_2pt": blocks.share(drop >= 2 - _EPS, len(drop)),
        "_denominators": {
            "responders_30": n_pos,
            "responders_50": n_pos,
            "responders_2pt": len(drop),
        },
    }


def stratum_block(name: str, base: Vector, final: Vector) -> dict[str, Any]:
    delta = final - base
    tests = blocks.paired(delta)
    block: dict[str, Any] = {
        "stratum": name,
        "n": len(delta),
        "baseline": blocks.stats(base),
        "final": blocks.stats(final),
        "delta": {k: tests[k] for k in tests if k not in ("p_paired_t", "p_wilcoxon", "cohen_dz")},
        **responders(base, final),
        **{k: tests[k] for k in ("p_paired_t", "p_wilcoxon", "cohen_dz")},
    }
    return block


async def pain_deltas(
    session: AsyncSession, scope: Scope, *, threshold: int, bands: bool, window: Window
) -> dict[str, Any]:
    frame = await load_patients(session, scope, ("pain", "hads_depression"), ())
    if window == "overall":
        base, final = frame.baseline("pain"), frame.final("pain")
    else:
        base, final = await first_infusion(session, scope, frame, "pain")
    names, labels = strata_of(frame, threshold, bands)
    usable = ~np.isnan(base) & ~np.isnan(final)
    body: dict[str, Any] = envelope(
        scope, ("nrs-pain", "hads"), threshold=threshold, bands=bands, window=window
    )
    strata = []
    for i, name in enumerate(names):
        mask = usable & (labels == i)
        block = stratum_block(name, base[mask], final[mask])
        for key, denominator in block.pop("_denominators").items():
            disclosure.partition(body, [("strata", i, key)], residual=denominator - block[key]["n"])
        strata.append(block)
    body["strata"] = strata
    body["n_missing"] = len(frame) - sum(s["n"] for s in strata)
    disclosure.partition(body, [*(("strata", i) for i in range(len(names))), ("n_missing",)])
    body["difference"] = None
    if len(strata) == 2:
        first, second = usable & (labels == 0), usable & (labels == 1)
        body["difference"] = blocks.difference((final - base)[first], (final - base)[second])
        disclosure.depends(body, ("difference",), [("strata", 0), ("strata", 1)])
    return body
