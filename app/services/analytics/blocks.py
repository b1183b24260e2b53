"""Small helpers that turn per-patient vectors into the stats blocks of SPEC §7."""

from __future__ import annotations

from typing import Any

import numpy as np

from app.services.analytics.frames import Vector
from app.stats import compare_groups, describe, paired_tests, proportion

Block = dict[str, Any]


def known(values: Vector) -> Vector:
    """The known values (NaN left out), still an array: the statistics take it as it is."""
    kept: Vector = values[~np.isnan(values)]
    return kept


def stats(values: Vector) -> Block:
    """Descriptive block of the known values."""
    return describe(known(values))


def paired(deltas: Vector) -> Block:
    """Descriptive block of deltas plus the paired t and Wilcoxon tests and Cohen's dz."""
    data = known(deltas)
    return {**describe(data), **paired_tests(data)}


def share(mask: Any, denominator: int) -> Block:
    """{n, pct} of the true entries of `mask` over `denominator`."""
    return proportion(int(np.count_nonzero(mask)), denominator)


def difference(first: Vector, second: Vector) -> Block:
    return compare_groups(known(first), known(second))
