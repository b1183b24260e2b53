"""Registry of the questionnaire instruments the registry accepts, keyed by instrument id."""

from app.instruments.base import (
    LOINC,
    SNOMED,
    Answers,
    AnswerValue,
    Band,
    Coding,
    Instrument,
    InvalidAnswers,
    Item,
    Scale,
    band_for,
)
from app.instruments.hads import Hads
from app.instruments.nrs import NrsPain

# Adding an instrument: one new module defining its Instrument subclass, registered here.
INSTRUMENTS: dict[str, Instrument] = {
    instrument.id: instrument for instrument in (NrsPain(), Hads())
}


def get_instrument(id: str) -> Instrument | None:
    return INSTRUMENTS.get(id)


__all__ = [
    "INSTRUMENTS",
    "LOINC",
    "SNOMED",
    "AnswerValue",
    "Answers",
    "Band",
    "Coding",
    "Hads",
    "Instrument",
    "InvalidAnswers",
    "Item",
    "NrsPain",
    "Scale",
    "band_for",
    "get_instrument",
]
