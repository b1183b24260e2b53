"""Small-cell suppression of analytics output under the CMS cell-size rule."""

from collections.abc import Mapping
from typing import Any

DEFAULT_MIN_CELL = 11
"""CMS data-use policy: no cell may show a count between 1 and 10."""

Block = dict[str, Any]


def is_small(n: object, min_cell: int = DEFAULT_MIN_CELL) -> bool:
    """True for a count from 1 to ``min_cell - 1``; zero is never small, min_cell 1 disables."""
    return isinstance(n, int) and not isinstance(n, bool) and 1 <= n < min_cell


def suppress_count(n: int | None, min_cell: int = DEFAULT_MIN_CELL) -> int | None:
    """A bare count, or None when it is small enough to identify patients."""
    return None if is_small(n, min_cell) else n


def _blank(value: Any) -> Any:
    """Replace every number and list with None, recursing into dicts; keep labels and flags."""
    if isinstance(value, Mapping):
        return {key: _blank(item) for key, item in value.items()}
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | float | list | tuple):
        return None
    return value


def _hide(block: Mapping[str, Any]) -> Block:
    hidden: Block = _blank(block)
    hidden["suppressed"] = True
    return hidden


def suppress_block(block: Block, min_cell: int = DEFAULT_MIN_CELL) -> Block:
    """Hide a stats block whose ``n`` is a small cell.

    A mean, a median or a percentile over a handful of patients can describe one of them, so
    the CMS cell-size rule hides the statistics together with the count. A small block comes
    back as a copy with every number and list (nested blocks included) set to None, string
    labels kept, and ``"suppressed": True``. Any other block is returned unchanged, without a
    ``suppressed`` key: the key is only ever present, and then True, on a hidden block.
    """
    return _hide(block) if is_small(block.get("n"), min_cell) else block


def suppress_breakdown(
    cells: Mapping[str, Block],
    min_cell: int = DEFAULT_MIN_CELL,
    *,
    total_shown: bool = True,
) -> tuple[dict[str, Block], bool]:
    """Suppress the small cells of a breakdown (``{category: block}``) and their complements.

    Hiding a single cell is not enough when the total is published: the total minus the
    shown cells gives the hidden count back. So when exactly one cell is hidden by the
    primary rule and ``total_shown`` is true, the smallest remaining non-zero cell (ties
    broken by key) is hidden too. Two or more hidden cells already protect each other.
    If no such cell exists, every other cell is zero and the total equals the hidden count;
    callers must therefore pass the total itself through :func:`suppress_count`.

    Returns the new cells and whether any cell is hidden.
    """
    result = {key: suppress_block(cell, min_cell) for key, cell in cells.items()}
    hidden = [key for key, cell in result.items() if cell.get("suppressed") is True]
    if total_shown and len(hidden) == 1:
        candidates = sorted(
            (cell["n"], key)
            for key, cell in result.items()
            if key not in hidden and isinstance(cell.get("n"), int) and cell["n"] > 0
        )
        if candidates:
            _, key = candidates[0]
            result[key] = _hide(result[key])
            hidden.append(key)
    return result, bool(hidden)
