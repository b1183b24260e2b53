"""Mediation and mixed-model fits checked against NumPy least squares and statsmodels."""

import json
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from hypothesis import given, settings
from hypothesis import strategies as st

from app.stats import mediation, mixed_model
from app.stats.models import MIXED_TERMS

PATH_KEYS = {"estimate", "se", "ci95", "p"}


def approx(expected: object) -> object:
    return pytest.approx(expected, rel=1e-6, abs=1e-9)


def mediated_data(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    dose = rng.gamma(2.0, 1.5, n)
    age = rng.normal(50, 12, n)
    female = (rng.random(n) < 0.6).astype(float)
    hads = -0.5 * dose + 0.02 * age + rng.normal(0, 1, n)
    pain = 0.8 * hads - 0.2 * dose + 0.3 * female + rng.normal(0, 1, n)
    return {"x": dose, "m": hads, "y": pain, "cov": np.column_stack([age, female])}


def run(data: dict[str, np.ndarray], **kwargs: Any) -> dict[str, Any]:
    return mediation(data["x"], data["m"], data["y"], data["cov"].tolist(), **kwargs)


def lstsq(columns: list[np.ndarray], target: np.ndarray) -> np.ndarray:
    design = np.column_stack([np.ones_like(target), *columns])
    return np.linalg.lstsq(design, target, rcond=None)[0]


def full_rank(columns: list[np.ndarray]) -> bool:
    design = np.column_stack([np.ones_like(columns[0]), *columns])
    return bool(np.linalg.matrix_rank(design) == design.shape[1])


@settings(deadline=None, max_examples=40)
@given(st.integers(0, 2**32 - 1), st.integers(6, 80))
def test_path_estimates_equal_numpy_least_squares(seed: int, n: int) -> None:
    data = mediated_data(n, seed)
    x, m, y, cov = data["x"], data["m"], data["y"], list(data["cov"].T)
    paths = run(data, n_boot=0)["paths"]
    if full_rank([x, *cov]):
        assert paths["a"]["estimate"] == approx(lstsq([x, *cov], m)[1])
        assert paths["c"]["estimate"] == approx(lstsq([x, *cov], y)[1])
    else:  # small samples can be all female, say: the design is singular
        assert paths["a"]["estimate"] is None
        assert paths["c"]["estimate"] is None
    if full_rank([x, m, *cov]):
        direct = lstsq([x, m, *cov], y)
        assert paths["c_prime"]["estimate"] == approx(direct[1])
        assert paths["b"]["estimate"] == approx(direct[2])
    else:
        assert paths["c_prime"]["estimate"] is None
        assert paths["b"]["estimate"] is None


def test_paths_match_statsmodels_ols() -> None:
    data = mediated_data(150, 3)
    x, m, y, cov = data["x"], data["m"], data["y"], data["cov"]
    result = run(data, n_boot=0)
    fits = {
        ("a", 1): sm.OLS(m, sm.add_constant(np.column_stack([x, cov]))).fit(),
        ("c", 1): sm.OLS(y, sm.add_constant(np.column_stack([x, cov]))).fit(),
        ("c_prime", 1): sm.OLS(y, sm.add_constant(np.column_stack([x, m, cov]))).fit(),
        ("b", 2): sm.OLS(y, sm.add_constant(np.column_stack([x, m, cov]))).fit(),
    }
    for (name, column), fit in fits.items():
        path = result["paths"][name]
        assert set(path) == PATH_KEYS
        assert path["estimate"] == approx(fit.params[column])
        assert path["se"] == approx(fit.bse[column])
        assert path["p"] == approx(fit.pvalues[column])
        assert path["ci95"] == approx(list(fit.conf_int()[column]))
    a, b, c = (result["paths"][k]["estimate"] for k in ("a", "b", "c"))
    assert result["indirect"]["estimate"] == approx(a * b)
    assert result["proportion_mediated"] == approx(a * b / c)
    assert result["n"] == 150


def test_bootstrap_equals_a_per_replicate_least_squares_reference() -> None:
    data = mediated_data(60, 5)
    x, m, y, cov = data["x"], data["m"], data["y"], list(data["cov"].T)
    result = run(data, n_boot=300, seed=42)
    rows = np.random.default_rng(42).integers(0, 60, size=(300, 60))
    products = [
        lstsq([x[r], *(c[r] for c in cov)], m[r])[1]
        * lstsq([x[r], m[r], *(c[r] for c in cov)], y[r])[2]
        for r in rows
    ]
    assert result["indirect"]["ci95"] == approx(list(np.percentile(products, [2.5, 97.5])))


def test_bootstrap_is_deterministic_by_seed_and_covers_the_estimate() -> None:
    data = mediated_data(300, 9)
    first, again, other = run(data, seed=7), run(data, seed=7), run(data, seed=8)
    assert first == again
    assert first["indirect"]["ci95"] != other["indirect"]["ci95"]
    lo, hi = first["indirect"]["ci95"]
    assert lo < first["indirect"]["estimate"] < hi
    json.dumps(first, allow_nan=False)


@pytest.mark.parametrize("covariates", [[], [[]] * 40])
def test_no_covariates(covariates: list[list[float]]) -> None:
    data = mediated_data(40, 1)
    x, m, y = data["x"], data["m"], data["y"]
    result = mediation(x, m, y, covariates, n_boot=50, seed=1)
    assert result["paths"]["a"]["estimate"] == approx(lstsq([x], m)[1])
    assert result["paths"]["b"]["estimate"] == approx(lstsq([x, m], y)[2])
    assert result["indirect"]["ci95"] is not None


def test_constant_exposure_identifies_nothing() -> None:
    data = mediated_data(30, 2)
    result = mediation(np.ones(30), data["m"], data["y"], data["cov"].tolist(), seed=1)
    assert all(path == dict.fromkeys(PATH_KEYS) for path in result["paths"].values())
    assert result["indirect"] == {"estimate": None, "ci95": None}
    assert result["proportion_mediated"] is None


@pytest.mark.parametrize("n", [0, 1, 3])
def test_too_few_patients_for_the_parameters(n: int) -> None:
    data = mediated_data(n, 4)
    result = run(data, seed=1)
    assert result["n"] == n
    assert result["paths"]["b"] == dict.fromkeys(PATH_KEYS)
    assert result["proportion_mediated"] is None


def test_exact_fit_gives_estimates_without_uncertainty() -> None:
    data = mediated_data(4, 6)  # 4 patients, 4 parameters in the a and c models
    paths = run(data, n_boot=0)["paths"]
    assert paths["a"]["estimate"] == approx(lstsq([data["x"], *data["cov"].T], data["m"])[1])
    assert paths["a"]["se"] is None
    assert paths["a"]["p"] is None
    assert paths["b"]["estimate"] is None


def test_mismatched_lengths_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="one entry per patient"):
        mediation([1.0, 2.0], [1.0], [1.0, 2.0], seed=1)


