"""The export's data dictionary: every column's name, type, unit, meaning and de-identification."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # logical type, as in the Parquet file
    unit: str | None
    description: str
    deidentification: str
    nullable: bool = True

    def describe(self) -> dict[str, Any]:
        return asdict(self)


_KEPT = "Kept as is: not an identifier."
_SCORE = "A score, kept unrounded; no dates, no answers' free text (instruments have none)."

COLUMNS: tuple[Column, ...] = (
    Column("patient_id", "string", None, "The patient's random UUID assigned by the registry.",
           "Replaces the clinic's pseudonym, which is never exported.", nullable=False),
    Column("site", "string", None, "Code of the site that registered the patient.", _KEPT,
           nullable=False),
    Column("birth_year", "int32", "year", "Year of birth.",
           "Year only. A patient aged 90 or over in the year of the export (or of `as_of`) "
           "is shown as born exactly 90 years before it."),
    Column("sex", "string", None, "female, male, other or unknown.", _KEPT, nullable=False),
    Column("conditions", "list<string>", None,
           "Pain conditions, sorted. CSV: separated by `;` (empty when none).", _KEPT,
           nullable=False),
    Column("response_id", "string", None, "The questionnaire response's UUID.", _KEPT,
           nullable=False),
    Column("version", "int32", None, "Version of the response shown (the current one, or the "
           "latest recorded by `as_of`); retracted responses are left out.", _KEPT,
           nullable=False),
    Column("instrument", "string", None, "`nrs-pain` or `hads`.", _KEPT, nullable=False),
    Column("timepoint", "string", None, "baseline, pre_infusion, post_infusion or follow_up.",
           _KEPT, nullable=False),
    Column("visit", "string", None, "Schedule label such as M1…M12, when given.",
           "A short coded label (letters, digits, `_.:-`), never free text."),
    Column("infusion_number", "int32", None,
           "Number of the infusion the response refers to (1 = first, by start time).", _KEPT),
    Column("day", "float64", "day",
           "When the response was collected: days (fractional) since the start of infusion 1, "
           "negative before it; for a patient without infusion, since midnight UTC of the "
           "enrolment date.",
           "Replaces every date: collection, infusion and enrolment dates are never exported."),
    Column("pain", "float64", "NRS 0–10", "Pain score (nrs-pain responses).", _SCORE),
    Column("hads_anxiety", "float64", "points 0–21", "HADS anxiety subscale (hads responses).",
           _SCORE),
    Column("hads_depression", "float64", "points 0–21",
           "HADS depression subscale (hads responses).", _SCORE),
    Column("prorated", "bool", None,
           "True when a HADS subscale was prorated from 6 answered items.", _KEPT,
           nullable=False),
)  # fmt: skip


def arrow_schema() -> pa.Schema:
    """The Parquet file's schema, built from the dictionary so the two cannot drift."""
    import pyarrow as pa  # imported on first use, so servers that never export stay small

    arrow = {
        "string": pa.string(),
        "int32": pa.int32(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "list<string>": pa.list_(pa.string()),
    }
    return pa.schema([pa.field(c.name, arrow[c.type], nullable=c.nullable) for c in COLUMNS])


def dictionary() -> dict[str, Any]:
    return {
        "rows": "One row per current, non-retracted version of a questionnaire response.",
        "order": "patient_id, then day, then response_id.",
        "formats": {
            "csv": "UTF-8, comma-separated, header row, empty cell = null, booleans true/false.",
            "parquet": "Apache Parquet, zstd-compressed, schema as listed.",
        },
        "columns": [c.describe() for c in COLUMNS],
    }
