"""The Hospital Anxiety and Depression Scale (hads): neutral item codes and subscale scoring."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from app.instruments.base import SNOMED, Band, Coding, Instrument, Item, Scale, band_finder

ITEMS_PER_SUBSCALE = 7
BANDS = (Band("normal", 0, 7), Band("borderline", 8, 10), Band("abnormal", 11, 21))
_band = band_finder(BANDS)
SUBSCALES = {"anxiety": "hads_anxiety", "depression": "hads_depression"}


def _item(number: int) -> Item:
    # Odd-numbered items form the anxiety subscale, even-numbered ones depression.
    subscale = "anxiety" if number % 2 else "depression"
    return Item(
        key=f"hads_{number}",
        label=f"HADS item {number} ({subscale})",
        kind="integer",
        minimum=0,
        maximum=3,
        required=False,
        subscale=subscale,
    )


def subscale_score(points: Sequence[int | None]) -> tuple[float | int | None, bool]:
    """(score, prorated) of one 7-item subscale; a single missing item is prorated."""
    answered = [p for p in points if p is not None]
    missing = len(points) - len(answered)
    if missing == 0:
        return sum(answered), False
    if missing == 1:
        # Mean of the answered items times 7, unrounded: rounding would shift band boundaries.
        return sum(answered) / len(answered) * ITEMS_PER_SUBSCALE, True
    return None, False


class Hads(Instrument):
    id = "hads"
    title = "Hospital Anxiety and Depression Scale"
    scoring_version = "hads/1"
    code = Coding(SNOMED, "273524006", "Hospital anxiety and depression scale")
    items = tuple(_item(number) for number in range(1, 2 * ITEMS_PER_SUBSCALE + 1))
    scale_defs = tuple(
        Scale(key=key, minimum=0, maximum=21, bands=BANDS) for key in SUBSCALES.values()
    )
    scoring_text = (
        "Each item is answered with its point value, 0 (least) to 3 (most symptomatic). "
        "Odd-numbered items form the anxiety subscale and even-numbered items the depression "
        "subscale; each subscale score is the sum of its 7 items (0-21). If exactly one item of a "
        "subscale is missing, the score is prorated as the mean of the 6 answered items times 7, "
        "kept unrounded, and the response is flagged prorated. With two or more missing items "
        "that subscale score is null and the response is marked incomplete. Bands: 0-7 normal, "
        "8-10 borderline, 11-21 abnormal; a prorated score belongs to the band whose lower bound "
        "it has reached (7.5 is normal, 10.2 borderline)."
    )
    copyright = (
        "The HADS item wording is copyrighted and licensed; it is not distributed here. Items are "
        "identified by neutral codes only, and licensed clinics supply their own wording."
    )

    def score(self, answers: Mapping[str, object]) -> dict[str, object]:
        scores: dict[str, object] = {}
        prorated = False
        complete = True
        for key, band_key, item_keys in _SUBSCALE_ITEMS:
            points = [answers.get(k) for k in item_keys]
            if not _POINT_TYPES.issuperset(map(type, points)):
                raise TypeError("score() expects answers that passed validate()")
            value, was_prorated = subscale_score(points)  # type: ignore[arg-type]
            scores[key] = value
            scores[band_key] = _band(value)
            prorated = prorated or was_prorated
            complete = complete and value is not None
        scores["prorated"] = prorated
        scores["complete"] = complete
        return scores


# (score key, band key, its items' answer keys), in SUBSCALES order.
_SUBSCALE_ITEMS = tuple(
    (key, f"{key}_band", tuple(item.key for item in Hads.items if item.subscale == subscale))
    for subscale, key in SUBSCALES.items()
)
_POINT_TYPES = frozenset({int, type(None)})
