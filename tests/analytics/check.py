"""Assertions that compare analytics blocks with NumPy and SciPy computed in the test."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from scipy import stats


def approx(value: Any) -> Any:
    return pytest.approx(value, rel=1e-6, abs=1e-9)


def known(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None]


def assert_stats(block: dict[str, Any], values: Sequence[float | None]) -> None:
    """The descriptive block of SPEC §7 against NumPy/SciPy on the known values."""
    data = np.array(known(values))
    assert block["n"] == data.size
    if data.size == 0:
        assert block["mean"] is None
        assert block["median"] is None
        return
    assert block["mean"] == approx(data.mean())
    assert [block["q1"], block["median"], block["q3"]] == approx(
        list(np.percentile(data, [25, 50, 75]))
    )
    assert [block["min"], block["max"]] == approx([data.min(), data.max()])
    if data.size < 2:
        assert block["sd"] is None
        assert block["ci95"] is None
        return
    assert block["sd"] == approx(data.std(ddof=1))
    if data.std() > 0:
        lo, hi = stats.t.interval(0.95, data.size - 1, loc=data.mean(), scale=stats.sem(data))
        assert block["ci95"] == approx([lo, hi])


def _p(test: Any) -> float | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = float(test().pvalue)
        except ValueError:
            return None
    return value if np.isfinite(value) else None


def assert_paired(block: dict[str, Any], deltas: Sequence[float | None]) -> None:
    """p_paired_t, p_wilcoxon and cohen_dz against SciPy's defaults."""
    data = np.array(known(deltas))
    varied = data.size >= 2 and data.std() > 0
    t = _p(lambda: stats.ttest_1samp(data, 0.0)) if varied else None
    w = _p(lambda: stats.wilcoxon(data)) if data.size >= 2 and np.any(data != 0) else None
    assert block["p_paired_t"] == (approx(t) if t is not None else None)
    assert block["p_wilcoxon"] == (approx(w) if w is not None else None)
    dz = data.mean() / data.std(ddof=1) if varied else None
    assert block["cohen_dz"] == (approx(dz) if dz is not None else None)


def assert_difference(block: dict[str, Any], a: Sequence[float], b: Sequence[float]) -> None:
    """Welch, Mann-Whitney and Hedges' g, first minus second."""
    x, y = np.array(a, dtype=float), np.array(b, dtype=float)
    assert block["mean_difference"] == approx(x.mean() - y.mean())
    assert block["p_welch"] == approx(stats.ttest_ind(x, y, equal_var=False).pvalue)
    assert block["p_mann_whitney"] == approx(stats.mannwhitneyu(x, y).pvalue)
    n1, n2 = x.size, y.size
    pooled = np.sqrt(((n1 - 1) * x.var(ddof=1) + (n2 - 1) * y.var(ddof=1)) / (n1 + n2 - 2))
    g = (x.mean() - y.mean()) / pooled * (1 - 3 / (4 * (n1 + n2) - 9))
    assert block["hedges_g"] == approx(g)
    se = np.sqrt(x.var(ddof=1) / n1 + y.var(ddof=1) / n2)
    df = se**4 / ((x.var(ddof=1) / n1) ** 2 / (n1 - 1) + (y.var(ddof=1) / n2) ** 2 / (n2 - 1))
    half = stats.t.ppf(0.975, df) * se
    assert block["ci95"] == approx([x.mean() - y.mean() - half, x.mean() - y.mean() + half])


def pct(k: int, n: int) -> float | None:
    return round(100 * k / n, 1) if n else None


def assert_same_body(summary: Any, extracted: Any, where: str) -> None:
    """Two analytics bodies are equal, floats to 1e-9: two paths may add the same values in
    another order."""
    if isinstance(summary, dict):
        assert isinstance(extracted, dict), where
        assert summary.keys() == extracted.keys(), where
        for key in summary:
            assert_same_body(summary[key], extracted[key], f"{where}.{key}")
    elif isinstance(summary, list):
        assert isinstance(extracted, list), where
        assert len(summary) == len(extracted), where
        for i, (a, b) in enumerate(zip(summary, extracted, strict=True)):
            assert_same_body(a, b, f"{where}[{i}]")
    elif isinstance(summary, float):
        assert extracted == pytest.approx(summary, rel=1e-9, abs=1e-12), where
    else:
        assert summary == extracted, where
