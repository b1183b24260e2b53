"""Regression models for analytics: OLS mediation with a bootstrap, and a linear mixed model."""

import math
import warnings
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from app.stats.describe import Block, finite_or_none

Array = npt.NDArray[np.float64]

MIXED_TERMS = ("Intercept", "month", "depressed", "month:depressed")
MIXED_MIN_PATIENTS = 3
# More points than parameters: four fixed effects plus the patient and residual variances.
MIXED_MIN_POINTS = 7
_BOOT_CHUNK_VALUES = 2_000_000  # bounds the memory of one batch of resampled designs


def _path(estimate: float | None, se: float | None, df: float) -> Block:
    """One coefficient as ``{estimate, se, ci95, p}``, with a two-sided t law on ``df``."""
    from scipy import stats  # imported on first use: SciPy adds ~1 s and 40 MB

    value = finite_or_none(estimate)
    block: Block = {"estimate": value, "se": None, "ci95": None, "p": None}
    if value is None or se is None or not math.isfinite(se):
        return block
    block["se"] = se
    if se == 0:
        block["ci95"] = [value, value]
        return block
    half = float(stats.t.ppf(0.975, df)) * se
    block["ci95"] = [value - half, value + half]
    block["p"] = finite_or_none(2 * stats.t.sf(abs(value / se), df))
    return block


def _ols(design: Array, target: Array) -> list[Block] | None:
    """OLS with classic standard errors, one path block per column; None if not identifiable."""
    n, k = design.shape
    if n < k or np.linalg.matrix_rank(design) < k:
        return None
    beta = np.linalg.lstsq(design, target, rcond=None)[0]
    if n == k:  # an exact fit leaves no degrees of freedom for the residual variance
        return [_path(float(b), None, 0) for b in beta]
    residual = target - design @ beta
    pinv = np.linalg.pinv(design)
    covariance = float(residual @ residual) / (n - k) * (pinv @ pinv.T)
    se = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    return [_path(float(b), float(s), n - k) for b, s in zip(beta, se, strict=True)]


def _batched_coefficient(designs: Array, targets: Array, column: int) -> Array:
    """Least-squares coefficient ``column`` for a stack of designs; NaN where rank-deficient."""
    u, s, vt = np.linalg.svd(designs, full_matrices=False)
    tolerance = s.max(axis=1) * max(designs.shape[1:]) * np.finfo(float).eps
    full_rank = np.all(s > tolerance[:, None], axis=1)
    projected = np.einsum("bnk,bn->bk", u, targets) / np.where(s > 0, s, 1.0)
    coefficient = np.einsum("bk,bk->b", vt[:, :, column], projected)
    return np.where(full_rank, coefficient, np.nan)


def _bootstrap_indirect(
    design_x: Array, design_xm: Array, m: Array, y: Array, n_boot: int, seed: int | None
) -> list[float] | None:
    """Percentile 95 % CI of a·b over patients resampled with replacement.

    Resamples whose design is singular (say, a constant exposure) are dropped.
    """
    n = m.size
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOT_CHUNK_VALUES // (n * design_xm.shape[1]))
    products: list[Array] = []
    for start in range(0, n_boot, chunk):
        rows = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        a = _batched_coefficient(design_x[rows], m[rows], column=1)
        b = _batched_coefficient(design_xm[rows], y[rows], column=2)
        products.append(a * b)
    indirect = np.concatenate(products) if products else np.empty(0)
    indirect = indirect[np.isfinite(indirect)]
    if indirect.size == 0:
        return None
    return [float(q) for q in np.percentile(indirect, [2.5, 97.5])]


def _mediation_paths(design_x: Array, design_xm: Array, m: Array, y: Array) -> dict[str, Block]:
    """Paths a (M ~ X + cov), c (Y ~ X + cov), and b, c' (Y ~ X + M + cov); X is column 1."""
    fit_a, fit_total, fit_direct = _ols(design_x, m), _ols(design_x, y), _ols(design_xm, y)
    empty = _path(None, None, 0)
    return {
        "a": fit_a[1] if fit_a else empty,
        "b": fit_direct[2] if fit_direct else empty,
        "c": fit_total[1] if fit_total else empty,
        "c_prime": fit_direct[1] if fit_direct else empty,
    }


