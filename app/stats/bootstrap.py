"""Percentile bootstrap of an indirect effect a·b, from count-weighted cross-products."""

from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
Index = npt.NDArray[np.intp]

# Replicates drawn from one random stream (see indirect_ci); streams are worked in parallel.
STREAM_REPLICATES = 64
_WORKERS = 2
# Resampling counts one worker holds at once (8 bytes each, 25.6 MB): bounds the memory
# whatever the cohort size.
_CHUNK_VALUES = 3_200_000
# A resample whose scaled design has an eigenvalue below this fraction of the largest is
# collinear (say, only women drawn): exact collinearity lands at rounding level, far below.
_COLLINEAR = 1e-10
# np.add.at takes its fast path only for a value of the array's own type.
_ONE = np.uint8(1)


def resample_counts(rng: np.random.Generator, counts: Array) -> Array:
    """Fill ``counts`` (a row per replicate, a column per patient) with how often each of the
    n patients is drawn in each replicate, and return it.

    Each replicate draws ``rng.integers(0, n, size=n)``, in order: the same patients a loop
    of resampled least-squares fits would use with the same generator. The caller's buffer is
    reused batch after batch rather than allocating tens of megabytes each time.
    """
    n = counts.shape[1]
    # Tallied in bytes, which stay in the core's cache (100 kB at 100,000 patients, against
    # 800 kB of int64 from np.bincount): the tally costs a third less. A patient drawn 256
    # times or more wraps round, which the total shows; that replicate is counted again.
    tally = np.empty(n, dtype=np.uint8)
    for row in counts:
        draws = rng.integers(0, n, size=n)
        tally.fill(0)
        np.add.at(tally, draws, _ONE)
        if int(tally.sum(dtype=np.int64)) == n:
            row[:] = tally
        else:
            row[:] = np.bincount(draws, minlength=n)
    return counts


def _pair_products(z: Array) -> tuple[Array, Index, Index]:
    """Per-patient products z_i·z_j (i ≤ j) a resampled fit needs, and their (i, j).

    The products come one row per pair (pairs × patients, C order): multiplied by the
    replicates' counts as ``products @ counts.T``, OpenBLAS runs 1.4 times faster than with
    one row per patient. The constant's square (the sample size) and the outcome's square are
    left out.
    """
    last = z.shape[1] - 1
    i, j = np.triu_indices(z.shape[1])
    keep = ~((i == 0) & (j == 0)) & ~((i == last) & (j == last))
    products = np.ascontiguousarray((z[:, i[keep]] * z[:, j[keep]]).T)
    return products, i[keep], j[keep]


def _identifiable(gram: Array) -> npt.NDArray[np.bool_]:
    """Which stacked Gram matrices XᵀWX come from a full-rank design."""
    scale = np.sqrt(np.clip(np.diagonal(gram, axis1=1, axis2=2), 0.0, None))
    positive = np.all(scale > 0, axis=1)
    scale[~positive] = 1.0
    eigenvalues = np.linalg.eigvalsh(gram / (scale[:, :, None] * scale[:, None, :]))
    usable: npt.NDArray[np.bool_] = positive & (eigenvalues[:, 0] > _COLLINEAR * eigenvalues[:, -1])
    return usable


def _coefficient(gram: Array, rhs: Array, column: int, usable: npt.NDArray[np.bool_]) -> Array:
    """Solve the stacked normal equations; NaN where the design is not ``usable``."""
    gram = np.where(usable[:, None, None], gram, np.eye(gram.shape[1]))
    solution = np.linalg.solve(gram, rhs[:, :, None])[:, column, 0]
    return np.where(usable, solution, np.nan)


def _indirect_products(z: Array, counts: Array, pairs: tuple[Array, Index, Index]) -> Array:
    """a·b per replicate, z = (1, X, covariates…, M, Y) centred; NaN where singular.

    a is X's coefficient in M ~ 1 + X + covariates, b is M's in Y ~ 1 + X + covariates + M.
    """
    products, i, j = pairs
    d = z.shape[1]
    cross = np.zeros((counts.shape[0], d, d))
    cross[:, 0, 0] = z.shape[0]  # every replicate draws n patients
    sums = (products @ counts.T).T
    cross[:, i, j] = sums
    cross[:, j, i] = sums
    usable = _identifiable(cross[:, : d - 1, : d - 1])  # the b design holds the a design
    a = _coefficient(cross[:, : d - 2, : d - 2], cross[:, : d - 2, d - 2], 1, usable)
    b = _coefficient(cross[:, : d - 1, : d - 1], cross[:, : d - 1, d - 1], d - 2, usable)
    ab: Array = a * b
    return ab


def _stream_products(
    z: Array, pairs: tuple[Array, Index, Index], rng: np.random.Generator, replicates: int
) -> Array:
    """a·b for ``replicates`` resamples drawn from one stream, in memory-bounded batches."""
    n = z.shape[0]
    # Equal batches that divide the stream, as large as the memory bound allows: each batch
    # has a fixed cost under the GIL, and at 100,000 patients batches of 32 let two workers
    # run in parallel 1.8 times faster than one, batches of 16 or 20 only 1.3 times.
    fits = max(1, min(STREAM_REPLICATES, _CHUNK_VALUES // max(n, 1)))
    batch = 1 << (fits.bit_length() - 1)
    buffer = np.empty((min(batch, replicates), n))
    return np.concatenate(
        [
            _indirect_products(
                z, resample_counts(rng, buffer[: min(batch, replicates - done)]), pairs
            )
            for done in range(0, replicates, batch)
        ]
    )


def indirect_ci(
    regressors: Array, m: Array, y: Array, n_boot: int, seed: int | None
) -> list[float] | None:
    """Percentile 95 % CI of a·b over patients resampled with replacement.

    ``regressors`` holds the constant, X and the covariates, one row per patient. Each
    replicate is the least-squares fit on its resampled patients, computed from the patients'
    cross-products weighted by how often they were drawn. With s = STREAM_REPLICATES,
    replicate r draws its patients with ``rng.integers(0, n, size=n)`` from
    ``numpy.random.default_rng(seed).spawn(k)[r // s]``, the (r mod s)-th such draw of that
    stream (streams run in parallel). Resamples whose design is singular (say, a constant
    exposure, or a scaled design with an eigenvalue ratio under 1e-10) are dropped.
    """
    from threadpoolctl import threadpool_limits  # imported on first use, like SciPy

    z = np.column_stack([regressors, m, y])
    # Centring leaves every slope unchanged (the constant absorbs it) and keeps the
    # cross-products small.
    z[:, 1:] -= z[:, 1:].mean(axis=0)
    pairs = _pair_products(z)
    starts = range(0, n_boot, STREAM_REPLICATES)
    streams = np.random.default_rng(seed).spawn(len(starts))
    sizes = [min(STREAM_REPLICATES, n_boot - start) for start in starts]
    # Drawing and counting release the GIL, so streams share the cores; BLAS keeps to one
    # thread, as its idle workers would otherwise spin through every draw.
    with (
        threadpool_limits(limits=1, user_api="blas"),
        ThreadPoolExecutor(max_workers=_WORKERS) as pool,
    ):
        parts = list(pool.map(partial(_stream_products, z, pairs), streams, sizes))
    indirect = np.concatenate(parts) if parts else np.empty(0)
    indirect = indirect[np.isfinite(indirect)]
    if indirect.size == 0:
        return None
    return [float(q) for q in np.percentile(indirect, [2.5, 97.5])]
