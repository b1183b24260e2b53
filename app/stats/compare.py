"""Paired and two-group comparisons that agree with SciPy's default tests."""

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from app.stats.describe import Block, Values, finite_or_none, t_half_width


def _quiet_pvalue(test: Callable[[], Any]) -> float | None:
    """Run a SciPy test and return its p-value, or None when SciPy cannot produce one.

    SciPy signals degenerate input with warnings and NaN rather than exceptions; a statistic
    that cannot be computed must come out as None, never as a warning or an error.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = test()
        except (ValueError, ArithmeticError):
            return None
    return finite_or_none(result.pvalue)


def _sum_of_squares(data: np.ndarray[Any, np.dtype[np.float64]]) -> float:
    """Sum of squared deviations from the mean; exactly 0 for identical values."""
    if data.size == 0 or np.ptp(data) == 0:
        return 0.0
    return float(np.sum((data - data.mean()) ** 2))


def paired_tests(deltas: Values) -> Block:
    """Paired t test and Wilcoxon signed-rank test of the deltas against 0, plus Cohen's dz.

    All are None below two deltas. The t test and dz need some variance; Wilcoxon needs at
    least one non-zero delta, because SciPy's default drops zero differences.
    """
    from scipy import stats  # imported on first use: SciPy adds ~1 s and 40 MB

    data = np.asarray(deltas, dtype=float)
    block: Block = {"p_paired_t": None, "p_wilcoxon": None, "cohen_dz": None}
    if data.size < 2:
        return block
    if np.any(data != 0):
        block["p_wilcoxon"] = _quiet_pvalue(lambda: stats.wilcoxon(data))
    if np.ptp(data) > 0:
        block["p_paired_t"] = _quiet_pvalue(lambda: stats.ttest_1samp(data, 0.0))
        block["cohen_dz"] = finite_or_none(np.mean(data) / np.std(data, ddof=1))
    return block


def compare_groups(first: Values, second: Values) -> Block:
    """Compare two independent groups; every difference is first - second.

    ``ci95`` and ``p_welch`` follow Welch's unequal-variance t test (Welch-Satterthwaite
    degrees of freedom) and need two values per group and some variance; ``hedges_g`` uses
    the pooled SD and the 1 - 3/(4(n₁+n₂) - 9) small-sample correction.
    """
    from scipy import stats  # imported on first use: SciPy adds ~1 s and 40 MB

    a = np.asarray(first, dtype=float)
    b = np.asarray(second, dtype=float)
    block: Block = dict.fromkeys(
        ("mean_difference", "ci95", "p_welch", "p_mann_whitney", "hedges_g"), None
    )
    n_a, n_b = int(a.size), int(b.size)
    if n_a == 0 or n_b == 0:
        return block
    difference = float(a.mean() - b.mean())
    block["mean_difference"] = difference
    block["p_mann_whitney"] = _quiet_pvalue(lambda: stats.mannwhitneyu(a, b))
    ss_a, ss_b = _sum_of_squares(a), _sum_of_squares(b)
    if n_a >= 2 and n_b >= 2 and ss_a + ss_b > 0:
        se2_a, se2_b = ss_a / (n_a - 1) / n_a, ss_b / (n_b - 1) / n_b
        df = (se2_a + se2_b) ** 2 / (se2_a**2 / (n_a - 1) + se2_b**2 / (n_b - 1))
        half = t_half_width(math.sqrt(se2_a + se2_b), 1, df)
        block["ci95"] = None if half is None else [difference - half, difference + half]
        block["p_welch"] = _quiet_pvalue(lambda: stats.ttest_ind(a, b, equal_var=False))
    if n_a + n_b > 2 and ss_a + ss_b > 0:
        pooled_sd = math.sqrt((ss_a + ss_b) / (n_a + n_b - 2))
        correction = 1 - 3 / (4 * (n_a + n_b) - 9)
        block["hedges_g"] = finite_or_none(difference / pooled_sd * correction)
    return block