def trajectory(n_patients: int, seed: int) -> dict[str, list[Any]]:
    rng = np.random.default_rng(seed)
    months = rng.integers(2, 13, n_patients)
    depressed = (rng.random(n_patients) < 0.4).astype(int)
    level = rng.normal(0, 1.5, n_patients)
    data: dict[str, list[Any]] = {"patient": [], "month": [], "depressed": [], "value": []}
    for p in range(n_patients):
        for month in range(int(months[p])):
            slope = -0.25 - 0.05 * depressed[p]
            value = 6 + depressed[p] + level[p] + slope * month + rng.normal(0, 0.8)
            data["patient"].append(f"patient-{p}")
            data["month"].append(float(month))
            data["depressed"].append(int(depressed[p]))
            data["value"].append(float(value))
    return data


@pytest.mark.parametrize(("n_patients", "seed"), [(12, 1), (60, 2), (200, 3)])
def test_mixed_model_matches_statsmodels(n_patients: int, seed: int) -> None:
    data = trajectory(n_patients, seed)
    result = mixed_model(data["patient"], data["month"], data["depressed"], data["value"])
    frame = pd.DataFrame(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.mixedlm("value ~ month * depressed", frame, groups=frame["patient"]).fit()
    assert result is not None
    assert result["converged"] is bool(fit.converged)
    for term in MIXED_TERMS:
        assert result[term]["estimate"] == approx(fit.fe_params[term])
        assert result[term]["se"] == approx(fit.bse[term])
        assert result[term]["p"] == approx(fit.pvalues[term])
        assert result[term]["ci95"] == approx(list(fit.conf_int().loc[term]))
    json.dumps(result, allow_nan=False)


def test_mixed_model_ignores_how_patients_are_labelled() -> None:
    data = trajectory(30, 4)
    numbered = [int(p.split("-")[1]) for p in data["patient"]]
    named = mixed_model(data["patient"], data["month"], data["depressed"], data["value"])
    assert named is not None
    renamed = mixed_model(numbered, data["month"], data["depressed"], data["value"])
    assert renamed is not None
    for term in MIXED_TERMS:
        assert renamed[term]["estimate"] == approx(named[term]["estimate"])


def without(data: dict[str, list[Any]], **changes: list[Any]) -> dict[str, list[Any]]:
    return {**data, **changes}


@pytest.mark.parametrize(
    "change",
    [
        "two_patients",
        "one_point_each",
        "all_depressed",
        "constant_month",
        "constant_value",
    ],
)
def test_mixed_model_declines_data_it_cannot_fit(change: str) -> None:
    data = trajectory(20, 5)
    size = len(data["value"])
    if change == "two_patients":
        data = without(data, patient=["a" if i % 2 else "b" for i in range(size)])
    elif change == "one_point_each":
        data = without(data, patient=[str(i) for i in range(size)])
    elif change == "all_depressed":
        data = without(data, depressed=[1] * size)
    elif change == "constant_month":
        data = without(data, month=[3.0] * size)
    else:
        data = without(data, value=[4.0] * size)
    assert mixed_model(data["patient"], data["month"], data["depressed"], data["value"]) is None


def test_mixed_model_on_a_boundary_fit_reports_without_warning() -> None:
    data = trajectory(25, 6)
    # No patient-level variation at all: the random-intercept variance sits on its boundary,
    # where statsmodels warns and retries other optimizers.
    rng = np.random.default_rng(6)
    data["value"] = [2.0 - 0.1 * m + rng.normal(0, 1) for m in data["month"]]
    result = mixed_model(data["patient"], data["month"], data["depressed"], data["value"])
    frame = pd.DataFrame(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = smf.mixedlm("value ~ month * depressed", frame, groups=frame["patient"]).fit()
    assert caught, "the reference fit should have warned on this data"
    assert result is not None
    assert set(result) == {*MIXED_TERMS, "converged"}
    assert result["converged"] is bool(fit.converged)
    assert result["month"]["estimate"] == approx(fit.fe_params["month"])
    json.dumps(result, allow_nan=False)


def test_mixed_model_mismatched_lengths_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="one entry per point"):
        mixed_model(["a", "b"], [0.0, 1.0], [0, 1], [1.0])
