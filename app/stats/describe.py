"""Descriptive statistics blocks and proportions for analytics responses."""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Block = dict[str, Any]

# Numbers in any form the statistics accept: a list, or a float array (no copy).
Values = Sequence[float] | npt.NDArray[np.float64]


def finite_or_none(value: Any) -> float | None:
    """Return ``value`` as a Python float, or None when it is missing, NaN or infinite."""
    if value is None:
        return None
    number = float(value) + 0.0  # + 0.0 turns -0.0 into 0.0 for cleaner JSON
    return number if math.isfinite(number) else None


def t_half_width(sd: float, n: int, df: float) -> float | None:
    """Half-width of a 95 % t interval for a mean with standard error ``sd / sqrt(n)``."""
    from scipy import stats  # imported on first use: SciPy adds ~1 s and 40 MB

    quantile = float(stats.t.ppf(0.975, df))
    return finite_or_none(quantile * sd / math.sqrt(n))


def describe(values: Values) -> Block:
    """Summarise a vector: n, mean, sd (n-1), t-based 95 % CI, median, quartiles, min, max.

    Fields that cannot be computed are None: every field but ``n`` when the vector is empty,
    ``sd`` and ``ci95`` when it holds a single value. Quartiles use linear interpolation
    (NumPy's default).
    """
    data = np.asarray(values, dtype=float)
    n = int(data.size)
    block: Block = dict.fromkeys(
        ("n", "mean", "sd", "ci95", "median", "q1", "q3", "min", "max"), None
    )
    block["n"] = n
    if n == 0:
        return block
    mean = float(np.mean(data))
    q1, median, q3 = (float(q) for q in np.percentile(data, [25.0, 50.0, 75.0]))
    block.update(
        mean=mean, median=median, q1=q1, q3=q3, min=float(data.min()), max=float(data.max())
    )
    if n >= 2:
        # Identical values give an exact 0 rather than a rounding residue such as 1e-17.
        sd = 0.0 if np.ptp(data) == 0 else float(np.std(data, ddof=1))
        half = t_half_width(sd, n, n - 1)
        block["sd"] = sd
        block["ci95"] = None if half is None else [mean - half, mean + half]
    return block


def proportion(k: int, n: int) -> Block:
    """Count and percentage (0-100, one decimal) of ``k`` out of ``n``; pct is None if n is 0."""
    return {"n": k, "pct": round(100 * k / n, 1) if n else None}
