"""Random-intercept linear mixed model by REML, fitted from per-patient sufficient statistics."""

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from app.stats.describe import Block, finite_or_none

Array = npt.NDArray[np.float64]
Codes = npt.NDArray[np.intp]

MIXED_TERMS = ("Intercept", "month", "depressed", "month:depressed")
MIXED_MIN_PATIENTS = 3
# More points than parameters: four fixed effects plus the patient and residual variances.
MIXED_MIN_POINTS = 7
# γ = σ_u² / σ² is searched on log γ over this range, then γ = 0 is tried as well.
_LOG_GAMMA_GRID = np.linspace(-20.0, 20.0, 81)
_LOG_GAMMA_XATOL = 1e-10
_ROOT_BRACKET = 1e-4  # relative half-width around Brent's estimate for the score's root
_COLLINEAR = 1e-10


@dataclass(frozen=True)
class _Moments:
    """Everything REML needs, with z = (fixed-effects design, value) per point.

    ``within`` is Σ (z − z̄ᵢ)(z − z̄ᵢ)ᵀ over points (z̄ᵢ the patient's mean); patients are
    grouped by their number of points nₖ, with ``between[k]`` = Σ z̄ᵢ z̄ᵢᵀ over the group.
    """

    within: Array
    sizes: Array
    counts: Array
    between: Array
    n_points: int


@dataclass(frozen=True)
class _Profile:
    """REML log-likelihood at γ (σ² profiled out) with the GLS fixed effects there."""

    gamma: float
    loglike: float
    beta: Array
    xtvx: Array  # Xᵀ Ṽ⁻¹ X with Ṽᵢ = I + γ 11ᵀ
    rvr: float  # rᵀ Ṽ⁻¹ r at the GLS estimate


def _patient_codes(patient_ids: Sequence[Hashable] | npt.NDArray[Any]) -> Codes:
    """Codes 0..P−1 by patient; equal labels share a code whatever their order."""
    n = len(patient_ids)
    if n == 0:
        return np.empty(0, dtype=np.intp)
    if isinstance(patient_ids, np.ndarray):
        keys = patient_ids
    else:
        # Callers repeat one label object per patient in runs: runs are found by identity,
        # so only one label per run is hashed.
        keys = np.fromiter(map(id, patient_ids), dtype=np.uint64, count=n)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    if isinstance(patient_ids, np.ndarray):
        run_codes = np.unique(patient_ids[starts], return_inverse=True)[1]
    else:
        table: dict[Hashable, int] = {}
        run_codes = np.array(
            [table.setdefault(patient_ids[s], len(table)) for s in starts.tolist()]
        )
    return np.repeat(run_codes.astype(np.intp), np.diff(np.r_[starts, n]))


def _moments(codes: Codes, columns: list[Array]) -> _Moments:
    """Sufficient statistics of z = (1, *columns) per point; the last column is the value."""
    per_patient = np.bincount(codes)
    sums = [np.bincount(codes, weights=c, minlength=per_patient.size) for c in columns]
    means = np.column_stack([np.ones(per_patient.size), *sums])
    means[:, 1:] /= per_patient[:, None]
    totals = [float(c.sum()) for c in columns]
    raw = np.empty((len(columns) + 1, len(columns) + 1))
    raw[0] = raw[:, 0] = [float(codes.size), *totals]
    for i, a in enumerate(columns, start=1):
        for j, b in enumerate(columns[:i], start=1):
            raw[i, j] = raw[j, i] = float(np.dot(a, b))
    # Patients grouped by their number of points: Ṽᵢ⁻¹ depends on nothing else.
    order = np.argsort(per_patient, kind="stable")
    sizes, starts, counts = np.unique(per_patient[order], return_index=True, return_counts=True)
    by_size = means[order]
    between = np.stack(
        [by_size[i : i + c].T @ by_size[i : i + c] for i, c in zip(starts, counts, strict=True)]
    )
    return _Moments(
        within=raw - np.einsum("k,kij->ij", sizes.astype(np.float64), between),
        sizes=sizes.astype(np.float64),
        counts=counts.astype(np.float64),
        between=between,
        n_points=int(codes.size),
    )


def _gram(moments: _Moments, gamma: float) -> Array:
    """zᵀ Ṽ⁻¹ z summed over patients, with Ṽᵢ = I + γ 11ᵀ (Woodbury, per size group)."""
    factors = moments.sizes / (1.0 + moments.sizes * gamma)  # nₖ / (1 + nₖγ)
    gram: Array = moments.within + np.einsum("k,kij->ij", factors, moments.between)
    return gram


