"""Small-cell suppression of every analytics body, applied in one pass on the way out.

Assemblers build the full, unsuppressed body and declare which counts add up to which
(`partition`); :func:`protect` then hides, in one place, every count from 1 to min_cell − 1
with the statistics computed from it (the CMS cell-size rule, via app.stats) and, where a
total is shown, a complementary cell so that nothing hidden can be recovered by subtraction.

Conventions the walker relies on: a dict with an integer ``n`` is a cell (hidden whole when
small); an integer under a key ``n`` or ``n_…`` is a bare count; ``filters``, ``parameters``,
``as_of`` and ``scoring`` at the top level are echoes of the request, never counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.stats import suppress_block, suppress_breakdown, suppress_count
from app.stats.suppression import is_small

Path = tuple[str | int, ...]
PARTITIONS = "_partitions"
DEPENDS = "_depends"
META = ("filters", "parameters", "as_of", "scoring")
LABELS = ("k", "m", "threshold")
_RESIDUAL = "\x00residual"


def partition(
    node: dict[str, Any], cells: Sequence[Path], *, residual: int = 0, total: Path | None = None
) -> None:
    """Declare that the counts at `cells` (paths from `node`) and an unshown `residual` add up
    to a total the reader can see (at `total` in this node, or in another answer).

    A non-zero residual that is not shown (say, patients without the condition) is unknown
    to the reader and so protects a hidden cell; a small residual is itself protected, by
    hiding a shown cell, since the total minus the shown cells would give it away.
    """
    node.setdefault(PARTITIONS, []).append((tuple(cells), residual, total))


def depends(body: dict[str, Any], path: Path, on: Sequence[Path]) -> None:
    """Declare that the block at `path` would reveal the blocks at `on` if they were hidden
    (a difference between two strata gives a hidden stratum's mean away)."""
    body.setdefault(DEPENDS, []).append((path, tuple(on)))


def protect(body: dict[str, Any], min_cell: int) -> dict[str, Any]:
    """The body with every small count hidden (see the module docstring).

    Partitions and dependencies must be declared on the body itself, with paths from it.
    """
    meta = {k: body[k] for k in META if k in body}
    data = {k: v for k, v in body.items() if k not in META}
    dependencies = data.pop(DEPENDS, [])
    walked = _walk(data, min_cell)
    if walked.get("suppressed") is True:
        return {**meta, **walked}
    for path, on in dependencies:
        if any(_is_hidden(_get(walked, source)) for source in on):
            block = _get(walked, path)
            _set(walked, path, _hide_block(block) if isinstance(block, dict) else None)
    return {**meta, **walked}


def _hide_block(block: dict[str, Any]) -> dict[str, Any]:
    """Hide a block whatever its count (a complement, or a block that depends on one)."""
    hidden = suppress_block({**block, "n": 1}, 2)
    if "n" not in block:
        del hidden["n"]
    return _keep_labels(hidden, block)


def _is_hidden(value: Any) -> bool:
    return value is None or (isinstance(value, dict) and value.get("suppressed") is True)


def _walk(value: Any, min_cell: int) -> Any:
    if isinstance(value, list):
        return [_walk(item, min_cell) for item in value]
    if not isinstance(value, dict):
        return value
    node = dict(value)
    for cells, residual, total in node.pop(PARTITIONS, []):
        _apply_partition(node, cells, residual, total, min_cell)
    if _is_count(node.get("n")) and node.get("suppressed") is not True:
        hidden = suppress_block(node, min_cell)
        if hidden.get("suppressed") is True:
            return _keep_labels(hidden, node)
    return {key: _child(key, item, min_cell) for key, item in node.items()}


def _keep_labels(hidden: dict[str, Any], original: dict[str, Any]) -> dict[str, Any]:
    """A hidden row still says which row it is (k, m, threshold), not what it holds."""
    return {**hidden, **{k: original[k] for k in LABELS if k in original}}


def _child(key: str, item: Any, min_cell: int) -> Any:
    if _is_count(item) and (key == "n" or key.startswith("n_")):
        return suppress_count(item, min_cell)
    return _walk(item, min_cell)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _get(node: Any, path: Path) -> Any:
    for part in path:
        node = node[part]
    return node


def _set(node: Any, path: Path, value: Any) -> None:
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _as_cell(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"n": value}


def _hide(node: dict[str, Any], path: Path, cell: dict[str, Any]) -> None:
    original = _get(node, path)
    _set(node, path, cell if isinstance(original, dict) else None)


def _apply_partition(
    node: dict[str, Any],
    paths: tuple[Path, ...],
    residual: int,
    total: Path | None,
    min_cell: int,
) -> None:
    blocks = {str(i): _as_cell(_get(node, path)) for i, path in enumerate(paths)}
    if is_small(residual, min_cell):
        blocks[_RESIDUAL] = {"n": residual}
    # A large residual the reader cannot see already hides a single hidden cell.
    recoverable = not residual or is_small(residual, min_cell)
    result, _ = suppress_breakdown(blocks, min_cell, total_shown=recoverable)
    hidden = [key for key, cell in result.items() if cell.get("suppressed") is True]
    for i, path in enumerate(paths):
        if result[str(i)].get("suppressed") is True:
            _hide(node, path, _keep_labels(result[str(i)], _as_cell(_get(node, path))))
    if recoverable and len(hidden) == 1 and total is not None:
        # Every other cell is zero: the total itself would give the hidden count away.
        shown = _get(node, total)
        _set(node, total, _hide_block(shown) if isinstance(shown, dict) else None)
