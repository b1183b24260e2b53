"""Paired and two-group comparisons checked against SciPy's default tests."""

import json
import statistics
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from app.stats import compare_groups, paired_tests

scores = st.lists(st.integers(-10, 10).map(float), max_size=40)
PAIRED = ("p_paired_t", "p_wilcoxon", "cohen_dz")
GROUPS = ("mean_difference", "ci95", "p_welch", "p_mann_whitney", "hedges_g")


def approx(expected: object) -> object:
    return pytest.approx(expected, rel=1e-6, abs=1e-12)


def reference(test: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return test()


def hedges_reference(a: list[float], b: list[float]) -> float:
    n1, n2 = len(a), len(b)
    var1 = statistics.variance(a) if n1 > 1 else 0.0
    var2 = statistics.variance(b) if n2 > 1 else 0.0
    pooled = ((n1 - 1) * var1 + (n2 - 1) * var2) / (n1 + n2 - 2)
    correction = 1 - 3 / (4 * (n1 + n2) - 9)
    return (statistics.fmean(a) - statistics.fmean(b)) / pooled**0.5 * correction


def assert_paired_matches_scipy(deltas: list[float]) -> None:
    result = paired_tests(deltas)
    assert set(result) == set(PAIRED)
    if len(deltas) < 2:
        assert all(result[key] is None for key in PAIRED)
        return
    if any(deltas):
        assert result["p_wilcoxon"] == approx(reference(lambda: sps.wilcoxon(deltas).pvalue))
    else:
        assert result["p_wilcoxon"] is None
    if len(set(deltas)) > 1:
        assert result["p_paired_t"] == approx(reference(lambda: sps.ttest_1samp(deltas, 0).pvalue))
        dz = statistics.fmean(deltas) / statistics.stdev(deltas)
        assert result["cohen_dz"] == approx(dz)
    else:
        assert result["p_paired_t"] is None
        assert result["cohen_dz"] is None
    json.dumps(result, allow_nan=False)


@settings(deadline=None)
@given(scores)
def test_paired_tests_match_scipy_on_scores_with_ties_and_zeros(deltas: list[float]) -> None:
    assert_paired_matches_scipy(deltas)


@pytest.mark.parametrize("n", [2, 3, 25, 60, 400])
def test_paired_tests_match_scipy_on_normal_data(n: int) -> None:
    assert_paired_matches_scipy(np.random.default_rng(n).normal(-1.0, 2.0, n).tolist())


@pytest.mark.parametrize("deltas", [[], [3.0], [0.0]])
def test_paired_tests_need_two_deltas(deltas: list[float]) -> None:
    assert paired_tests(deltas) == dict.fromkeys(PAIRED)


def test_all_zero_deltas_have_no_statistic() -> None:
    assert paired_tests([0.0] * 12) == dict.fromkeys(PAIRED)


def test_constant_nonzero_deltas_keep_only_wilcoxon() -> None:
    result = paired_tests([-2.0] * 9)
    assert result["p_paired_t"] is None
    assert result["cohen_dz"] is None
    assert result["p_wilcoxon"] == approx(sps.wilcoxon([-2.0] * 9).pvalue)


def assert_groups_match_scipy(a: list[float], b: list[float]) -> None:
    result = compare_groups(a, b)
    assert set(result) == set(GROUPS)
    if not a or not b:
        assert all(result[key] is None for key in GROUPS)
        return
    assert result["mean_difference"] == approx(statistics.fmean(a) - statistics.fmean(b))
    assert result["p_mann_whitney"] == approx(reference(lambda: sps.mannwhitneyu(a, b).pvalue))
    spread = len(set(a)) > 1 or len(set(b)) > 1
    if len(a) >= 2 and len(b) >= 2 and spread:
        welch = reference(lambda: sps.ttest_ind(a, b, equal_var=False))
        assert result["p_welch"] == approx(welch.pvalue)
        ci = reference(lambda: welch.confidence_interval(confidence_level=0.95))
        assert result["ci95"] == approx([ci.low, ci.high])
    else:
        assert result["p_welch"] is None
        assert result["ci95"] is None
    if len(a) + len(b) > 2 and spread:
        assert result["hedges_g"] == approx(hedges_reference(a, b))
    else:
        assert result["hedges_g"] is None
    json.dumps(result, allow_nan=False)


@settings(deadline=None)
@given(scores, scores)
def test_group_comparison_matches_scipy_on_scores(a: list[float], b: list[float]) -> None:
    assert_groups_match_scipy(a, b)


@pytest.mark.parametrize(("n1", "n2"), [(2, 2), (5, 40), (120, 80), (300, 310)])
def test_group_comparison_matches_scipy_on_normal_data(n1: int, n2: int) -> None:
    rng = np.random.default_rng(n1 * 1000 + n2)
    assert_groups_match_scipy(rng.normal(3, 2, n1).tolist(), rng.normal(2, 3, n2).tolist())


def test_difference_is_first_minus_second() -> None:
    rng = np.random.default_rng(11)
    a, b = rng.normal(5, 1, 30).tolist(), rng.normal(0, 1, 30).tolist()
    forward, backward = compare_groups(a, b), compare_groups(b, a)
    assert forward["mean_difference"] > 0
    assert forward["hedges_g"] == approx(-backward["hedges_g"])
    assert forward["ci95"] == approx([-backward["ci95"][1], -backward["ci95"][0]])


@pytest.mark.parametrize(("a", "b"), [([4.0], [1.0, 2.0, 6.0]), ([1.0, 2.0, 6.0], [4.0])])
def test_group_of_one_has_no_welch_statistics(a: list[float], b: list[float]) -> None:
    result = compare_groups(a, b)
    assert result["ci95"] is None
    assert result["p_welch"] is None
    assert result["hedges_g"] == approx(hedges_reference(a, b))
    assert_groups_match_scipy(a, b)


def test_constant_groups_have_only_location_statistics() -> None:
    result = compare_groups([2.0] * 5, [1.0] * 7)
    assert result["mean_difference"] == 1.0
    assert result["ci95"] is None
    assert result["p_welch"] is None
    assert result["hedges_g"] is None
    assert result["p_mann_whitney"] == approx(sps.mannwhitneyu([2.0] * 5, [1.0] * 7).pvalue)


def test_empty_group_has_no_statistic() -> None:
    assert compare_groups([], [1.0, 2.0]) == dict.fromkeys(GROUPS)
    assert compare_groups([1.0, 2.0], []) == dict.fromkeys(GROUPS)
