"""Single-mediator analysis for analytics: OLS paths and a bootstrap of the indirect effect."""

import math

import numpy as np
import numpy.typing as npt

from app.stats.bootstrap import indirect_ci
from app.stats.describe import Block, finite_or_none

Array = npt.NDArray[np.float64]


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
    """OLS with classic standard errors, one path block per column; None if not identifiable.

    One SVD serves the rank test, the estimates and the covariance, with the tolerance of
    ``numpy.linalg.matrix_rank`` and ``lstsq``.
    """
    n, k = design.shape
    if n < k:
        return None
    u, s, vt = np.linalg.svd(design, full_matrices=False)
    if not s.size or s.min() <= s.max() * max(n, k) * np.finfo(float).eps:
        return None
    beta = vt.T @ ((u.T @ target) / s)
    if n == k:  # an exact fit leaves no degrees of freedom for the residual variance
        return [_path(float(b), None, 0) for b in beta]
    residual = target - design @ beta
    variance = float(residual @ residual) / (n - k) * ((vt.T / s) ** 2).sum(axis=1)
    se = np.sqrt(np.clip(variance, 0.0, None))
    return [_path(float(b), float(e), n - k) for b, e in zip(beta, se, strict=True)]


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
    x: npt.ArrayLike,
    m: npt.ArrayLike,
    y: npt.ArrayLike,
    covariates: npt.ArrayLike = (),
    *,
    n_boot: int = 2000,
    seed: int | None = None,
) -> Block:
    """Single-mediator analysis X → M → Y by OLS, adjusted for covariates (one row per patient).

    Paths: ``a`` (M ~ X + cov), ``b`` and ``c_prime`` (Y ~ X + M + cov), ``c`` (Y ~ X + cov),
    each ``{estimate, se, ci95, p}``. The indirect effect a·b gets a percentile bootstrap CI
    from random streams spawned by ``numpy.random.default_rng(seed)`` (see
    :func:`app.stats.bootstrap.indirect_ci`). Anything not identifiable from the data is None.
    """
    xv, mv, yv = (np.asarray(v, dtype=float) for v in (x, m, y))
    n = xv.size
    cov = np.asarray(covariates, dtype=float)
    if cov.size == 0:
        cov = np.empty((n, 0))
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
        ci95 = indirect_ci(design_x, mv, yv, n_boot, seed)
    proportion = None if indirect is None or not c else finite_or_none(indirect / c)
    return {
        "n": n,
        "paths": paths,
        "indirect": {"estimate": indirect, "ci95": ci95},
        "proportion_mediated": proportion,
    }
