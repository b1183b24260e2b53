"""Small-cell suppression: the CMS cell-size rule and complementary suppression."""

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.stats import describe, suppress_block, suppress_breakdown, suppress_count

MIN_CELL = 11


def stats_block(n: int) -> dict[str, Any]:
    return describe([float(i % 7) for i in range(n)])


def stratum(n: int) -> dict[str, Any]:
    return {"stratum": "depressed", "n": n, "baseline": stats_block(n), "p_wilcoxon": 0.03}


def numbers_in(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for item in value.values() for x in numbers_in(item)]
    if isinstance(value, list):
        return [value]
    return [value] if isinstance(value, int | float) and not isinstance(value, bool) else []


def hidden(cells: dict[str, dict[str, Any]]) -> set[str]:
    return {key for key, cell in cells.items() if cell.get("suppressed") is True}


@pytest.mark.parametrize("n", [1, 10])
def test_small_block_is_hidden_with_every_statistic(n: int) -> None:
    original = stratum(n)
    before = copy.deepcopy(original)
    result = suppress_block(original, MIN_CELL)
    assert result["suppressed"] is True
    assert result["n"] is None
    assert numbers_in(result) == []
    assert result["stratum"] == "depressed"
    assert set(result["baseline"]) == set(original["baseline"])
    assert original == before


@pytest.mark.parametrize("n", [0, 11, 500])
def test_zero_and_large_blocks_are_unchanged(n: int) -> None:
    original = stratum(n)
    result = suppress_block(original, MIN_CELL)
    assert result == original
    assert "suppressed" not in result


def test_default_minimum_cell_is_eleven() -> None:
    assert suppress_block(stratum(10)).get("suppressed") is True
    assert "suppressed" not in suppress_block(stratum(11))


@pytest.mark.parametrize("n", [0, 1, 2, 10])
def test_minimum_cell_of_one_disables_suppression(n: int) -> None:
    assert suppress_block(stratum(n), 1) == stratum(n)
    assert suppress_count(n, 1) == n


@pytest.mark.parametrize(("n", "shown"), [(None, None), (0, 0), (1, None), (10, None), (11, 11)])
def test_suppress_count(n: int | None, shown: int | None) -> None:
    assert suppress_count(n, MIN_CELL) == shown


def cells_of(**counts: int) -> dict[str, dict[str, Any]]:
    total = sum(counts.values())
    return {k: {"n": n, "pct": round(100 * n / total, 1)} for k, n in counts.items()}


def test_one_small_cell_also_hides_the_next_smallest() -> None:
    counts = {"a": 5, "b": 300, "c": 40, "d": 0, "e": 12}
    cells, any_hidden = suppress_breakdown(cells_of(**counts), MIN_CELL)
    assert any_hidden
    assert hidden(cells) == {"a", "e"}
    assert cells["d"]["n"] == 0
    shown = sum(cell["n"] for cell in cells.values() if cell["n"] is not None)
    remainder = sum(counts.values()) - shown
    assert remainder == counts["a"] + counts["e"]
    assert remainder not in {counts["a"], counts["e"]}


def test_complementary_ties_are_broken_by_key_whatever_the_order() -> None:
    forward, _ = suppress_breakdown(cells_of(a=3, c=20, b=20), MIN_CELL)
    backward, _ = suppress_breakdown(dict(reversed(cells_of(a=3, c=20, b=20).items())), MIN_CELL)
    assert hidden(forward) == hidden(backward) == {"a", "b"}


def test_two_small_cells_need_no_complement() -> None:
    cells, any_hidden = suppress_breakdown(cells_of(a=3, b=7, c=50, d=60), MIN_CELL)
    assert any_hidden
    assert hidden(cells) == {"a", "b"}


def test_without_a_total_one_small_cell_stays_alone() -> None:
    cells, _ = suppress_breakdown(cells_of(a=3, b=50, c=60), MIN_CELL, total_shown=False)
    assert hidden(cells) == {"a"}


def test_nothing_small_changes_nothing() -> None:
    original = cells_of(a=0, b=11, c=60)
    cells, any_hidden = suppress_breakdown(original, MIN_CELL)
    assert cells == original
    assert not any_hidden


def test_lone_nonzero_cell_is_protected_by_suppressing_the_total() -> None:
    cells, any_hidden = suppress_breakdown(cells_of(a=4, b=0), MIN_CELL)
    assert any_hidden
    assert hidden(cells) == {"a"}
    assert suppress_count(4, MIN_CELL) is None


def test_nested_stats_cells_are_hidden_whole() -> None:
    original = {"depressed": stratum(6), "not_depressed": stratum(90), "borderline": stratum(30)}
    cells, _ = suppress_breakdown(original, MIN_CELL)
    assert hidden(cells) == {"depressed", "borderline"}
    assert numbers_in(cells["borderline"]) == []
    assert cells["not_depressed"] == original["not_depressed"]


@given(
    st.dictionaries(st.sampled_from("abcdefg"), st.integers(0, 40), min_size=1),
    st.integers(1, 15),
)
def test_no_hidden_cell_can_be_recovered_from_the_total(
    counts: dict[str, int], min_cell: int
) -> None:
    cells, any_hidden = suppress_breakdown({k: {"n": n} for k, n in counts.items()}, min_cell)
    secret = hidden(cells)
    assert any_hidden == bool(secret)
    assert all(not 1 <= cells[k]["n"] < min_cell for k in counts if k not in secret)
    assert all(cells[k]["n"] is None for k in secret)
    if len(secret) == 1:
        # Only possible when every other cell is zero: the total is then small and hidden too.
        assert suppress_count(sum(counts.values()), min_cell) is None