def _profile(moments: _Moments, gamma: float) -> _Profile:
    """Profiled REML log-likelihood (statsmodels' MixedLM, up to a constant)."""
    gram = _gram(moments, gamma)
    xtvx, xtvy, yvy = gram[:-1, :-1], gram[:-1, -1], gram[-1, -1]
    beta = np.asarray(np.linalg.solve(xtvx, xtvy), dtype=np.float64)
    rvr = float(yvy - xtvy @ beta)
    residual_df = moments.n_points - beta.size
    logdet = float(np.linalg.slogdet(xtvx)[1])
    logdet_v = float(moments.counts @ np.log1p(moments.sizes * gamma))
    if not rvr > 0:
        return _Profile(gamma, -math.inf, beta, xtvx, rvr)
    loglike = -0.5 * (logdet_v + logdet + residual_df * math.log(rvr))
    return _Profile(gamma, loglike, beta, xtvx, rvr)


@dataclass(frozen=True)
class _GroupTerms:
    """Per size group k, at a fit: the sums the derivatives in γ are made of."""

    q: Array  # 1 / (1 + nₖγ)
    e2: Array  # Σᵢ (1ᵀrᵢ)²
    xe: Array  # Σᵢ (Xᵢᵀ1)(1ᵀrᵢ)
    bxx: Array  # Σᵢ (Xᵢᵀ1)(1ᵀXᵢ)


def _group_terms(moments: _Moments, fit: _Profile) -> _GroupTerms:
    n = moments.sizes
    v = np.r_[-fit.beta, 1.0]
    bv = moments.between @ v
    return _GroupTerms(
        q=1.0 / (1.0 + n * fit.gamma),
        e2=n**2 * (bv @ v),
        xe=n[:, None] ** 2 * bv[:, :-1],
        bxx=n[:, None, None] ** 2 * moments.between[:, :-1, :-1],
    )


def _score(moments: _Moments, gamma: float) -> float:
    """dℓ/dγ of the profiled REML log-likelihood (β and σ² at their optimum for γ)."""
    fit = _profile(moments, gamma)
    t = _group_terms(moments, fit)
    df = moments.n_points - fit.beta.size
    r_g = -(t.q**2 @ t.e2)
    m_g = np.linalg.solve(fit.xtvx, -np.einsum("k,kij->ij", t.q**2, t.bxx))
    logdet_v_g = moments.counts @ (moments.sizes * t.q)
    return float(-0.5 * (logdet_v_g + df * r_g / fit.rvr + np.trace(m_g)))


def _maximise(moments: _Moments) -> tuple[_Profile, bool]:
    """REML estimate of γ: a grid on log γ, Brent's method around its best point, and γ = 0.

    Near its maximum the log-likelihood is flat to rounding over a relative 1e-7 in γ, so
    the estimate is finished on the root of the score, which stays sharp there.
    """
    from scipy import optimize  # imported on first use: SciPy adds ~1 s and 40 MB

    def objective(log_gamma: float) -> float:
        return -_profile(moments, math.exp(log_gamma)).loglike

    grid = [objective(t) for t in _LOG_GAMMA_GRID]
    best = int(np.argmin(grid))
    lo = _LOG_GAMMA_GRID[max(best - 1, 0)]
    hi = _LOG_GAMMA_GRID[min(best + 1, _LOG_GAMMA_GRID.size - 1)]
    found = optimize.minimize_scalar(
        objective, bounds=(lo, hi), method="bounded", options={"xatol": _LOG_GAMMA_XATOL}
    )
    gamma = math.exp(float(found.x))
    below, above = gamma * (1 - _ROOT_BRACKET), gamma * (1 + _ROOT_BRACKET)
    if _score(moments, below) > 0 > _score(moments, above):
        gamma = optimize.brentq(partial(_score, moments), below, above, xtol=1e-15 * gamma)
    interior = _profile(moments, gamma)
    boundary = _profile(moments, 0.0)
    if boundary.loglike >= interior.loglike:
        return boundary, bool(found.success)
    # A maximum against the top of the grid means no residual variance is left to estimate.
    return interior, bool(found.success) and best < _LOG_GAMMA_GRID.size - 1


def _hessian(moments: _Moments, fit: _Profile) -> Array:
    """Hessian of the REML log-likelihood in (β, γ) at the fit, as statsmodels' MixedLM has it.

    statsmodels takes its fixed-effects standard errors from this full matrix, so the
    coupling between β and γ enters them too.
    """
    n, t = moments.sizes, _group_terms(moments, fit)
    df = moments.n_points - fit.beta.size
    r, r_g, r_gg = fit.rvr, -(t.q**2 @ t.e2), 2 * (n * t.q**3) @ t.e2
    inverse = np.linalg.inv(fit.xtvx)
    m_g = inverse @ -np.einsum("k,kij->ij", t.q**2, t.bxx)
    m_gg = inverse @ np.einsum("k,kij->ij", 2 * n * t.q**3, t.bxx)
    h_gg = 0.5 * moments.counts @ (n * t.q) ** 2
    h_gg -= 0.5 * df * (r_gg / r - r_g**2 / r**2)
    h_gg -= 0.5 * (np.trace(m_gg) - np.trace(m_g @ m_g))
    h_bg = -df * (t.q**2 @ t.xe) / r
    return np.block([[-df * fit.xtvx / r, h_bg[:, None]], [h_bg[None, :], np.array([[h_gg]])]])


