"""Validation, prorating, banding and description of the hads instrument."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.instruments import INSTRUMENTS, Band, Hads, InvalidAnswers, band_for, get_instrument

HADS = Hads()
KEYS = [f"hads_{n}" for n in range(1, 15)]
ANXIETY = KEYS[0::2]  # hads_1, hads_3, ... hads_13
DEPRESSION = KEYS[1::2]  # hads_2, hads_4, ... hads_14


def answers(
    anxiety: Sequence[int | None], depression: Sequence[int | None]
) -> dict[str, int | None]:
    return dict(zip(ANXIETY, anxiety, strict=True)) | dict(zip(DEPRESSION, depression, strict=True))


def scores(
    anxiety: float | None,
    depression: float | None,
    anxiety_band: str | None,
    depression_band: str | None,
    *,
    prorated: bool = False,
    complete: bool = True,
) -> dict[str, object]:
    return {
        "hads_anxiety": anxiety,
        "hads_anxiety_band": anxiety_band,
        "hads_depression": depression,
        "hads_depression_band": depression_band,
        "prorated": prorated,
        "complete": complete,
    }


SIX_SUMMING_TO_10: list[int | None] = [None, 3, 2, 2, 1, 1, 1]
CASES = {
    "all zeros": (answers([0] * 7, [0] * 7), scores(0, 0, "normal", "normal")),
    "all threes": (answers([3] * 7, [3] * 7), scores(21, 21, "abnormal", "abnormal")),
    "mixed": (
        answers([1, 2, 0, 3, 1, 1, 0], [0, 1, 0, 1, 2, 1, 2]),
        scores(8, 7, "borderline", "normal"),
    ),
    "boundary 10 and 11": (
        answers([3, 3, 3, 1, 0, 0, 0], [3, 3, 3, 2, 0, 0, 0]),
        scores(10, 11, "borderline", "abnormal"),
    ),
    "one missing anxiety": (
        answers(SIX_SUMMING_TO_10, [1] * 7),
        scores(10 / 6 * 7, 7, "abnormal", "normal", prorated=True),
    ),
    "one missing depression, prorated exactly 7": (
        answers([0] * 7, [1, 1, 1, 1, 1, 1, None]),
        scores(0, 7.0, "normal", "normal", prorated=True),
    ),
    "prorated 10.5": (
        answers([3, 3, 3, 0, 0, 0, None], [0] * 7),
        scores(10.5, 0, "borderline", "normal", prorated=True),
    ),
    "two missing anxiety": (
        answers([None, None, 3, 3, 3, 3, 3], [2] * 7),
        scores(None, 14, None, "abnormal", complete=False),
    ),
    "one missing in each subscale": (
        answers(SIX_SUMMING_TO_10, [2, 2, 2, 1, 1, None, 1]),
        scores(10 / 6 * 7, 9 / 6 * 7, "abnormal", "borderline", prorated=True),
    ),
    "one missing anxiety, two missing depression": (
        answers(SIX_SUMMING_TO_10, [None, None, 0, 0, 0, 0, 0]),
        scores(10 / 6 * 7, None, "abnormal", None, prorated=True, complete=False),
    ),
    "all missing": (
        answers([None] * 7, [None] * 7),
        scores(None, None, None, None, complete=False),
    ),
}


@pytest.mark.parametrize(("given_answers", "expected"), CASES.values(), ids=CASES.keys())
def test_scoring_table(given_answers: dict[str, int | None], expected: dict[str, object]) -> None:
    result = HADS.score(HADS.validate(given_answers))
    assert result == expected
    # Unprorated totals are ints; prorated ones stay unrounded floats, even when whole (7.0).
    assert [type(result[k]) for k in expected] == [type(v) for v in expected.values()]


@pytest.mark.parametrize(
    ("total", "band"), [(7, "normal"), (8, "borderline"), (10, "borderline"), (11, "abnormal")]
)
def test_band_boundaries_of_complete_scores(total: int, band: str) -> None:
    points = [min(3, max(0, total - 3 * i)) for i in range(7)]
    result = HADS.score(answers(points, points))
    assert result["hads_anxiety"] == total
    assert result["hads_anxiety_band"] == result["hads_depression_band"] == band


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (0, "normal"),
        (7, "normal"),
        (7.5, "normal"),
        (7.999, "normal"),
        (8, "borderline"),
        (10, "borderline"),
        (10.2, "borderline"),
        (10.999, "borderline"),
        (11, "abnormal"),
        (21, "abnormal"),
        (21.5, None),
        (-0.5, None),
        (None, None),
    ],
)
def test_band_for_prorated_scores(score: float | None, band: str | None) -> None:
    assert band_for(HADS.bands["hads_anxiety"], score) == band


def test_band_for_ignores_band_order() -> None:
    bands = (Band("high", 5, 9), Band("low", 0, 4))
    assert [band_for(bands, s) for s in (0, 4.5, 5, 9, 9.5)] == ["low", "low", "high", "high", None]


def test_null_and_absent_items_score_alike() -> None:
    full = answers([1] * 7, [2] * 7)
    with_null = full | {"hads_3": None, "hads_8": None}
    absent = {k: v for k, v in full.items() if k not in {"hads_3", "hads_8"}}
    assert HADS.validate(with_null) == HADS.validate(absent)
    assert (
        HADS.score(with_null)
        == HADS.score(absent)
        == scores(7.0, 14.0, "normal", "abnormal", prorated=True)
    )


def test_validate_fills_every_item() -> None:
    assert HADS.validate({"hads_1": 2}) == {key: (2 if key == "hads_1" else None) for key in KEYS}


@pytest.mark.parametrize(
    ("given_answers", "locs"),
    [
        ({"hads_15": 1}, [["answers", "hads_15"]]),
        ({"hads_0": 1, "score": 3}, [["answers", "hads_0"], ["answers", "score"]]),
        ({"hads_1": "2"}, [["answers", "hads_1"]]),
        ({"hads_1": True}, [["answers", "hads_1"]]),
        ({"hads_1": 1.5}, [["answers", "hads_1"]]),
        ({"hads_1": 2.0}, [["answers", "hads_1"]]),
        ({"hads_1": -1}, [["answers", "hads_1"]]),
        ({"hads_2": 4}, [["answers", "hads_2"]]),
        (
            {"hads_1": 4, "hads_14": "x", "bogus": 0},
            [["answers", "bogus"], ["answers", "hads_1"], ["answers", "hads_14"]],
        ),
        ([0] * 14, [["answers"]]),
        ("hads", [["answers"]]),
        (None, [["answers"]]),
    ],
)
def test_rejects_bad_answers(given_answers: object, locs: list[list[str]]) -> None:
    with pytest.raises(InvalidAnswers) as caught:
        HADS.validate(given_answers)
    assert [error["loc"] for error in caught.value.errors] == locs
    assert all(isinstance(error["msg"], str) and error["msg"] for error in caught.value.errors)


def test_describe_ships_codes_and_neutral_labels_only() -> None:
    described = HADS.describe()
    assert get_instrument("hads") is INSTRUMENTS["hads"]
    assert described["scoring_version"] == "hads/1"
    assert described["code"] == {
        "system": "http://snomed.info/sct",
        "code": "273524006",
        "display": "Hospital anxiety and depression scale",
    }
    items = described["items"]
    assert isinstance(items, list)
    assert [item["key"] for item in items] == KEYS
    for number, item in enumerate(items, start=1):
        subscale = "anxiety" if number % 2 else "depression"
        assert item["label"] == f"HADS item {number} ({subscale})"
        assert item["subscale"] == subscale
        assert (item["minimum"], item["maximum"], item["required"]) == (0, 3, False)
    assert described["scales"] == [
        {
            "key": key,
            "minimum": 0,
            "maximum": 21,
            "bands": [
                {"name": "normal", "low": 0, "high": 7},
                {"name": "borderline", "low": 8, "high": 10},
                {"name": "abnormal", "low": 11, "high": 21},
            ],
        }
        for key in ("hads_anxiety", "hads_depression")
    ]
    assert "licensed" in str(described["copyright"])
    assert re.search(r"prorat", str(described["scoring"]))


# Property tests: an independent reference for totals, prorating and bands.

ABSENT = object()
item_values = st.one_of(st.none(), st.integers(0, 3), st.just(ABSENT))


def reference_subscale(values: list[int | None]) -> tuple[float | None, bool]:
    answered = [v for v in values if v is not None]
    if len(answered) == 7:
        return float(sum(answered)), False
    if len(answered) == 6:
        return sum(answered) / 6 * 7, True
    return None, False


def reference_band(score: float | None) -> str | None:
    if score is None:
        return None
    return "normal" if score < 8 else "borderline" if score < 11 else "abnormal"


@given(st.fixed_dictionaries(dict.fromkeys(KEYS, item_values)))
def test_scores_match_reference(drawn: dict[str, object]) -> None:
    given_answers = {k: v for k, v in drawn.items() if v is not ABSENT}
    result = HADS.score(HADS.validate(given_answers))
    values = {k: v if isinstance(v, int) else None for k, v in drawn.items()}
    anxiety, anxiety_prorated = reference_subscale([values[k] for k in ANXIETY])
    depression, depression_prorated = reference_subscale([values[k] for k in DEPRESSION])
    assert result == scores(
        anxiety,
        depression,
        reference_band(anxiety),
        reference_band(depression),
        prorated=anxiety_prorated or depression_prorated,
        complete=anxiety is not None and depression is not None,
    )
    # Determinism: the same answers, in any key order, always score the same.
    assert HADS.score(dict(reversed(list(given_answers.items())))) == result


bad_values = st.one_of(
    st.integers().filter(lambda n: not 0 <= n <= 3),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(),
    st.lists(st.integers(0, 3)),
    st.dictionaries(st.text(), st.integers(0, 3)),
)


@given(
    st.fixed_dictionaries({key: st.one_of(st.none(), st.integers(0, 3)) for key in KEYS}),
    st.sampled_from(KEYS),
    bad_values,
)
def test_no_bad_value_is_accepted(valid: dict[str, int | None], key: str, bad: object) -> None:
    with pytest.raises(InvalidAnswers) as caught:
        HADS.validate(valid | {key: bad})
    assert caught.value.errors[0]["loc"] == ["answers", key]


@given(st.text().filter(lambda k: k not in KEYS), st.integers(0, 3))
def test_no_unknown_key_is_accepted(key: str, value: int) -> None:
    with pytest.raises(InvalidAnswers) as caught:
        HADS.validate({"hads_1": 1, key: value})
    assert [error["loc"] for error in caught.value.errors] == [["answers", key]]