def mediation(
    x: Sequence[float],
    m: Sequence[float],
    y: Sequence[float],
    covariates: Sequence[Sequence[float]] = (),
    *,
    n_boot: int = 2000,
    seed: int | None = None,
) -> Block:
    """Single-mediator analysis X → M → Y by OLS, adjusted for covariates (one row per patient).

    Paths: ``a`` (M ~ X + cov), ``b`` and ``c_prime`` (Y ~ X + M + cov), ``c`` (Y ~ X + cov),
    each ``{estimate, se, ci95, p}``. The indirect effect a·b gets a percentile bootstrap CI
    from ``numpy.random.default_rng(seed)``. Anything not identifiable from the data is None.
    """
    xv, mv, yv = (np.asarray(v, dtype=float) for v in (x, m, y))
    n = xv.size
    cov = np.asarray(covariates, dtype=float) if len(covariates) else np.empty((n, 0))
    if mv.size != n or yv.size != n or cov.ndim != 2 or cov.shape[0] != n:
        raise ValueError("x, m, y and covariates must have one entry per patient")
    ones = np.ones((n, 1))
    design_x = np.column_stack([ones, xv, cov])
    design_xm = np.column_stack([ones, xv, mv, cov])
    paths = _mediation_paths(design_x, design_xm, mv, yv)
    a, b, c = (paths[name]["estimate"] for name in ("a", "b", "c"))
    indirect = None if a is None or b is None else a * b
    ci95 = None
    if indirect is not None and n_boot > 0:
        ci95 = _bootstrap_indirect(design_x, design_xm, mv, yv, n_boot, seed)
    proportion = None if indirect is None or not c else finite_or_none(indirect / c)
    return {
        "n": n,
        "paths": paths,
        "indirect": {"estimate": indirect, "ci95": ci95},
        "proportion_mediated": proportion,
    }


def _mixed_design(month: Array, depressed: Array) -> Array:
    """Columns of ``value ~ month * depressed`` in formula order (see MIXED_TERMS)."""
    return np.column_stack([np.ones_like(month), month, depressed, month * depressed])


def _fits_mixed_model(groups: Array, design: Array, value: Array) -> bool:
    """Minimal data for the model: see :func:`mixed_model`."""
    _, per_patient = np.unique(groups, return_counts=True)
    return bool(
        per_patient.size >= MIXED_MIN_PATIENTS
        and value.size >= MIXED_MIN_POINTS
        and per_patient.max() >= 2
        and np.ptp(value) > 0
        and np.linalg.matrix_rank(design) == design.shape[1]
    )


def mixed_model(
    patient_ids: Sequence[Hashable],
    month: Sequence[float],
    depressed: Sequence[float],
    value: Sequence[float],
) -> Block | None:
    """Linear mixed model ``value ~ month * depressed + (1 | patient)`` by REML (MixedLM).

    Returns ``{term: {estimate, se, ci95, p}}`` for the terms in MIXED_TERMS (Wald intervals
    and p-values, as statsmodels reports them) plus ``converged``. Returns None unless there
    are at least MIXED_MIN_PATIENTS patients, MIXED_MIN_POINTS points, one patient with two
    points or more (else the patient and residual variances cannot be told apart), some
    variation in ``value``, and a full-rank fixed-effects design (``month`` varying, and
    varying within both ``depressed`` groups); or when statsmodels cannot fit it.
    """
    # Imported here: statsmodels adds about 0.25 s to start-up and only this model needs it.
    from statsmodels.regression.mixed_linear_model import MixedLM

    codes: dict[Hashable, int] = {}
    groups = np.array([codes.setdefault(pid, len(codes)) for pid in patient_ids], dtype=float)
    months, flags, values = (np.asarray(v, dtype=float) for v in (month, depressed, value))
    if not groups.size == months.size == flags.size == values.size:
        raise ValueError("patient_ids, month, depressed and value must have one entry per point")
    design = _mixed_design(months, flags)
    if not _fits_mixed_model(groups, design, values):
        return None
    with warnings.catch_warnings():
        # Non-convergence and boundary fits are reported through ``converged``, not warnings.
        warnings.simplefilter("ignore")
        try:
            fit = MixedLM(values, design, groups).fit(reml=True)
            return {"converged": bool(fit.converged), **_fixed_effects(fit)}
        except (ValueError, ArithmeticError):
            return None


def _fixed_effects(fit: Any) -> Block:
    """``{term: {estimate, se, ci95, p}}`` from a MixedLM result (variance rows skipped)."""
    estimates, se = np.asarray(fit.fe_params), np.asarray(fit.bse)
    intervals, pvalues = np.asarray(fit.conf_int()), np.asarray(fit.pvalues)
    result: Block = {}
    for i, term in enumerate(MIXED_TERMS):
        lo, hi = finite_or_none(intervals[i, 0]), finite_or_none(intervals[i, 1])
        result[term] = {
            "estimate": finite_or_none(estimates[i]),
            "se": finite_or_none(se[i]),
            "ci95": None if lo is None or hi is None else [lo, hi],
            "p": finite_or_none(pvalues[i]),
        }
    return result
