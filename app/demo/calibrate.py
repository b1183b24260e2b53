"""Integer scores with an exact target mean, and HADS items that add up to given subscales."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]


def calibrate(values: Any, target_mean: float, lo: Any, hi: Any, rng: np.random.Generator) -> Ints:
    """Round `values` and nudge random entries by ±1 (within [lo, hi] per entry) until the
    mean is the target to the nearest representable sum, so that published means reproduce
    exactly rather than within sampling error."""
    out: Ints = np.clip(np.rint(values), lo, hi).astype(np.int64)
    low = np.broadcast_to(np.asarray(lo, dtype=np.int64), out.shape)
    high = np.broadcast_to(np.asarray(hi, dtype=np.int64), out.shape)
    gap = round(target_mean * out.size) - int(out.sum())
    while gap:
        step = 1 if gap > 0 else -1
        movable = np.flatnonzero(out < high) if step > 0 else np.flatnonzero(out > low)
        if movable.size == 0:
            break
        chosen = rng.choice(movable, size=min(abs(gap), movable.size), replace=False)
        out[chosen] += step
        gap -= step * chosen.size
    return out


def items_for(total: int, rng: np.random.Generator) -> list[int]:
    """Seven item points in 0..3 adding up to `total` (0..21)."""
    slots = rng.choice(21, size=int(total), replace=False)
    return [int(n) for n in np.bincount(slots // 3, minlength=7)]


def hads_answers(
    anxiety: int, depression: int, rng: np.random.Generator, missing: int = 0
) -> dict[str, int | None]:
    """HADS answers: odd items carry the anxiety points, even items the depression points.

    `missing` items of one subscale are left out (one missing item is prorated at scoring).
    """
    answers: dict[str, int | None] = {}
    for offset, total in ((1, anxiety), (2, depression)):
        for i, points in enumerate(items_for(total, rng)):
            answers[f"hads_{offset + 2 * i}"] = points
    if missing:
        subscale = int(rng.integers(1, 3))
        for i in rng.choice(7, size=missing, replace=False):
            answers[f"hads_{subscale + 2 * int(i)}"] = None
    return answers
