"""The 0-10 numeric rating scale for pain intensity (nrs-pain)."""

from __future__ import annotations

from collections.abc import Mapping

from app.instruments.base import LOINC, Coding, Instrument, Item, Scale

RECALL_PERIODS = ("now", "24h", "7d", "30d")


class NrsPain(Instrument):
    id = "nrs-pain"
    title = "Pain intensity, 0-10 numeric rating scale"
    scoring_version = "nrs-pain/1"
    code = Coding(LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")
    answer_list = Coding(LOINC, "LL2335-9", "Numeric rating scale from 0-10")
    items = (
        Item(
            key="score",
            label="Pain intensity (0 = no pain, 10 = worst pain imaginable)",
            kind="integer",
            minimum=0,
            maximum=10,
            code=code,
        ),
        Item(
            key="recall",
            label="Recall period the rating refers to",
            kind="choice",
            choices=RECALL_PERIODS,
            required=False,
            default="now",
        ),
    )
    scale_defs = (Scale(key="pain", minimum=0, maximum=10),)
    scoring_text = (
        "The pain score is the rated value itself, an integer from 0 (no pain) to 10 (worst pain "
        "imaginable). The recall period (now, last 24 hours, 7 days or 30 days; 'now' when not "
        "given) is stored with the answers and does not change the score. No prorating applies: "
        "the rating is required."
    )

    def score(self, answers: Mapping[str, object]) -> dict[str, object]:
        pain = answers["score"]
        if type(pain) is not int:
            raise TypeError("score() expects answers that passed validate()")
        return {"pain": pain}
