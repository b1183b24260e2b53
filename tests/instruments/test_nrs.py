"""Validation and scoring of the nrs-pain instrument."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.instruments import INSTRUMENTS, InvalidAnswers, NrsPain, get_instrument

NRS = NrsPain()
RECALLS = ("now", "24h", "7d", "30d")


def error_locs(answers: object) -> list[object]:
    with pytest.raises(InvalidAnswers) as caught:
        NRS.validate(answers)
    return [error["loc"] for error in caught.value.errors]


def test_registered_under_its_id() -> None:
    assert get_instrument("nrs-pain") is INSTRUMENTS["nrs-pain"]
    assert get_instrument("phq-9") is None


@pytest.mark.parametrize("score", range(11))
def test_score_is_the_rated_value(score: int) -> None:
    assert NRS.score(NRS.validate({"score": score})) == {"pain": score}


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"score": 3}, {"score": 3, "recall": "now"}),
        ({"score": 3, "recall": None}, {"score": 3, "recall": "now"}),
        ({"score": 0, "recall": "24h"}, {"score": 0, "recall": "24h"}),
        ({"score": 10, "recall": "7d"}, {"score": 10, "recall": "7d"}),
        ({"score": 5, "recall": "30d"}, {"score": 5, "recall": "30d"}),
    ],
)
def test_validate_normalizes_recall(
    answers: dict[str, object], expected: dict[str, object]
) -> None:
    assert NRS.validate(answers) == expected


@pytest.mark.parametrize(
    ("answers", "locs"),
    [
        ({"score": 5, "pain": 5}, [["answers", "pain"]]),
        ({"score": "7"}, [["answers", "score"]]),
        ({"score": True}, [["answers", "score"]]),
        ({"score": False}, [["answers", "score"]]),
        ({"score": 5.5}, [["answers", "score"]]),
        ({"score": 7.0}, [["answers", "score"]]),
        ({"score": -1}, [["answers", "score"]]),
        ({"score": 11}, [["answers", "score"]]),
        ({"score": None}, [["answers", "score"]]),
        ({}, [["answers", "score"]]),
        ({"score": 4, "recall": "1y"}, [["answers", "recall"]]),
        ({"score": 4, "recall": 7}, [["answers", "recall"]]),
        ({"score": 4, "recall": "NOW"}, [["answers", "recall"]]),
        (
            {"score": 11, "recall": "1y", "extra": 1},
            [["answers", "extra"], ["answers", "score"], ["answers", "recall"]],
        ),
    ],
)
def test_rejects_bad_answers(answers: object, locs: list[list[str]]) -> None:
    assert error_locs(answers) == locs


@pytest.mark.parametrize("answers", [None, 7, "score=7", [7], [{"score": 7}]])
def test_rejects_answers_that_are_not_an_object(answers: object) -> None:
    assert error_locs(answers) == [["answers"]]


def test_errors_carry_readable_messages() -> None:
    with pytest.raises(InvalidAnswers) as caught:
        NRS.validate({"score": 11})
    assert caught.value.errors == [
        {"loc": ["answers", "score"], "msg": "must be an integer from 0 to 10"}
    ]


def test_describe() -> None:
    described = NRS.describe()
    assert described["id"] == "nrs-pain"
    assert described["scoring_version"] == "nrs-pain/1"
    assert described["code"] == {
        "system": "http://loinc.org",
        "code": "72514-3",
        "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
    }
    assert described["answer_list"] == {
        "system": "http://loinc.org",
        "code": "LL2335-9",
        "display": "Numeric rating scale from 0-10",
    }
    assert described["scales"] == [{"key": "pain", "minimum": 0, "maximum": 10, "bands": []}]
    assert NRS.scales == ("pain",)


bad_scores = st.one_of(
    st.integers().filter(lambda n: not 0 <= n <= 10),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(),
    st.none(),
    st.lists(st.integers(0, 10)),
)


@given(score=bad_scores, recall=st.sampled_from(RECALLS))
def test_no_bad_score_is_accepted(score: object, recall: str) -> None:
    with pytest.raises(InvalidAnswers):
        NRS.validate({"score": score, "recall": recall})


@given(score=st.integers(0, 10), recall=st.text().filter(lambda r: r not in RECALLS))
def test_no_bad_recall_is_accepted(score: int, recall: str) -> None:
    with pytest.raises(InvalidAnswers):
        NRS.validate({"score": score, "recall": recall})
