"""Per-patient extraction results as NumPy columns, and the derived per-patient values."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession

from app.instruments import Hads, band_for
from app.services.analytics import extract
from app.services.analytics.scope import Scope

Vector = npt.NDArray[np.float64]


def _floats(values: list[Any]) -> Vector:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


@dataclass(slots=True)
class PatientFrame:
    """Columns of the per-patient extraction; missing numbers are NaN."""

    ids: list[uuid.UUID]
    site_ids: list[uuid.UUID]
    sex: list[str]
    conditions: list[list[str]]
    n_infusions: npt.NDArray[np.int64]
    t1: list[dt.datetime | None]
    age: Vector
    dose_sum: Vector  # NaN unless every infusion of the patient has a per-kg dose
    values: dict[str, Vector]  # "{scale}_baseline" / "{scale}_final"

    def __len__(self) -> int:
        return len(self.ids)

    def baseline(self, scale: str) -> Vector:
        return self.values[f"{scale}_baseline"]

    def final(self, scale: str) -> Vector:
        return self.values[f"{scale}_final"]

    def change(self, scale: str) -> Vector:
        return self.final(scale) - self.baseline(scale)

    def depressed(self, threshold: int) -> Vector:
        """1.0 / 0.0 by baseline HADS-D against the threshold, NaN when it is unknown."""
        base = self.baseline("hads_depression")
        return np.where(np.isnan(base), np.nan, (base >= threshold).astype(float))

    def bands(self) -> list[str | None]:
        return [
            None if np.isnan(v) else band_for(Hads.scale_defs[0].bands, float(v))
            for v in self.baseline("hads_depression")
        ]


async def load_patients(
    session: AsyncSession, scope: Scope, scales: tuple[str, ...] = extract.SCALES
) -> PatientFrame:
    rows = (await session.execute(extract.per_patient(scope, scales))).all()
    names = [f"{s}_{k}" for s in scales for k in extract.KINDS]
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * (10 + len(names))
    (ids, site_ids, birth_year, sex, conditions, n_inf, t1, _inf1, dose_sum, dose_known) = (
        list(c) for c in cols[:10]
    )
    years = [t.year if t is not None else None for t in t1]
    age = _floats(
        [
            y - b if y is not None and b is not None else None
            for y, b in zip(years, birth_year, strict=True)
        ]
    )
    n = np.array(n_inf, dtype=np.int64)
    doses = _floats(dose_sum)
    doses[np.array(dose_known, dtype=np.int64) != n] = np.nan
    doses[n == 0] = np.nan
    values = {name: _floats(list(col)) for name, col in zip(names, cols[10:], strict=True)}
    return PatientFrame(
        ids, site_ids, sex, [list(c or []) for c in conditions], n, t1, age, doses, values
    )