def _coefficients(beta: Array, variances: Array) -> Block:
    """``{term: {estimate, se, ci95, p}}`` with Wald z statistics, as MixedLM reports them."""
    from scipy import stats  # imported on first use: SciPy adds ~1 s and 40 MB

    z975 = float(stats.norm.ppf(0.975))
    result: Block = {}
    for term, estimate, variance in zip(MIXED_TERMS, beta.tolist(), variances, strict=True):
        se = math.sqrt(variance) if variance > 0 else None
        block: Block = {"estimate": finite_or_none(estimate), "se": finite_or_none(se)}
        block["ci95"] = None if se is None else [estimate - z975 * se, estimate + z975 * se]
        block["p"] = None if se is None else finite_or_none(2 * stats.norm.sf(abs(estimate) / se))
        result[term] = block
    return result


def _fixed_effects_variances(moments: _Moments, fit: _Profile) -> Array:
    """Diagonal of the inverse negative Hessian for β (NaN where it cannot be inverted)."""
    try:
        return np.diag(np.linalg.inv(-_hessian(moments, fit)))[: fit.beta.size]
    except np.linalg.LinAlgError:
        return np.full(fit.beta.size, np.nan)


def _full_rank(xtx: Array) -> bool:
    """Whether X has full column rank, judged on XᵀX scaled to unit diagonal.

    Exact collinearity (a constant month, a single depressed group) leaves an eigenvalue at
    rounding level; a design this model can use is nowhere near the 1e-10 threshold.
    """
    scale = np.sqrt(np.diag(xtx))
    if not np.all(scale > 0):
        return False
    eigenvalues = np.linalg.eigvalsh(xtx / np.outer(scale, scale))
    return bool(eigenvalues.min() > _COLLINEAR * eigenvalues.max())


def _fits_mixed_model(per_patient: Codes, value: Array) -> bool:
    """Minimal data for the model, but for the rank of the design: see :func:`mixed_model`."""
    return bool(
        per_patient.size >= MIXED_MIN_PATIENTS
        and value.size >= MIXED_MIN_POINTS
        and per_patient.max() >= 2
        and np.ptp(value) > 0
    )


def mixed_model(
    patient_ids: Sequence[Hashable] | npt.NDArray[Any],
    month: Sequence[float] | Array,
    depressed: Sequence[float] | Array,
    value: Sequence[float] | Array,
) -> Block | None:
    """Linear mixed model ``value ~ month * depressed + (1 | patient)`` by REML.

    The model and its output are those of statsmodels' MixedLM (REML): fixed effects by GLS,
    standard errors from the Hessian of the REML log-likelihood, Wald z p-values and normal
    95 % intervals. It is computed from per-patient sums, in a few vectorised passes over the
    points. Returns ``{term: {estimate, se, ci95, p}}`` for the terms in MIXED_TERMS plus
    ``converged``. Returns None unless there are at least MIXED_MIN_PATIENTS patients,
    MIXED_MIN_POINTS points, one patient with two points or more (else the patient and
    residual variances cannot be told apart), some variation in ``value``, and a full-rank
    fixed-effects design (``month`` varying, and varying within both ``depressed`` groups).
    """
    months, flags, values = (np.asarray(v, dtype=float) for v in (month, depressed, value))
    if not len(patient_ids) == months.size == flags.size == values.size:
        raise ValueError("patient_ids, month, depressed and value must have one entry per point")
    codes = _patient_codes(patient_ids)
    if not _fits_mixed_model(np.bincount(codes), values):
        return None
    # The value is centred so that its sums of squares lose no precision; only the intercept
    # moves with it.
    shift = float(values.mean())
    moments = _moments(codes, [months, flags, months * flags, values - shift])
    if not _full_rank(_gram(moments, 0.0)[:-1, :-1]):
        return None
    fit, converged = _maximise(moments)
    if not math.isfinite(fit.loglike):
        return None
    beta = fit.beta + np.r_[shift, np.zeros(fit.beta.size - 1)]
    return {"converged": converged, **_coefficients(beta, _fixed_effects_variances(moments, fit))}
