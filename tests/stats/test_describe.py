"""Descriptive statistics blocks checked against NumPy, SciPy and the statistics module."""

import json
import statistics
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from app.stats import describe, proportion

FIELDS = ("n", "mean", "sd", "ci95", "median", "q1", "q3", "min", "max")
finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)


def approx(expected: object) -> object:
    return pytest.approx(expected, rel=1e-6, abs=1e-9)


def assert_matches_references(values: list[float]) -> None:
    block = describe(values)
    data = np.asarray(values, dtype=float)
    assert set(block) == set(FIELDS)
    assert block["n"] == len(values)
    assert block["mean"] == approx(statistics.fmean(values))
    assert block["median"] == approx(statistics.median(values))
    assert block["min"] == min(values)
    assert block["max"] == max(values)
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    assert block["q1"] == approx(q1)
    assert block["q3"] == approx(q3)
    assert block["sd"] == approx(statistics.stdev(values))
    if block["sd"] > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SciPy warns on nearly identical values
            lo, hi = sps.t.interval(0.95, len(values) - 1, loc=data.mean(), scale=sps.sem(data))
        assert block["ci95"] == approx([lo, hi])
    else:
        assert block["ci95"] == [block["mean"], block["mean"]]
    json.dumps(block, allow_nan=False)


@settings(deadline=None)
@given(st.lists(finite, min_size=2, max_size=60))
def test_matches_references_on_arbitrary_vectors(values: list[float]) -> None:
    assert_matches_references(values)


@pytest.mark.parametrize("n", [2, 3, 30, 500])
def test_matches_references_on_normal_data(n: int) -> None:
    values = np.random.default_rng(n).normal(5.0, 2.0, n).tolist()
    assert_matches_references(values)


def test_matches_references_with_many_ties() -> None:
    values = np.random.default_rng(7).integers(0, 4, 41).astype(float).tolist()
    assert_matches_references(values)


def test_empty_vector_has_only_n() -> None:
    block = describe([])
    assert block["n"] == 0
    assert all(block[field] is None for field in FIELDS if field != "n")


def test_single_value_has_no_spread() -> None:
    block = describe([4.0])
    assert block["n"] == 1
    assert [block[f] for f in ("mean", "median", "q1", "q3", "min", "max")] == [4.0] * 6
    assert block["sd"] is None
    assert block["ci95"] is None


@pytest.mark.parametrize("value", [0.0, 3.0, 0.1, -7.25])
def test_identical_values_have_zero_sd_and_degenerate_interval(value: float) -> None:
    block = describe([value] * 5)
    assert block["sd"] == 0.0
    assert block["ci95"] == [block["mean"], block["mean"]]
    assert block["mean"] == approx(value)


def test_values_are_plain_python_numbers() -> None:
    block = describe(np.arange(10, dtype=np.float32))
    assert type(block["n"]) is int
    for field in FIELDS[1:]:
        values = block[field] if isinstance(block[field], list) else [block[field]]
        assert all(type(v) is float for v in values)


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_proportion_matches_definition(k: int, n: int) -> None:
    result = proportion(min(k, n), n)
    assert result["n"] == min(k, n)
    if n == 0:
        assert result["pct"] is None
    else:
        assert result["pct"] == pytest.approx(100 * min(k, n) / n, abs=0.05 + 1e-9)
        assert result["pct"] == round(result["pct"], 1)
        assert 0.0 <= result["pct"] <= 100.0
