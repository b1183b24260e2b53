"""Per-patient extraction results as NumPy columns, and the derived per-patient values."""

from __future__ import annotations

import struct
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from sqlalchemy import Float, Integer, String, Uuid, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select

from app.instruments import Hads, band_for
from app.services.analytics import extract
from app.services.analytics.scope import Scope

Vector = npt.NDArray[np.float64]
Columns = dict[str, Any]  # name -> NumPy array (numbers) or list


@dataclass(slots=True)
class PatientFrame:
    """Columns of the per-patient extraction; missing numbers are NaN. Attributes that
    were not read (see load_patients) are empty."""

    size: int  # patients in the frame
    ids: list[str]  # patient ids as text, where patients are not named by cohort rank
    site_ids: list[str]
    sex: list[str]
    conditions_json: list[str | None]
    n_infusions: npt.NDArray[np.int64]
    age: Vector
    dose_sum: Vector  # NaN unless every infusion of the patient has a per-kg dose
    values: dict[str, Vector]  # "{scale}_baseline" / "{scale}_final"
    # Row of each cohort rank (summary tables on PostgreSQL: see summary.cohort), else None.
    by_rank: npt.NDArray[np.intp] | None = None

    def __len__(self) -> int:
        return self.size

    @property
    def conditions(self) -> list[list[str]]:
        """Each patient's conditions (decoded on demand: only the cohort table needs them)."""
        # A registry holds a few distinct lists: each is decoded once.
        decoded = {c: orjson.loads(c) for c in set(self.conditions_json) if c}
        return [decoded[c] if c else [] for c in self.conditions_json]

    def rows_of(self, cols: Columns) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
        """Rows in this frame of the patients of another read (by `pos`, the cohort rank, or
        by `patient_id`), and which of them the frame holds.

        On SQLite an analysis has no snapshot across statements: a patient registered
        between the frame's read and the other one is not in the frame, and its values are
        left out with it.
        """
        if "pos" in cols and self.by_rank is not None:
            rows = self.by_rank[np.array(cols["pos"], dtype=np.intp)]
            return rows, np.ones(rows.size, dtype=np.bool_)
        index = {pid: i for i, pid in enumerate(self.ids)}
        found = np.array([index.get(pid, -1) for pid in cols["patient_id"]], dtype=np.intp)
        return found, found >= 0

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


async def load_columns(session: AsyncSession, scope: Scope, stmt: Select[Any]) -> Columns:
    """Run an extraction and return its result column by column; ids come back as text.

    On PostgreSQL the rows are folded into one row of arrays: 100,000 rows cross the driver
    as a dozen arrays instead of 100,000 rows built one by one. Numbers come as NumPy arrays
    (missing floats as NaN), read straight from PostgreSQL's binary array format: a million
    monthly points would otherwise become millions of Python objects on the way.
    """
    sub = stmt.subquery("x")
    flat = select(*(cast(c, String).label(c.key) if isinstance(c.type, Uuid) else c for c in sub.c))
    names = [str(c.key) for c in flat.selected_columns]
    if scope.dialect == "postgresql":
        arrays = select(*(_folded(c) for c in flat.subquery("f").c))
        row = (await session.execute(arrays)).one()
        return {
            name: _numbers(col) if isinstance(col, bytes) else list(col or [])
            for name, col in zip(names, row, strict=True)
        }
    rows = (await session.execute(flat)).all()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return {name: list(col) for name, col in zip(names, columns, strict=True)}


_NAN: ColumnElement[float] = literal_column("'NaN'::float8")


def _folded(column: Any) -> Any:
    """A column as one array: numbers in PostgreSQL's binary array format (bytea), with
    NULL floats as NaN so that the array has fixed-width elements; the rest as arrays."""
    if isinstance(column.type, Float):
        folded = func.array_send(func.array_agg(func.coalesce(cast(column, Float), _NAN)))
    elif isinstance(column.type, Integer):
        folded = func.array_send(func.array_agg(column))
    else:
        folded = func.array_agg(column)
    return folded.label(str(column.key))


# Element types of the binary array format (pg_type oids): big-endian, fixed width.
_ELEMENTS = {21: ">i2", 23: ">i4", 20: ">i8", 700: ">f4", 701: ">f8"}


def _numbers(raw: bytes) -> npt.NDArray[Any]:
    """Decode a one-dimensional binary array without NULLs (see ``array_send``): a header
    of three int32 (dimensions, has-nulls flag, element type) and one (size, lower bound)
    pair per dimension, then each element as its int32 byte length followed by its value."""
    dims, has_nulls, element = struct.unpack_from(">iii", raw)
    if dims == 0:
        return np.empty(0)
    if dims != 1 or has_nulls or element not in _ELEMENTS:
        raise ValueError(f"not a one-dimensional array of numbers without NULLs: {element}")
    (length,) = struct.unpack_from(">i", raw, 12)
    layout = np.dtype([("size", ">i4"), ("value", _ELEMENTS[element])])
    values = np.frombuffer(raw, dtype=layout, count=length, offset=20)["value"]
    kind = np.float64 if values.dtype.kind == "f" else np.int64
    return values.astype(kind)


def floats(values: list[Any]) -> Vector:
    """Numbers with None as NaN."""
    return np.array(values, dtype=float)


async def load_patients(
    session: AsyncSession,
    scope: Scope,
    scales: tuple[str, ...] = extract.SCALES,
    attributes: Collection[str] = extract.ATTRIBUTES,
) -> PatientFrame:
    """The per-patient extraction as columns (see extract.patient_columns), with only the
    `attributes` an analysis uses: analyses of values alone read none of them."""
    stmt = extract.patient_columns(scope, scales, attributes)
    cols = await load_columns(session, scope, stmt)
    values = {f"{s}_{k}": floats(cols[f"{s}_{k}"]) for s in scales for k in extract.KINDS}
    return PatientFrame(
        size=len(cols["pos"] if "pos" in cols else cols["id"]),
        ids=cols.get("id", []),
        site_ids=cols.get("site_id", []),
        sex=cols.get("sex", []),
        conditions_json=cols.get("conditions", []),
        n_infusions=np.array(cols.get("n_infusions", []), dtype=np.int64),
        age=floats(cols.get("age", [])),
        dose_sum=floats(cols.get("dose", [])),
        values=values,
        by_rank=_inverse(cols["pos"]) if "pos" in cols else None,
    )


def _inverse(ranks: list[int]) -> npt.NDArray[np.intp]:
    """by_rank[r] = the row holding cohort rank r."""
    order = np.empty(len(ranks), dtype=np.intp)
    order[np.array(ranks, dtype=np.intp)] = np.arange(len(ranks), dtype=np.intp)
    return order
