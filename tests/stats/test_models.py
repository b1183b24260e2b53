"""Mediation paths and bootstrap checked against NumPy least squares and statsmodels OLS."""

import json
from typing import Any

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from app.stats import mediation
from app.stats.bootstrap import STREAM_REPLICATES, resample_counts

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


def reference_bootstrap(
    data: dict[str, np.ndarray], n_boot: int, seed: int
) -> tuple[list[float], int]:
    """Percentile CI of a·b from one least-squares fit per resample, and how many were fit."""
    x, m, y, cov = data["x"], data["m"], data["y"], list(data["cov"].T)
    # The documented draws: replicate r is the (r mod k)-th draw of the (r // k)-th stream.
    streams = np.random.default_rng(seed).spawn(-(-n_boot // STREAM_REPLICATES))
    products = []
    for replicate in range(n_boot):
        r = streams[replicate // STREAM_REPLICATES].integers(0, x.size, size=x.size)
        columns = [x[r], *(c[r] for c in cov)]
        if not full_rank([*columns, m[r]]):
            continue  # a resample whose design is singular is dropped
        products.append(lstsq(columns, m[r])[1] * lstsq([*columns, m[r]], y[r])[-1])
    return [float(q) for q in np.percentile(products, [2.5, 97.5])], len(products)


# 4,000 patients take more than one batch of replicates per stream; 130 replicates, three
# streams.
@pytest.mark.parametrize(
    ("n", "n_boot", "seed"), [(60, 300, 42), (4_000, 600, 3), (20_001, 130, 4)]
)
def test_bootstrap_equals_a_per_replicate_least_squares_reference(
    n: int, n_boot: int, seed: int
) -> None:
    data = mediated_data(n, 5)
    result = run(data, n_boot=n_boot, seed=seed)
    ci95, fitted = reference_bootstrap(data, n_boot, seed)
    assert fitted == n_boot
    assert result["indirect"]["ci95"] == approx(ci95)


def test_bootstrap_drops_singular_resamples_as_the_reference_does() -> None:
    data = mediated_data(9, 8)
    # One woman among nine: about a third of the resamples leave her out, and with her
    # the female covariate, which makes their design singular.
    data["cov"][:, 1] = [1.0] + [0.0] * 8
    result = run(data, n_boot=400, seed=11)
    ci95, fitted = reference_bootstrap(data, 400, seed=11)
    assert 200 < fitted < 400
    assert result["indirect"]["ci95"] == approx(ci95)


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


class _OnePatientDrawn(np.random.Generator):
    """A generator whose every draw is patient 0: a count far beyond what a byte holds."""

    def integers(self, low: Any, high: Any = None, size: Any = None, **_: Any) -> Any:
        return np.zeros(size, dtype=np.int64)


@pytest.mark.parametrize("n", [1, 2, 255, 1_000])
def test_resample_counts_are_the_bincounts_of_the_documented_draws(n: int) -> None:
    counts = resample_counts(np.random.default_rng(n), np.full((3, n), -1.0))
    twin = np.random.default_rng(n)
    expected = [np.bincount(twin.integers(0, n, size=n), minlength=n) for _ in range(3)]
    assert counts.tolist() == np.asarray(expected, dtype=float).tolist()


@pytest.mark.parametrize("n", [255, 256, 300, 70_000])
def test_resample_counts_survive_a_patient_drawn_more_often_than_a_byte_holds(n: int) -> None:
    counts = resample_counts(_OnePatientDrawn(np.random.PCG64(0)), np.zeros((2, n)))
    assert counts[:, 0].tolist() == [n, n]
    assert not counts[:, 1:].any()
