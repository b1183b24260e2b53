"""The REML random-intercept model checked against statsmodels' MixedLM on the same data."""

import contextlib
import json
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from hypothesis import given, settings
from hypothesis import strategies as st

from app.stats import mixed_model
from app.stats.mixed import MIXED_TERMS

Data = dict[str, Any]


def approx(expected: object) -> object:
    return pytest.approx(expected, rel=1e-6, abs=1e-9)


def panel(
    seed: int,
    n_patients: int,
    *,
    points: tuple[int, int] = (2, 13),
    patient_sd: float = 1.5,
    no_patient_effect: bool = False,
) -> Data:
    """Monthly values: 0..k−1 months per patient, k drawn from ``points`` (inclusive)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(points[0], points[1] + 1, n_patients)
    patient = np.repeat(np.arange(n_patients), sizes)
    month = np.concatenate([np.arange(k) for k in sizes]).astype(float)
    depressed = (rng.random(n_patients) < 0.4).astype(float)[patient]
    noise = rng.normal(0, 0.8, patient.size)
    level = rng.normal(0, patient_sd, n_patients)[patient]
    if no_patient_effect:
        # Patients' mean noise all zero: less spread between patients than noise alone gives,
        # so REML puts the random-intercept variance on its boundary, zero.
        noise -= (np.bincount(patient, noise) / sizes)[patient]
        level = np.zeros(patient.size)
    value = 6 + depressed + level - (0.25 + 0.05 * depressed) * month + noise
    return {
        "patient": [f"patient-{p}" for p in patient],
        "month": month.tolist(),
        "depressed": depressed.tolist(),
        "value": value.tolist(),
    }


def fit(data: Data) -> dict[str, Any] | None:
    return mixed_model(data["patient"], data["month"], data["depressed"], data["value"])


def reference(data: Data, **options: Any) -> Any:
    """statsmodels' MixedLM by REML, its optimiser run to a tight tolerance."""
    frame = pd.DataFrame(data)
    model = smf.mixedlm("value ~ month * depressed", frame, groups=frame["patient"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # boundary and Hessian warnings on boundary fits
        return model.fit(reml=True, **(options or {"gtol": 1e-12}))


def best_reference(data: Data) -> Any:
    """statsmodels' best REML fit over several optimisers.

    Near the zero-variance boundary its default gradient method can stop short of the
    maximum (a lower log-likelihood than Powell's); the reference is whichever fit is highest.
    """
    fits = [reference(data)]
    for method in ("powell", "nm"):
        with contextlib.suppress(Exception):
            fits.append(reference(data, method=[method], maxiter=20_000))
    return max(fits, key=lambda f: f.llf)


def assert_matches(result: dict[str, Any] | None, expected: Any) -> None:
    assert result is not None
    assert result["converged"] is True
    intervals = expected.conf_int()
    for term in MIXED_TERMS:
        assert result[term]["estimate"] == approx(expected.fe_params[term])
        if np.isnan(expected.bse[term]):  # no standard error at this fit: None, never NaN
            assert (result[term]["se"], result[term]["p"], result[term]["ci95"]) == (None,) * 3
            continue
        assert result[term]["se"] == approx(expected.bse[term])
        assert result[term]["p"] == approx(expected.pvalues[term])
        # A bound near zero is compared on the scale of its interval, not relative to itself.
        scale = 1e-6 * expected.bse[term]
        bounds = pytest.approx(list(intervals.loc[term]), rel=1e-6, abs=scale)
        assert result[term]["ci95"] == bounds
    json.dumps(result, allow_nan=False)


@pytest.mark.parametrize(
    ("case", "data"),
    [
        ("balanced", panel(1, 40, points=(13, 13))),
        ("unbalanced", panel(2, 60)),
        ("one point for many", panel(3, 50, points=(1, 6))),
        ("one or two points", panel(4, 300, points=(1, 2))),
        ("tiny", panel(6, 4, points=(1, 3))),
        ("many patients", panel(5, 2_000)),
    ],
)
def test_matches_statsmodels_mixedlm(case: str, data: Data) -> None:
    assert_matches(fit(data), reference(data))


def test_zero_patient_variance_matches_statsmodels_at_the_boundary() -> None:
    data = panel(7, 30, no_patient_effect=True)
    # Powell's method, unlike the default BFGS, walks the variance down to the boundary.
    expected = reference(data, method="powell")
    assert float(expected.cov_re.iloc[0, 0]) < 1e-6 * expected.scale
    assert_matches(fit(data), expected)


def test_the_boundary_fit_is_ordinary_least_squares() -> None:
    data = panel(7, 30, no_patient_effect=True)
    design = np.column_stack(
        [
            np.ones(len(data["month"])),
            data["month"],
            data["depressed"],
            np.multiply(data["month"], data["depressed"]),
        ]
    )
    ols = np.linalg.lstsq(design, np.asarray(data["value"]), rcond=None)[0]
    result = fit(data)
    assert result is not None
    assert [result[term]["estimate"] for term in MIXED_TERMS] == approx(list(ols))


@settings(deadline=None, max_examples=15)
@given(st.integers(0, 2**32 - 1), st.integers(8, 120), st.integers(1, 13))
def test_matches_statsmodels_on_random_panels(seed: int, n_patients: int, most: int) -> None:
    data = panel(seed, n_patients, points=(1, most))
    result = fit(data)
    if result is None:  # say, every patient in one depressed group, or one point each
        return
    assert_matches(result, best_reference(data))


def test_patients_are_told_apart_by_label_not_by_position() -> None:
    data = panel(8, 30)
    named = fit(data)
    assert named is not None
    order = np.random.default_rng(8).permutation(len(data["value"]))
    shuffled = {key: [column[i] for i in order] for key, column in data.items()}
    numbered = np.array([int(p.split("-")[1]) for p in shuffled["patient"]])
    for patients in (shuffled["patient"], numbered):
        again = mixed_model(patients, shuffled["month"], shuffled["depressed"], shuffled["value"])
        assert again is not None
        for term in MIXED_TERMS:
            assert again[term]["estimate"] == approx(named[term]["estimate"])
            assert again[term]["se"] == approx(named[term]["se"])


def test_arrays_and_lists_give_the_same_fit() -> None:
    data = panel(9, 25)
    codes = np.array([int(p.split("-")[1]) for p in data["patient"]])
    arrays = mixed_model(
        codes, np.array(data["month"]), np.array(data["depressed"]), np.array(data["value"])
    )
    assert arrays == fit(data)


def test_no_residual_variance_left_is_not_reported_as_converged() -> None:
    data = panel(10, 20)
    rng = np.random.default_rng(10)
    levels = {p: rng.normal(0, 2) for p in set(data["patient"])}
    # Values on a patient's own line, up to rounding: all variance is between patients.
    data["value"] = [
        levels[p] - 0.3 * m + 1e-9 * rng.normal()
        for p, m in zip(data["patient"], data["month"], strict=True)
    ]
    result = fit(data)
    assert result is not None
    assert result["converged"] is False
    json.dumps(result, allow_nan=False)


def without(data: Data, **changes: list[Any]) -> Data:
    return {**data, **changes}


@pytest.mark.parametrize(
    "change",
    ["two_patients", "one_point_each", "all_depressed", "constant_month", "constant_value"],
)
def test_declines_data_it_cannot_fit(change: str) -> None:
    data = panel(11, 20)
    size = len(data["value"])
    if change == "two_patients":
        data = without(data, patient=["a" if i % 2 else "b" for i in range(size)])
    elif change == "one_point_each":
        data = without(data, patient=[str(i) for i in range(size)])
    elif change == "all_depressed":
        data = without(data, depressed=[1.0] * size)
    elif change == "constant_month":
        data = without(data, month=[3.0] * size)
    else:
        data = without(data, value=[4.0] * size)
    assert fit(data) is None


def test_minimal_data_is_fitted() -> None:
    # Three patients, seven points, month varying within both groups.
    data: Data = {
        "patient": ["a", "a", "a", "b", "b", "c", "c"],
        "month": [0.0, 1.0, 2.0, 0.0, 1.0, 0.0, 2.0],
        "depressed": [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
        "value": [5.0, 4.5, 3.0, 6.0, 5.5, 7.0, 4.0],
    }
    result = fit(data)
    assert result is not None
    assert set(result) == {*MIXED_TERMS, "converged"}
    json.dumps(result, allow_nan=False)
    assert fit({key: column[:-1] for key, column in data.items()}) is None  # six points


def test_mismatched_lengths_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="one entry per point"):
        mixed_model(["a", "b"], [0.0, 1.0], [0, 1], [1.0])
