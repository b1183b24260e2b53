"""Shared types for questionnaire instruments: items, codings, bands and answer validation."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"

AnswerValue = int | str | None
Answers = dict[str, AnswerValue]


@dataclass(frozen=True)
class Coding:
    system: str
    code: str
    display: str

    def as_dict(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    kind: Literal["integer", "choice"]
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] | None = None
    required: bool = True
    subscale: str | None = None
    code: Coding | None = None
    # Stored when an optional item is null or absent, so every stored answer set has every key.
    default: AnswerValue = None


@dataclass(frozen=True)
class Band:
    name: str
    low: int
    high: int


@dataclass(frozen=True)
class Scale:
    key: str
    minimum: int
    maximum: int
    bands: tuple[Band, ...] = ()


def band_for(bands: Iterable[Band], score: float | None) -> str | None:
    """Band of a possibly prorated score: low <= score < next band's low (the last ends at high)."""
    if score is None:
        return None
    return band_finder(tuple(bands))(score)


@functools.cache
def band_finder(bands: tuple[Band, ...]) -> Callable[[float | None], str | None]:
    """`band_for` with its bands fixed: the ordering is worked out once, not per score."""
    ordered = sorted(bands, key=lambda band: band.low)
    limits = [
        (band.low, after.low if after is not None else band.high, after is None, band.name)
        for band, after in zip(ordered, [*ordered[1:], None], strict=True)
    ]

    def find(score: float | None) -> str | None:
        if score is None:
            return None
        for low, upper, last, name in limits:
            if low <= score and (score <= upper if last else score < upper):
                return name
        return None

    return find


class InvalidAnswers(ValueError):
    """Answers that break an instrument's rules; `errors` lists every problem found."""

    def __init__(self, errors: list[dict[str, object]]) -> None:
        super().__init__("; ".join(str(error["msg"]) for error in errors))
        self.errors = errors


def _error(key: str, msg: str) -> dict[str, object]:
    return {"loc": ["answers", key], "msg": msg}


def _check_value(item: Item, value: object) -> str | None:
    """The problem with one present, non-null value, or None when it is acceptable."""
    if item.kind == "choice":
        if not isinstance(value, str) or value not in (item.choices or ()):
            return f"must be one of: {', '.join(item.choices or ())}"
        return None
    # bool is an int subclass and 7.0 == 7; both are rejected so stored answers are exact integers.
    if type(value) is not int:
        return "must be an integer"
    if (item.minimum is not None and value < item.minimum) or (
        item.maximum is not None and value > item.maximum
    ):
        return f"must be an integer from {item.minimum} to {item.maximum}"
    return None


class Instrument(ABC):
    """A questionnaire: its items and codes as data, plus validation and pure scoring."""

    id: str
    title: str
    scoring_version: str
    code: Coding
    answer_list: Coding | None = None
    items: tuple[Item, ...]
    scale_defs: tuple[Scale, ...]
    scoring_text: str
    copyright: str | None = None

    @property
    def scales(self) -> tuple[str, ...]:
        return tuple(scale.key for scale in self.scale_defs)

    @property
    def bands(self) -> dict[str, tuple[Band, ...]]:
        return {scale.key: scale.bands for scale in self.scale_defs if scale.bands}

    @functools.cached_property
    def _keys(self) -> frozenset[str]:
        return frozenset(item.key for item in self.items)

    @functools.cached_property
    def _integer_ranges(self) -> dict[str, tuple[int | None, int | None]]:
        return {i.key: (i.minimum, i.maximum) for i in self.items if i.kind == "integer"}

    def validate(self, answers: object) -> Answers:
        """Normalized answers (every key present, defaults filled) or InvalidAnswers."""
        if not isinstance(answers, dict):
            raise InvalidAnswers([{"loc": ["answers"], "msg": "answers must be a JSON object"}])
        known = self._keys
        errors = [] if known.issuperset(answers) else [
            _error(str(key), "unknown answer key") for key in answers if key not in known
        ]  # fmt: skip
        ranges = self._integer_ranges
        normalized: Answers = {}
        for item in self.items:
            key = item.key
            value = answers.get(key)
            if value is None:
                if item.required:
                    errors.append(_error(key, "answer is required"))
                normalized[key] = item.default
                continue
            if type(value) is int and key in ranges:  # the common case, checked inline
                low, high = ranges[key]
                if (low is None or value >= low) and (high is None or value <= high):
                    normalized[key] = value
                    continue
            problem = _check_value(item, value)
            if problem is not None:
                errors.append(_error(key, problem))
            else:
                normalized[key] = value
        if errors:
            raise InvalidAnswers(errors)
        return normalized

    @abstractmethod
    def score(self, answers: Mapping[str, object]) -> dict[str, object]:
        """Scores of already validated answers; pure, no I/O."""

    def describe(self) -> dict[str, object]:
        """JSON-able description served by GET /v1/instruments/{id}."""
        return {
            "id": self.id,
            "title": self.title,
            "scoring_version": self.scoring_version,
            "code": self.code.as_dict(),
            "answer_list": self.answer_list.as_dict() if self.answer_list else None,
            "items": [_describe_item(item) for item in self.items],
            "scales": [_describe_scale(scale) for scale in self.scale_defs],
            "scoring": self.scoring_text,
            "copyright": self.copyright,
        }


def _describe_item(item: Item) -> dict[str, object]:
    return {
        "key": item.key,
        "label": item.label,
        "type": item.kind,
        "minimum": item.minimum,
        "maximum": item.maximum,
        "choices": list(item.choices) if item.choices is not None else None,
        "required": item.required,
        "subscale": item.subscale,
        "code": item.code.as_dict() if item.code else None,
    }


def _describe_scale(scale: Scale) -> dict[str, object]:
    return {
        "key": scale.key,
        "minimum": scale.minimum,
        "maximum": scale.maximum,
        "bands": [{"name": b.name, "low": b.low, "high": b.high} for b in scale.bands],
    }
